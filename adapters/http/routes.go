package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// mount registers the routes every process serves, then each resource's.
func (a *api) mount(app *fiber.App, resources []Resource) {
	r := Routes{a: a, app: app}
	pub := r.Public()
	pub.Get("/healthz", a.healthz).Doc(Doc{Summary: "The process is up", Answer: map[string]string{}})
	pub.Get("/readyz", a.readyz).Doc(Doc{Summary: "Every dependency answers (503 with the failing checks otherwise)", Answer: map[string]any{}, Unavailable: map[string]any{}})
	pub.Get("/metrics", a.metricsPage).Doc(Doc{Summary: "Prometheus metrics (a bearer token when ATRIUM_METRICS_TOKEN is set)", Media: "text/plain", Bearer: true})
	pub.Get("/openapi.json", a.openAPI).Doc(Doc{Summary: "This description", Media: "application/json", Conditional: true})
	for _, res := range resources {
		res.Mount(r)
	}
	// A request no route matches is left to Fiber: 405 with Allow when the
	// path has routes for other methods, else 404; errorHandler words both.
}

// Resource is a set of routes that mounts itself: a domain's HTTP
// resources, or one of the platform's (identity, tenancy, audit).
type Resource interface {
	Mount(r Routes)
}

// ResourceFunc is a function that mounts routes.
type ResourceFunc func(r Routes)

// Mount implements Resource.
func (f ResourceFunc) Mount(r Routes) { f(r) }

// Routes is where a resource mounts its routes.
type Routes struct {
	a   *api
	app *fiber.App
}

// Tenant is /api/v1: every route behind the resolution of the request's
// tenant, the authentication of its caller (a member of that tenant) and
// the tenant's admission; GET routes wait for X-Read-After and answer
// X-Projection-Position.
func (r Routes) Tenant() Group {
	return Group{a: r.a, prefix: "/api/v1", router: r.app.Group("/api/v1"), guard: r.a.scoped, reads: true, access: accessTenant}
}

// Platform is /admin/v1: every route for platform administrators only.
func (r Routes) Platform() Group {
	return Group{a: r.a, prefix: "/admin/v1", router: r.app.Group("/admin/v1"), guard: r.a.platform, access: accessPlatform}
}

// Public is the server itself, for the few routes anyone may call (sign-in,
// the public branding, the signing keys); they resolve what they need.
func (r Routes) Public() Group { return Group{a: r.a, router: r.app, access: accessPublic} }

// Group registers routes with a guard (tenant and caller, platform
// administrator) run before their handlers, and only for them: a path or
// method no route serves is 404 or 405 whoever asks.
type Group struct {
	a      *api
	prefix string
	router fiber.Router
	guard  fiber.Handler // none for public routes
	reads  bool
	access access
}

// chain is the route's handlers behind the group's guard (and, for reads,
// the wait for X-Read-After).
func (g Group) chain(read bool, hs []fiber.Handler) []fiber.Handler {
	var out []fiber.Handler
	if g.guard != nil {
		out = append(out, g.guard)
	}
	if read && g.reads {
		out = append(out, g.a.readAfter)
	}
	return append(out, hs...)
}

// Get registers a read: GET (and HEAD) behind the guard.
func (g Group) Get(path string, hs ...fiber.Handler) Documented {
	return g.add(fiber.MethodGet, path, hs)
}

// Post registers a POST route behind the guard.
func (g Group) Post(path string, hs ...fiber.Handler) Documented {
	return g.add(fiber.MethodPost, path, hs)
}

// Put registers a PUT route behind the guard.
func (g Group) Put(path string, hs ...fiber.Handler) Documented {
	return g.add(fiber.MethodPut, path, hs)
}

// Delete registers a DELETE route behind the guard.
func (g Group) Delete(path string, hs ...fiber.Handler) Documented {
	return g.add(fiber.MethodDelete, path, hs)
}

// add registers a route behind the guard, and records it for the API
// description.
func (g Group) add(method, path string, hs []fiber.Handler) Documented {
	if method == fiber.MethodGet {
		g.router.Get(path, g.chain(true, hs)...) // and HEAD
	} else {
		g.router.Add(method, path, g.chain(false, hs)...)
	}
	return Documented{g.document(method, path)}
}

// commandPtr is a pointer to a command struct.
type commandPtr[C any] interface {
	*C
	commands.Command
}

// Command mounts a command: the client's options from its headers
// (Idempotency-Key, If-Match), the JSON body decoded strictly into the
// command struct, bind for what the path names, the command run, and the
// answer {"id","version","position"} with its ETag (and for 201 its
// Location, the route's path and the new id).
func Command[C any, P commandPtr[C]](g Group, method, path string, status int, handle commands.Handler[C], bind func(c *fiber.Ctx, cmd P)) Documented {
	return mountCommand[C, P](g, method, path, status, handle, bind, false)
}

// Action is Command for a command that takes no body (or {}).
func Action[C any, P commandPtr[C]](g Group, method, path string, status int, handle commands.Handler[C], bind func(c *fiber.Ctx, cmd P)) Documented {
	return mountCommand[C, P](g, method, path, status, handle, bind, true)
}

