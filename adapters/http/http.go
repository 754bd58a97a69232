// Package http is the HTTP API on Fiber: it resolves the tenant and the
// caller, puts them in the request's context, and hands commands and reads
// to the layers below. Every error is application/problem+json with a
// stable code.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Config configures the API.
type Config struct {
	// BodyLimit caps JSON request bodies; default 1 MiB.
	BodyLimit int
	// AuthBodyLimit caps the bodies of the sign-in routes, which anyone may
	// call; default 16 KiB.
	AuthBodyLimit int
	// UploadLimit caps document uploads (receipts); default 50 MiB. A
	// tenant's own limit, lower, is checked by the command.
	UploadLimit int
	// TrustedProxies are the addresses (IPs or CIDR ranges) of reverse
	// proxies whose X-Forwarded-For names the client; empty trusts none,
	// and the client is the connection's peer.
	TrustedProxies []string
	// Admission bounds each tenant's requests; see Admission.
	Admission Admission
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// ReadAfterMax bounds how long a read waits for X-Read-After; default 5s.
	ReadAfterMax time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.BodyLimit == 0 {
		c.BodyLimit = 1 << 20
	}
	if c.AuthBodyLimit == 0 {
		c.AuthBodyLimit = 16 << 10
	}
	if c.UploadLimit == 0 {
		c.UploadLimit = 50 << 20
	}
	if c.ReadAfterMax == 0 {
		c.ReadAfterMax = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every value out of range, after defaults are set.
func (c Config) Validate() error {
	var errs []error
	if c.BodyLimit < 0 || c.AuthBodyLimit < 0 {
		errs = append(errs, errors.New("http: BodyLimit and AuthBodyLimit must not be negative"))
	}
	if c.UploadLimit < 0 {
		errs = append(errs, errors.New("http: UploadLimit is negative"))
	}
	if c.ReadAfterMax < 0 {
		errs = append(errs, errors.New("http: ReadAfterMax is negative"))
	}
	return errors.Join(errs...)
}

// TenantResolver finds the request's tenant. Resolve returns
// tenant.ErrNoTenant when the request names none, and a *Problem for a
// tenant that cannot be served.
type TenantResolver interface {
	Resolve(c *fiber.Ctx) (tenant.ID, error)
}

// Authenticator finds the request's caller in the resolved tenant. It
// returns user.ErrNoPrincipal when the request carries no valid credential.
type Authenticator interface {
	Authenticate(ctx context.Context, c *fiber.Ctx) (user.Principal, error)
}

// Progress is how far a tenant's projections have come.
type Progress interface {
	WaitFor(ctx context.Context, pos streams.Position) error
	Position(ctx context.Context) (streams.Position, error)
}

// ReadyCheck is one dependency /readyz asks. Checks run at once, each
// with its own budget.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// Timeout is the check's budget; default DefaultReadyTimeout.
	Timeout time.Duration
}

// SecurityLog records a token of one tenant presented on another, in both
// tenants' security logs.
type SecurityLog interface {
	RecordCrossTenant(ctx context.Context, a identity.CrossTenantAttempt) error
}

// Infra is what every route relies on, whichever resource mounts it.
type Infra struct {
	Tenants  TenantResolver
	Auth     Authenticator
	Progress Progress
	Catalog  Catalog
	Security SecurityLog
	Logger   *slog.Logger
	Metrics  *prometheus.Registry
	// Ready are the dependencies /readyz asks.
	Ready []ReadyCheck
}

// Validate reports every missing part.
func (d Infra) Validate() error {
	var errs []error
	check := func(ok bool, name string) {
		if !ok {
			errs = append(errs, errors.New("http: missing "+name))
		}
	}
	check(d.Tenants != nil, "Tenants")
	check(d.Auth != nil, "Auth")
	check(d.Progress != nil, "Progress")
	check(d.Catalog != nil, "Catalog")
	check(d.Security != nil, "Security")
	check(d.Logger != nil, "Logger")
	check(d.Metrics != nil, "Metrics")
	return errors.Join(errs...)
}

type api struct {
	cfg      Config
	deps     Infra
	metrics  *metrics
	logins   *loginLimits
	security *keyedLimiter
	admit    *admitter
	streams  *streamSlots
	ready    readiness

	// The routes mounted, as /openapi.json describes them (openapi.go).
	docs     []*routeDoc
	spec     []byte
	specETag string
}

// New returns the Fiber app serving the API: the middleware every request
// goes through, the operations routes, and the routes of resources.
func New(cfg Config, deps Infra, resources ...Resource) (*fiber.App, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), deps.Validate()); err != nil {
		return nil, err
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	adm, err := newAdmitter(cfg.Admission, deps.Catalog)
	if err != nil {
		return nil, err
	}
	a := &api{cfg: cfg, deps: deps, metrics: m, logins: newLoginLimits(),
		// At most 3 cross-tenant attempts of one login a minute reach the
		// security logs; the rest are counted.
		security: newKeyedLimiter(rate.Every(20*time.Second), 3, 10_000),
		admit:    adm,
		// 4 long responses of one tenant at once, 256 in all.
		streams: newStreamSlots(4, 256)}
	app := a.app()
	a.mount(app, resources)
	if err := a.describe(); err != nil {
		return nil, err
	}
	return app, nil
}

