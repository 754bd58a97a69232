// Package erp holds the commands of a tenant's ERP connection: pointing it
// at a webhook or a staging table (its secret sealed before the event that
// records its fingerprint), stopping it, and sending messages again.
package erp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/erp"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Vault keeps the tenants' ERP secrets, sealed with the operator's key.
type Vault interface {
	// Fingerprint names secret for tenant t without revealing it (a keyed
	// digest): the same secret has the same fingerprint.
	Fingerprint(t tenant.ID, secret []byte) string
	// Store seals secret and keeps it under t and its fingerprint.
	Store(ctx context.Context, t tenant.ID, fingerprint string, secret []byte) error
}

// Targets decides whether a host may be sent to.
type Targets interface {
	// Check refuses (with an error wrapping ErrTargetForbidden) a host that
	// resolves to an address the operator did not allow (loopback,
	// link-local, private) and a host that does not resolve.
	Check(ctx context.Context, host string) error
}

// ErrTargetForbidden is the error of a target on an address that may not
// be sent to.
var ErrTargetForbidden = errors.New("erp: target forbidden")

// Messages answers what the outbox holds.
type Messages interface {
	// Failed reports whether the ctx tenant's message id exists, and
	// whether it was parked as failed.
	Failed(ctx context.Context, id string) (exists, failed bool, err error)
}

// Inbound handles one type of call a tenant's ERP makes ("payment.received"):
// ctx carries the tenant and the ERP as the caller, decode reads the call's
// JSON body strictly into v. A call made again (the same reference) must
// write nothing new.
type Inbound func(ctx context.Context, decode func(v any) error) (commands.Result, error)

// Handler runs the ERP connection's commands.
type Handler struct {
	x        *commands.Executor
	vault    Vault
	targets  Targets
	messages Messages
	kinds    []string
	now      func() time.Time
}

// NewHandler returns the ERP commands on x. kinds are the event kinds
// (stream categories) a connection may choose.
func NewHandler(x *commands.Executor, vault Vault, targets Targets, messages Messages, kinds []string, now func() time.Time) *Handler {
	return &Handler{x: x, vault: vault, targets: targets, messages: messages, kinds: kinds, now: now}
}

// Events are the connection's events, for the registry.
func Events() []domain.Event {
	return []domain.Event{erp.ConnectionSet{}, erp.ConnectionRemoved{}, erp.ResyncRequested{}, erp.MessageRetryRequested{}}
}

// Kinds are the event kinds a connection may choose.
func (h *Handler) Kinds() []string { return h.kinds }

// SetConnection points the tenant's ERP connection at a webhook (URL and
// Secret) or a staging table (DSN and Table). It is the request body of
// PUT /api/v1/erp/connection.
type SetConnection struct {
	commands.Request
	Kind   string `json:"kind"`
	URL    string `json:"url"`
	Secret string `json:"secret"`
	DSN    string `json:"dsn"`
	Table  string `json:"table"`
	// Events are the kinds of events sent ("invoice", "expense", ...).
	Events   []string          `json:"events"`
	Mappings map[string]string `json:"mappings"`
}

// Sealed is what is kept sealed for a connection: the webhook secret
// (which also signs the ERP's inbound calls) and, for a staging table, the
// DSN with its password.
type Sealed struct {
	Secret string `json:"secret,omitempty"`
	DSN    string `json:"dsn,omitempty"`
}

// ParseSecret decodes a Standard Webhooks secret: "whsec_" and the base64
// of 24 to 64 bytes.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, domain.Invalidf("secret", "invalid_secret", "secret must be whsec_ followed by the base64 of 24 to 64 bytes")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, domain.Invalidf("secret", "invalid_secret", "secret must be whsec_ followed by the base64 of 24 to 64 bytes")
	}
	return key, nil
}

// Stream is the ctx tenant's connection stream.
func Stream(ctx context.Context) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	return streams.NewName(t, erp.Category, erp.ConnectionID)
}