func mountCommand[C any, P commandPtr[C]](g Group, method, path string, status int, handle commands.Handler[C], bind func(*fiber.Ctx, P), empty bool) Documented {
	location := ""
	if status == fiber.StatusCreated {
		location = g.prefix + path + "/"
	}
	d := g.add(method, path, []fiber.Handler{func(c *fiber.Ctx) error {
		req, err := Options(c)
		if err != nil {
			return err
		}
		var cmd C
		if err := Decode(c, &cmd, empty); err != nil {
			return err
		}
		P(&cmd).SetOptions(req)
		if bind != nil {
			bind(c, &cmd)
		}
		res, err := handle(c.UserContext(), cmd)
		if err != nil {
			return err
		}
		if location != "" {
			c.Set(fiber.HeaderLocation, location+res.ID)
		}
		return Answer(c, status, res)
	}})
	d.r.command, d.r.action, d.r.body, d.r.status = true, empty, reflect.TypeFor[C](), status
	return d
}

// Options reads the command options a client gives in headers: the
// Idempotency-Key (with a digest of the request it keys) and If-Match.
func Options(c *fiber.Ctx) (commands.Request, error) {
	var r commands.Request
	if key := strings.TrimSpace(c.Get("Idempotency-Key")); key != "" {
		if len(key) > 200 {
			return r, NewProblem(fiber.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key is at most 200 characters")
		}
		body, err := Body(c)
		if err != nil {
			return r, err
		}
		t, _ := tenant.From(c.UserContext())
		r.CommandID = key
		r.RequestHash = requestHash(t, c.Method(), c.Route().Path, routeParams(c), body)
	} else {
		r.CommandID = uuid.NewString()
	}
	if im := strings.TrimSpace(c.Get(fiber.HeaderIfMatch)); im != "" {
		v, err := parseETag(im)
		if err != nil {
			return r, NewProblem(fiber.StatusBadRequest, "invalid_if_match", `If-Match must be a version as given in ETag, such as "3"`)
		}
		r.IfMatch = &v
	}
	return r, nil
}

// routeParams are the values the path gives the route's parameters, in
// their order.
func routeParams(c *fiber.Ctx) string {
	var b strings.Builder
	for _, name := range c.Route().Params {
		b.WriteString(name + "=" + c.Params(name) + "\x00")
	}
	return b.String()
}

// requestHash identifies what a keyed command asked: the hex SHA-256 of the
// tenant, the method, the route (its pattern and the values of its
// parameters) and the
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

// CommandResult describes, in a route's Doc, an answer written by Answer.
var CommandResult = commandAnswer{}

type commandAnswer struct {
	ID       string `json:"id"`
	Version  uint64 `json:"version"`
	Position uint64 `json:"position"`
}

// Answer writes a command's result: {"id","version","position"} with the
// aggregate's version as ETag.
func Answer(c *fiber.Ctx, status int, res commands.Result) error {
	SetETag(c, uint64(res.Version))
	return WriteJSON(c, status, commandAnswer{ID: res.ID, Version: uint64(res.Version), Position: uint64(res.Position)})
}

// SetETag answers an aggregate's version as its ETag.
func SetETag(c *fiber.Ctx, version uint64) { c.Set(fiber.HeaderETag, etag(version)) }

// Limit parses ?limit= (default 50, at most 500).
func Limit(c *fiber.Ctx) (int, error) {
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

// AsOf reads ?as_of=<RFC 3339 time>: ok false when the request has none.
func AsOf(c *fiber.Ctx) (at time.Time, ok bool, err error) {
	raw := c.Query("as_of")
	if raw == "" {
		return time.Time{}, false, nil
	}
	at, err = time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		p := FieldProblem("as_of", "as_of must be an RFC 3339 time")
		return time.Time{}, false, p
	}
	return at, true, nil
}

// Download registers a GET route answering a file from a store, streamed
// as the client reads it, within the tenant's stream slots (4 of one
// tenant, 256 in all, at once); open finds the file once a slot is taken.
// The file is served as an attachment named filename, never cached.
func (g Group) Download(path, filename string, open func(c *fiber.Ctx) (io.ReadCloser, documents.Object, error)) Documented {
	d := g.Get(path, func(c *fiber.Ctx) error {
		t, _ := tenant.From(c.UserContext())
		release, err := g.a.streams.take(t)
		if err != nil {
			return err
		}
		rc, obj, err := open(c)
		if err != nil {
			release()
			return err
		}
		c.Set(fiber.HeaderContentType, obj.ContentType)
		c.Set(fiber.HeaderCacheControl, "private, no-store")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
		c.Status(fiber.StatusOK)
		// fasthttp closes the reader once the body is written, or the
		// connection gone: the slot is freed then.
		c.Context().SetBodyStream(releasingReader{ReadCloser: rc, release: release}, int(obj.Size))
		return nil
	})
	d.Doc(Doc{Summary: "Download " + filename, Media: "*/*"})
	return d
}

// listView is a page of a list as clients get it.
type listView[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// List is a page of items (never null) and the cursor of the next page,
// null on the last one.
func List[T any](items []T, next string) listView[T] {
	if items == nil {
		items = []T{}
	}
	v := listView[T]{Items: items}
	if next != "" {
		v.NextCursor = &next
	}
	return v
}

// emptyBody is a body with nothing in it ({}, or none).
type emptyBody struct{}