// app is the Fiber app with the middleware every request goes through and
// no route yet.
func (a *api) app() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName: "atrium",
		// Bodies are streamed and read by readBody under each route's limit.
		StreamRequestBody: true,
		BodyLimit:         max(a.cfg.BodyLimit, a.cfg.UploadLimit, a.cfg.AuthBodyLimit),
		// Strings taken from a request (parameters, headers, the method) are
		// copies: fasthttp reuses its buffers for the next request on the
		// connection, and some outlive the handler (metric labels, map keys,
		// context values).
		Immutable: true,
		// Forwarded headers (X-Forwarded-For, X-Forwarded-Host) count only
		// from the proxies named; with none named, from nobody.
		EnableTrustedProxyCheck: true,
		// A multipart body would be parsed whole, to memory and disk,
		// before any route's limit applies; no route takes one.
		DisablePreParseMultipartForm: true,
		TrustedProxies:               a.cfg.TrustedProxies,
		ProxyHeader:                  proxyHeader(a.cfg.TrustedProxies),
		DisableStartupMessage:        true,
		ErrorHandler:                 a.errorHandler,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 60 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		ReadBufferSize:               16 << 10,
		JSONEncoder:                  jsonMarshal,
	})
	// The inner recover turns a handler's panic into an error observe logs
	// and counts like any other; the outer one guards observe itself.
	app.Use(a.recover, a.observe, a.recover, a.limitBody)
	return app
}

func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

type ctxKey int

// ticketKey holds a request's admission ticket in Fiber's locals and in
// its context.
type ticketKey struct{}

// Waiting runs wait, which needs no CPU (a projection catching up), with
// the request's turn of its tenant given up meanwhile, as X-Read-After
// does, so that the tenant's projections, which take turns with its
// requests, can run; the turn is taken again after. Outside a request it
// just runs wait.
func Waiting(ctx context.Context, wait func() error) error {
	tk, _ := ctx.Value(ticketKey{}).(*ticket)
	if tk == nil {
		return wait()
	}
	tk.pause()
	err := wait()
	if rerr := tk.resume(ctx); err == nil {
		err = rerr
	}
	return err
}

const (
	keyCorrelation ctxKey = iota
)

// panicked is a recovered panic, answered 500 and logged with its stack.
type panicked struct {
	value any
	stack []byte
}

func (p *panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// recover turns a panic below it into an error: a 500 problem that shows
// nothing of it, logged once by errorHandler.
func (a *api) recover(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicked{value: r, stack: debug.Stack()}
		}
	}()
	return c.Next()
}

