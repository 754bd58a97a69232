package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

func (a *api) routes(app *fiber.App) {
	app.Get("/healthz", a.healthz)
	app.Get("/readyz", a.readyz)
	app.Get("/metrics", a.metricsPage)

	app.Get("/.well-known/jwks.json", a.jwks)
	app.Get("/api/v1/branding", a.branding)
	app.Post("/api/v1/auth/login", a.login)
	app.Post("/api/v1/auth/refresh", a.refresh)
	app.Post("/api/v1/auth/logout", a.authenticated, a.logout)

	admin := guarded{app.Group("/admin/v1"), a.platform}
	admin.Post("/tenants", a.provisionTenant)
	admin.Get("/tenants", a.listTenants)
	admin.Post("/tenants/:slug/suspend", a.suspendTenant)
	admin.Post("/tenants/:slug/resume", a.resumeTenant)
	admin.Put("/tenants/:slug/domains", a.changeDomains)
	admin.Put("/tenants/:slug/limits", a.changeLimits)
	admin.Post("/tenants/:slug/projections/:name/rebuild", a.rebuildReadModel)

	v1 := guarded{app.Group("/api/v1"), a.scoped}
	v1.Put("/branding", a.putBranding)
	v1.Get("/settings", a.getSettings)
	v1.Put("/settings", a.putSettings)
	reads := func(h fiber.Handler) []fiber.Handler { return []fiber.Handler{a.readAfter, h} }

	v1.Get("/me", a.me)
	v1.Post("/users", a.addUser)
	v1.Get("/users", reads(a.listUsers)...)

	a.invoiceRoutes(v1)
	a.expenseRoutes(v1, reads)
	a.objectiveRoutes(v1, reads)
	v1.Get("/invoices", reads(a.listInvoices)...)
	v1.Get("/invoices/:id", reads(a.getInvoice)...)
	v1.Get("/invoices/:id/history", reads(a.invoiceHistory)...)
	v1.Get("/collections/aging", reads(a.agingReport)...)
	v1.Get("/collections/clients", reads(a.clientRisk)...)
	v1.Get("/audit/events", reads(a.auditEvents)...)
	// A request no route matches is left to Fiber: 405 with Allow when the
	// path has routes for other methods, else 404; errorHandler words both.
}

// guarded registers its routes with a guard (tenant and caller, platform
// administrator) run before their handlers, and only for them: a path or
// method no route serves is 404 or 405 whoever asks.
type guarded struct {
	fiber.Router
	guard fiber.Handler
}

func (g guarded) handlers(hs []fiber.Handler) []fiber.Handler {
	return append([]fiber.Handler{g.guard}, hs...)
}

// Get registers a GET (and HEAD) route behind the guard.
func (g guarded) Get(path string, hs ...fiber.Handler) fiber.Router {
	return g.Router.Get(path, g.handlers(hs)...)
}

// Post registers a POST route behind the guard.
func (g guarded) Post(path string, hs ...fiber.Handler) fiber.Router {
	return g.Router.Post(path, g.handlers(hs)...)
}

// Put registers a PUT route behind the guard.
func (g guarded) Put(path string, hs ...fiber.Handler) fiber.Router {
	return g.Router.Put(path, g.handlers(hs)...)
}

// Patch registers a PATCH route behind the guard.
func (g guarded) Patch(path string, hs ...fiber.Handler) fiber.Router {
	return g.Router.Patch(path, g.handlers(hs)...)
}

// Delete registers a DELETE route behind the guard.
func (g guarded) Delete(path string, hs ...fiber.Handler) fiber.Router {
	return g.Router.Delete(path, g.handlers(hs)...)
}

// request reads the command options a client gives in headers.
func request(c *fiber.Ctx) (commands.Request, error) {
	var r commands.Request
	if key := strings.TrimSpace(c.Get("Idempotency-Key")); key != "" {
		if len(key) > 200 {
			return r, problem(fiber.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key is at most 200 characters")
		}
		body, err := readBody(c)
		if err != nil {
			return r, err
		}
		t, _ := tenant.From(c.UserContext())
		r.CommandID = key
		r.RequestHash = requestHash(t, c.Method(), c.Route().Path, c.Params("id"), body)
	} else {
		r.CommandID = uuid.NewString()
	}
	if im := strings.TrimSpace(c.Get(fiber.HeaderIfMatch)); im != "" {
		v, err := parseETag(im)
		if err != nil {
			return r, problem(fiber.StatusBadRequest, "invalid_if_match", `If-Match must be a version as given in ETag, such as "3"`)
		}
		r.IfMatch = &v
	}
	return r, nil
}

// requestHash identifies what a keyed command asked: the hex SHA-256 of the
// tenant, the method, the route (its pattern and the id it names) and the
// body in canonical form, so a retry that sends the same JSON with other
// spacing or key order is the same request. A body that is not JSON is
// hashed as sent (the route refuses it anyway).
func requestHash(t tenant.ID, method, route, id string, body []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(t), []byte(method), []byte(route), []byte(id), canonicalJSON(body)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON re-encodes one JSON value with object keys sorted and no
// spacing, numbers kept as written; an empty body stays empty.
func canonicalJSON(body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

func parseETag(s string) (streams.Version, error) {
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	n, err := strconv.ParseUint(s, 10, 64)
	return streams.Version(n), err
}

func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

type commandAnswer struct {
	ID       string `json:"id"`
	Version  uint64 `json:"version"`
	Position uint64 `json:"position"`
}

// answer writes a command's result, counting it.
func (a *api) answer(c *fiber.Ctx, name string, status int, res commands.Result, err error) error {
	t, _ := tenant.From(c.UserContext())
	if err != nil {
		p, _ := problemOf(err)
		a.metrics.commands.WithLabelValues(string(t), name, p.Code).Inc()
		return err
	}
	a.metrics.commands.WithLabelValues(string(t), name, "ok").Inc()
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return writeJSON(c, status, commandAnswer{ID: res.ID, Version: uint64(res.Version), Position: uint64(res.Position)})
}

// limit parses ?limit= (default 50, at most 500).
func limit(c *fiber.Ctx) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 500 {
		return 0, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
			Code: "invalid_request", Field: "limit", Detail: "limit must be an integer from 1 to 500"}
	}
	return n, nil
}
