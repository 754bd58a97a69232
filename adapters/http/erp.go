package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/erp"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections/erpsync"
)

// ERP is the tenant's ERP connection resource (CONTRACT.md section 7):
// its connection, its delivery status and messages, and the calls its ERP
// makes back (payments), signed with the connection's secret.
type ERP struct {
	Handler *erpcmd.Handler
	Outbox  *erpsync.Outbox
	// Verify checks the signature of a call from the ctx tenant's ERP
	// (Standard Webhooks headers over body) with its connection's secret;
	// any error is answered 401 invalid_signature.
	Verify func(ctx context.Context, headers http.Header, body []byte) error
	// Inbound are the handlers of the calls an ERP makes, by their "type"
	// ("payment.received"); each runs with the ERP as the caller.
	Inbound map[string]erpcmd.Inbound
	// Quota, when set, says how long the ctx tenant's ERP messages wait
	// for its plan's messages a day to have room (0: room now), and that
	// limit: a call back past it is answered 429 quota_exceeded. A call
	// with room holds the tenant's count until it calls release, once it
	// is done (release is never nil when err is nil).
	Quota func(ctx context.Context) (wait time.Duration, limit int64, release func(), err error)
}

// ERPCaller is the principal the ERP's calls run as: it records what the
// finance team would.
var ERPCaller = user.Principal{ID: usage.ERPCaller, Roles: []user.Role{user.Finance}}

type erpRoutes struct {
	*api
	res ERP
	// fails counts the calls with a bad signature per address: past a few,
	// an address waits before its next call is even checked.
	fails *keyedLimiter
}

// Mount implements Resource.
func (res ERP) Mount(r Routes) {
	a := erpRoutes{api: r.a, res: res, fails: newKeyedLimiter(rate.Every(5*time.Second), 10, 100_000)}
	v1 := r.Tenant()
	v1.Get("/erp/connection", a.connection).Doc(Doc{Summary: "The tenant's ERP connection, its secret never shown (admin)", Answer: connectionView{}})
	v1.Put("/erp/connection", a.set).Doc(Doc{Summary: "Connect the tenant's ERP (admin)", Body: erpcmd.SetConnection{}, Answer: connectionView{}, Options: true})
	v1.Delete("/erp/connection", a.remove).Doc(Doc{Summary: "Stop sending to the ERP (admin)", Answer: connectionView{}})
	v1.Get("/erp/status", a.status).Doc(Doc{Summary: "How far the ERP sync is (admin, finance)", Answer: erpsync.Status{}})
	v1.Get("/erp/messages", a.messages).Doc(Doc{Summary: "The ERP messages, newest first (admin, finance)", Answer: List([]erpsync.Row(nil), ""), Query: []string{"status", "limit", "cursor"}})
	v1.Post("/erp/messages/:id/retry", a.retry).Doc(Doc{Summary: "Send a parked message again (admin)", Answer: CommandResult, Status: 202})
	v1.Post("/erp/resync", a.resync).Doc(Doc{Summary: "Send every message again, in order (admin)", Body: erpcmd.Resync{}, Answer: CommandResult, Status: 202, Options: true})
	r.Public().Post("/api/v1/erp/inbound", a.inbound).Doc(Doc{Summary: "A call from the tenant's ERP, signed with the connection's secret (Standard Webhooks): {\"type\": \"payment.received\", ...}", Body: map[string]any{}, Answer: CommandResult})
}

// connectionView is the connection as the API shows it: never its secret
// nor its DSN's password.
type connectionView struct {
	Kind      *string           `json:"kind"`
	URL       string            `json:"url,omitempty"`
	Target    string            `json:"target,omitempty"`
	Table     string            `json:"table,omitempty"`
	Events    []string          `json:"events"`
	Mappings  map[string]string `json:"mappings,omitempty"`
	SecretSet bool              `json:"secret_set"`
	Status    string            `json:"status"`
}

func viewOfConnection(c erp.Connection) connectionView {
	v := connectionView{Events: c.Events, Status: string(c.Status), SecretSet: c.SecretFingerprint != "", Mappings: c.Mappings}
	if v.Events == nil {
		v.Events = []string{}
	}
	if c.Kind != "" {
		k := string(c.Kind)
		v.Kind = &k
	}
	if c.Kind == erp.Webhook {
		v.URL = c.Target
	} else {
		v.Target, v.Table = c.Target, c.Table
	}
	return v
}

func requireRole(ctx context.Context, roles ...user.Role) error {
	p, err := user.From(ctx)
	if err != nil {
		return err
	}
	if !p.Has(roles...) {
		return domain.Forbiddenf("your roles do not allow this")
	}
	return nil
}

func (a erpRoutes) connection(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := requireRole(ctx, user.Admin); err != nil {
		return err
	}
	conn, v, err := a.res.Handler.Connection(ctx)
	if err != nil {
		return err
	}
	SetETag(c, uint64(v))
	return WriteJSON(c, fiber.StatusOK, viewOfConnection(conn))
}

func (a erpRoutes) set(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var cmd erpcmd.SetConnection
	if err := Decode(c, &cmd, false); err != nil {
		return err
	}
	cmd.SetOptions(req)
	ctx := c.UserContext()
	if _, err := a.res.Handler.Set(ctx, cmd); err != nil {
		return err
	}
	conn, v, err := a.res.Handler.Connection(ctx)
	if err != nil {
		return err
	}
	SetETag(c, uint64(v))
	return WriteJSON(c, fiber.StatusOK, viewOfConnection(conn))
}