func admin(ctx context.Context) (tenant.ID, user.Principal, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", user.Principal{}, err
	}
	p, err := user.From(ctx)
	if err != nil {
		return "", p, err
	}
	if !p.Has(user.Admin) {
		return "", p, domain.Forbiddenf("only the tenant's admins manage its ERP connection")
	}
	return t, p, nil
}

// Set points the ctx tenant's connection at c's target. Everything is
// checked before the secret is sealed and kept, so a refused request keeps
// nothing; the event records the secret's fingerprint, never the secret.
func (h *Handler) Set(ctx context.Context, c SetConnection) (commands.Result, error) {
	t, p, err := admin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	set, sealed, host, err := h.parse(c)
	if err != nil {
		return commands.Result{}, err
	}
	set.By, set.At = string(p.ID), h.now()
	stream, err := Stream(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	history, recs, err := h.x.Load(ctx, stream)
	if err != nil {
		return commands.Result{}, err
	}
	if res, done, err := h.x.Precheck(ctx, c.Request, stream, recs); done || err != nil {
		return res, err
	}
	blob, err := sealedJSON(sealed)
	if err != nil {
		return commands.Result{}, err
	}
	set.SecretFingerprint = h.vault.Fingerprint(t, blob)
	if _, err := erp.DecideSet(erp.Fold(history), set); err != nil {
		return commands.Result{}, err
	}
	if err := h.targets.Check(ctx, host); err != nil {
		if errors.Is(err, ErrTargetForbidden) {
			field := "url"
			if set.Kind != erp.Webhook {
				field = "dsn"
			}
			return commands.Result{}, domain.Invalidf(field, "erp_target_forbidden", "%s resolves to an address ERP messages may not be sent to", host)
		}
		return commands.Result{}, err
	}
	if err := h.vault.Store(ctx, t, set.SecretFingerprint, blob); err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(ctx, commands.Call{Name: "set_erp_connection", Request: c.Request, Stream: stream,
		Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
			evs, err := erp.DecideSet(erp.Fold(history), set)
			return commands.Decision{Events: evs}, err
		}})
}

// parse validates c's fields that are not the decision's: the kind's
// target, its secret, and the host it names.
func (h *Handler) parse(c SetConnection) (erp.Set, Sealed, string, error) {
	set := erp.Set{Kind: erp.Kind(c.Kind), Table: c.Table, Events: c.Events, Kinds: h.kinds, Mappings: c.Mappings}
	switch set.Kind {
	case erp.Webhook:
		if c.DSN != "" {
			return set, Sealed{}, "", domain.Invalidf("dsn", "invalid_request", "a webhook has no dsn")
		}
		if _, err := ParseSecret(c.Secret); err != nil {
			return set, Sealed{}, "", err
		}
		set.Target = c.URL
		u, err := url.Parse(c.URL)
		if err != nil {
			return set, Sealed{}, "", domain.Invalidf("url", "invalid_url", "url must be an http(s) URL with a host and no credentials")
		}
		return set, Sealed{Secret: c.Secret}, u.Hostname(), nil
	case erp.SQLServer, erp.Postgres:
		if c.URL != "" {
			return set, Sealed{}, "", domain.Invalidf("url", "invalid_request", "a staging table has a dsn, not a url")
		}
		if c.Secret != "" {
			if _, err := ParseSecret(c.Secret); err != nil {
				return set, Sealed{}, "", err
			}
		}
		target, host, err := Redact(set.Kind, c.DSN)
		if err != nil {
			return set, Sealed{}, "", err
		}
		set.Target = target
		return set, Sealed{Secret: c.Secret, DSN: c.DSN}, host, nil
	}
	return set, Sealed{}, "", domain.Invalidf("kind", "invalid_kind", "kind must be webhook, sqlserver or postgres")
}