// observe sets the correlation id, logs one line per request and counts it.
func (a *api) observe(c *fiber.Ctx) error {
	start := time.Now()
	corr := c.Get("X-Correlation-ID")
	if corr == "" || len(corr) > 128 {
		corr = uuid.NewString()
	}
	c.Set("X-Correlation-ID", corr)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	ctx := context.WithValue(c.UserContext(), keyCorrelation, corr)
	cause := c.Get("X-Causation-ID")
	if len(cause) > 128 {
		// Carried into the metadata of every event the request writes:
		// bounded like the correlation id, dropped beyond.
		cause = ""
	}
	ctx = streams.WithCorrelation(ctx, corr, cause)
	c.SetUserContext(ctx)

	err := c.Next()
	if err != nil {
		if herr := a.errorHandler(c, err); herr != nil {
			a.deps.Logger.Error("writing error response", "err", herr)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if c.Route().Method == "USE" { // only the middleware ran: no route matched
		route = "unmatched"
	}
	tn, _ := tenant.From(c.UserContext())
	a.metrics.observe(route, c.Method(), status, string(tn), time.Since(start))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	a.deps.Logger.Log(c.UserContext(), level, "request",
		"tenant", string(tn), "correlation_id", corr, "method", c.Method(), "path", c.Path(),
		"status", status, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// errorHandler answers every error as a problem document.
func (a *api) errorHandler(c *fiber.Ctx, err error) error {
	p, known := problemOf(err)
	if !known {
		tn, _ := tenant.From(c.UserContext())
		corr, _ := c.UserContext().Value(keyCorrelation).(string)
		attrs := []any{"err", err, "tenant", string(tn), "correlation_id", corr, "method", c.Method(), "path", c.Path()}
		var pe *panicked
		if errors.As(err, &pe) {
			attrs = append(attrs, "stack", string(pe.stack))
		}
		a.deps.Logger.Error("request failed", attrs...)
	}
	return writeProblem(c, p)
}

// scoped resolves the tenant, admits the request under the tenant's
// limits, and finds the caller, for tenant-scoped routes.
//
// The caller is authenticated before the tenant's budget is spent, so
// anonymous requests cannot use up a tenant's rate; and the body is read
// (within the route's limit) before the tenant's turn is taken, so a slow
// body holds its own connection, not the tenant's turn.
func (a *api) scoped(c *fiber.Ctx) error {
	t, err := a.deps.Tenants.Resolve(c)
	if err != nil {
		return err
	}
	ctx := tenant.With(c.UserContext(), t)
	c.SetUserContext(ctx)
	p, err := a.authenticate(ctx, c)
	if err != nil {
		return err
	}
	// A command of a read-only tenant, or over its plan, is refused before
	// its body is read.
	counted := func() {}
	if isCommand(c) {
		if err := a.writable(t); err != nil {
			return err
		}
		if counted, err = a.admit.command(ctx, t); err != nil {
			a.metrics.refused.WithLabelValues(string(t), "quota_exceeded").Inc()
			return err
		}
	}
	if _, err := Body(c); err != nil {
		return err
	}
	tk, err := a.admit.admit(ctx, t)
	if err != nil {
		var pr *Problem
		if errors.As(err, &pr) {
			a.metrics.refused.WithLabelValues(string(t), pr.Code).Inc()
		}
		return err
	}
	defer tk.end()
	a.admit.served(t)
	c.Locals(ticketKey{}, tk)
	c.SetUserContext(user.With(context.WithValue(ctx, ticketKey{}, tk), p))
	err = c.Next()
	if err == nil && c.Response().StatusCode() < 400 {
		counted() // done: a refused one did nothing the plan counts
	}
	return err
}

// writable refuses the commands of a tenant being offboarded (403
// tenant_read_only): its reads are answered, it writes nothing more.
func (a *api) writable(t tenant.ID) error {
	if s, _ := a.deps.Catalog.Get(t); s.ReadOnly {
		return NewProblem(fiber.StatusForbidden, "tenant_read_only", "this tenant is being offboarded: it is read-only")
	}
	return nil
}

// isCommand reports whether a tenant-scoped request is a command a plan
// counts: a write (signing in and out are not tenant-scoped routes).
func isCommand(c *fiber.Ctx) bool {
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
		return true
	}
	return false
}

// authenticate finds the caller; a token of another tenant is recorded in
// both tenants' security logs, within the rate allowed per login, and
// refused with 403 tenant_mismatch.
func (a *api) authenticate(ctx context.Context, c *fiber.Ctx) (user.Principal, error) {
	p, err := a.deps.Auth.Authenticate(ctx, c)
	var cross *CrossTenant
	if !errors.As(err, &cross) {
		return p, err
	}
	if a.security.allow(cross.SessionID) {
		if rerr := a.deps.Security.RecordCrossTenant(ctx, cross.attempt(c)); rerr != nil {
			a.deps.Logger.Error("recording a cross-tenant attempt", "err", rerr, "tenant", string(cross.RequestTenant))
		}
	} else {
		a.metrics.securitySuppressed.WithLabelValues(string(cross.RequestTenant)).Inc()
	}
	return user.Principal{}, NewProblem(fiber.StatusForbidden, "tenant_mismatch", "this token was issued for another tenant")
}

// readAfter makes a read wait for X-Read-After and answers the projection
// position it read at.
func (a *api) readAfter(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if h := c.Get("X-Read-After"); h != "" {
		pos, err := parsePosition(h)
		if err != nil {
			return NewProblem(fiber.StatusBadRequest, "invalid_read_after", "X-Read-After must be a position, a non-negative integer")
		}
		// Waiting needs no CPU: the tenant's slot is free meanwhile.
		tk, _ := c.Locals(ticketKey{}).(*ticket)
		if tk != nil {
			tk.pause()
		}
		wctx, cancel := context.WithTimeout(ctx, a.cfg.ReadAfterMax)
		err = a.deps.Progress.WaitFor(wctx, pos)
		cancel()
		if err != nil {
			return err
		}
		if tk != nil {
			if err := tk.resume(ctx); err != nil {
				return err
			}
		}
	}
	if pos, err := a.deps.Progress.Position(ctx); err == nil {
		c.Set("X-Projection-Position", formatUint(uint64(pos)))
	}
	return c.Next()
}