func (a erpRoutes) remove(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := a.res.Handler.Remove(ctx, req); err != nil {
		return err
	}
	conn, v, err := a.res.Handler.Connection(ctx)
	if err != nil {
		return err
	}
	SetETag(c, uint64(v))
	return WriteJSON(c, fiber.StatusOK, viewOfConnection(conn))
}

func (a erpRoutes) status(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := requireRole(ctx, user.Admin, user.Finance); err != nil {
		return err
	}
	s, err := a.res.Outbox.Status(ctx)
	if err != nil {
		return err
	}
	return WriteJSON(c, fiber.StatusOK, s)
}

func (a erpRoutes) messages(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := requireRole(ctx, user.Admin, user.Finance); err != nil {
		return err
	}
	n, err := Limit(c)
	if err != nil {
		return err
	}
	rows, next, err := a.res.Outbox.List(ctx, erpsync.Filter{Status: c.Query("status"), Limit: n, Cursor: c.Query("cursor")})
	if err != nil {
		return err
	}
	return WriteJSON(c, fiber.StatusOK, List(rows, next))
}

func (a erpRoutes) retry(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	if err := Decode(c, &emptyBody{}, true); err != nil {
		return err
	}
	res, err := a.res.Handler.Retry(c.UserContext(), req, c.Params("id"))
	if err != nil {
		return err
	}
	return Answer(c, fiber.StatusAccepted, res)
}

func (a erpRoutes) resync(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var cmd erpcmd.Resync
	if err := Decode(c, &cmd, false); err != nil {
		return err
	}
	cmd.SetOptions(req)
	res, err := a.res.Handler.Resync(c.UserContext(), cmd)
	if err != nil {
		return err
	}
	return Answer(c, fiber.StatusAccepted, res)
}

func invalidSignature() *Problem {
	return NewProblem(fiber.StatusUnauthorized, "invalid_signature", "the call is not signed with the tenant's ERP secret, or its webhook-timestamp is more than 5 minutes away")
}

// inbound takes a call from the tenant's ERP: no token, but signed with the
// connection's secret. The signature is checked before anything else is
// done with the body, and the call is admitted in the tenant's budget only
// then; an address that keeps sending bad signatures waits.
func (a erpRoutes) inbound(c *fiber.Ctx) (err error) {
	t, err := a.deps.Tenants.Resolve(c)
	if errors.Is(err, tenant.ErrNoTenant) {
		return NewProblem(fiber.StatusBadRequest, "tenant_required", "name the tenant by its host or X-Tenant")
	}
	if err != nil {
		return err
	}
	address := c.IP()
	if wait := a.fails.wait(address); wait > 0 {
		p := NewProblem(fiber.StatusTooManyRequests, "too_many_attempts", "too many calls with a bad signature; wait and try again")
		p.RetryAfter = retryAfter(wait)
		return p
	}
	body, err := Body(c)
	if err != nil {
		return err
	}
	ctx := tenant.With(c.UserContext(), t)
	headers := http.Header{}
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if v := c.Get(h); v != "" {
			headers.Set(h, v)
		}
	}
	if err := a.res.Verify(ctx, headers, body); err != nil {
		a.fails.spend(address)
		return invalidSignature()
	}
	if err := a.writable(t); err != nil {
		return err
	}
	if a.res.Quota != nil {
		wait, limit, release, err := a.res.Quota(ctx)
		if err != nil {
			return err
		}
		defer release()
		// The tenant may have been made read-only while the call waited
		// for its turn.
		if err := a.writable(t); err != nil {
			return err
		}
		if wait > 0 {
			p := NewProblem(fiber.StatusTooManyRequests, "quota_exceeded", fmt.Sprintf("this tenant's plan allows %d ERP messages a day (UTC); retry after the time given", limit))
			p.Field = "erp_messages_per_day"
			p.RetryAfter = retryAfter(wait)
			a.metrics.refused.WithLabelValues(string(t), "quota_exceeded").Inc()
			return p
		}
	}
	// An ERP's call back is a command of the tenant's, counted by its plan.
	counted, err := a.admit.command(ctx, t)
	if err != nil {
		a.metrics.refused.WithLabelValues(string(t), "quota_exceeded").Inc()
		return err
	}
	tk, err := a.admit.admit(ctx, t)
	if err != nil {
		return err
	}
	defer tk.end()
	defer func() {
		if err == nil && c.Response().StatusCode() < 400 {
			counted() // done: a refused one did nothing the plan counts
		}
	}()
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return FieldProblem("", "the body must be a JSON object with a type")
	}
	handle, ok := a.res.Inbound[head.Type]
	if !ok {
		kinds := make([]string, 0, len(a.res.Inbound))
		for k := range a.res.Inbound {
			kinds = append(kinds, k)
		}
		return FieldProblem("type", "type must be one of: "+strings.Join(kinds, ", "))
	}
	res, err := handle(user.With(ctx, ERPCaller), func(v any) error { return DecodeBytes(body, v) })
	if err != nil {
		return err
	}
	return Answer(c, fiber.StatusOK, res)
}