// Redact checks a DSN of kind (a URL: sqlserver://user:password@host:port?database=name,
// postgres://user:password@host:port/name) and returns it without its
// password, and its host.
func Redact(kind erp.Kind, dsn string) (target, host string, err error) {
	bad := domain.Invalidf("dsn", "invalid_dsn", "dsn must be a URL: %s", map[erp.Kind]string{
		erp.SQLServer: "sqlserver://user:password@host:1433?database=name",
		erp.Postgres:  "postgres://user:password@host:5432/name",
	}[kind])
	if len(dsn) > 2000 {
		return "", "", bad
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User == nil || u.User.Username() == "" || u.Fragment != "" {
		return "", "", bad
	}
	switch kind {
	case erp.SQLServer:
		if u.Scheme != "sqlserver" || u.Query().Get("database") == "" {
			return "", "", bad
		}
	case erp.Postgres:
		if (u.Scheme != "postgres" && u.Scheme != "postgresql") || strings.Trim(u.Path, "/") == "" {
			return "", "", bad
		}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "", bad
		}
	}
	r := *u
	r.User = url.User(u.User.Username())
	q := r.Query()
	for k := range q {
		if l := strings.ToLower(k); strings.Contains(l, "password") || l == "pwd" || strings.Contains(l, "secret") || strings.Contains(l, "token") {
			q.Del(k)
		}
	}
	r.RawQuery = q.Encode()
	return r.String(), u.Hostname(), nil
}

// Remove stops sending the ctx tenant's messages; what is pending stays.
func (h *Handler) Remove(ctx context.Context, req commands.Request) (commands.Result, error) {
	_, p, err := admin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.decide(ctx, "remove_erp_connection", req, func(c erp.Connection) ([]domain.Event, error) {
		return erp.DecideRemove(c, string(p.ID), h.now())
	})
}

// Resync is the body of POST /api/v1/erp/resync.
type Resync struct {
	commands.Request
	FromPosition *int64 `json:"from_position"`
}

// Resync sends again the messages of the events from a position on.
func (h *Handler) Resync(ctx context.Context, c Resync) (commands.Result, error) {
	_, p, err := admin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	if c.FromPosition == nil || *c.FromPosition < 0 {
		return commands.Result{}, domain.Invalidf("from_position", "invalid_request", "from_position must be a position, 0 or more")
	}
	from := uint64(*c.FromPosition)
	return h.decide(ctx, "resync_erp", c.Request, func(conn erp.Connection) ([]domain.Event, error) {
		return erp.DecideResync(conn, from, string(p.ID), h.now())
	})
}

// Retry queues again a message parked as failed.
func (h *Handler) Retry(ctx context.Context, req commands.Request, id string) (commands.Result, error) {
	_, p, err := admin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	if !commands.ValidID(id) {
		return commands.Result{}, domain.NotFoundf("erp_message_not_found", "no ERP message %q", id)
	}
	exists, failed, err := h.messages.Failed(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	if !exists {
		return commands.Result{}, domain.NotFoundf("erp_message_not_found", "no ERP message %q", id)
	}
	return h.decide(ctx, "retry_erp_message", req, func(c erp.Connection) ([]domain.Event, error) {
		return erp.DecideRetry(c, id, failed, string(p.ID), h.now())
	})
}

func (h *Handler) decide(ctx context.Context, name string, req commands.Request, decide func(erp.Connection) ([]domain.Event, error)) (commands.Result, error) {
	stream, err := Stream(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(ctx, commands.Call{Name: name, Request: req, Stream: stream,
		Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
			evs, err := decide(erp.Fold(history))
			return commands.Decision{Events: evs}, err
		}})
}

// Connection is the ctx tenant's connection as its events leave it.
func (h *Handler) Connection(ctx context.Context) (erp.Connection, streams.Version, error) {
	stream, err := Stream(ctx)
	if err != nil {
		return erp.Connection{}, 0, err
	}
	history, recs, err := h.x.Load(ctx, stream)
	if err != nil {
		return erp.Connection{}, 0, err
	}
	return erp.Fold(history), streams.Version(len(recs)), nil
}

func sealedJSON(s Sealed) ([]byte, error) { return json.Marshal(s) }
