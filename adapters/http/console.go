package http

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections/erpsync"
)

// The operator console at /console: pages rendered on the server
// (html/template) for platform administrators, on the platform's own host
// only. It lists every tenant with its state, projection, poisoned events
// and ERP sync; creates, suspends and resumes tenants; and rebuilds a read
// model while showing how far it has come. The pages run no script: every
// action is a form, and a page with a rebuild under way reloads itself.
//
// A sign-in keeps the platform administrator's access token in a cookie
// (HttpOnly, SameSite=Strict, Secure, path /console) that the
// same authentication as the API checks on every request: a revoked login
// or an expired token ends the console's session. Forms are accepted from
// the console's own pages only (net/http's CrossOriginProtection, on
// Sec-Fetch-Site and Origin), and every value from them is escaped by
// html/template where a page shows it.

//go:embed console/*.html
var consoleFiles embed.FS

var consolePages = template.Must(template.New("console").Funcs(template.FuncMap{
	"percent": func(part, whole uint64) uint64 {
		if whole == 0 || part >= whole {
			return 100
		}
		return part * 100 / whole
	},
	"join":  strings.Join,
	"words": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).ParseFS(consoleFiles, "console/*.html"))

const (
	// consoleCookie holds the signed-in administrator's access token.
	consoleCookie = "atrium_console"
	// consolePageSize is how many tenants one page lists.
	consolePageSize = 50
	// consoleReads bounds the read databases one page asks at once (for
	// each tenant's ERP counts), and consoleBudget how long they may take.
	consoleReads  = 8
	consoleBudget = 3 * time.Second
)

// consoleSecurity lets the pages do nothing but show themselves and post
// their forms to the console: no script, no frame, styles inline, and no
// image: a tenant's logo is where the tenant says, and an operator's
// browser is not sent there (it would tell the tenant who looks, and
// from where); the console names its address instead.
const consoleSecurity = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Console is the operator console's resource.
type Console struct {
	// Hosts are the host names the console answers on, besides loopback
	// (localhost, 127.0.0.1, ::1): the platform's base domain and the
	// operators' names for it. On any other host it is 404, so a page of
	// another site that a DNS name rebound to this server cannot be one
	// with the console.
	Hosts    []string
	Identity *identitycmd.Handler
	// Tenancy gives the catalog, the tenancy commands, health, progress
	// and rebuilds, as the admin API uses them.
	Tenancy Tenancy
	// ERP gives each tenant's ERP counts; nil: not shown.
	ERP *erpsync.Outbox
	// Usage gives a tenant's usage (Usage.Days); nil: not shown.
	Usage func(ctx context.Context, from, to string) ([]usage.Record, error)
}

type consoleRoutes struct {
	*api
	res     Console
	hosts   map[string]bool
	origins *http.CrossOriginProtection
	erp     *erpCache
}

// Mount implements Resource.
func (res Console) Mount(r Routes) {
	a := consoleRoutes{api: r.a, res: res, origins: http.NewCrossOriginProtection(),
		hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}, erp: newERPCache(res.ERP)}
	for _, h := range res.Hosts {
		a.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	pub := r.Public()
	page := func(summary string, form ...string) Doc {
		return Doc{Summary: summary, Media: fiber.MIMETextHTMLCharsetUTF8, Page: true, Form: form}
	}
	pub.Get("/console", a.guard, a.dashboard).Doc(page("The operator console: every tenant's state, projection, poisoned events and ERP sync, and a form to create one (a sign-in form without a session)"))
	pub.Post("/console/login", a.guard, a.login).Doc(page("The console's sign-in form (a platform administrator's email and password); sets the console's session cookie", "email", "password"))
	pub.Post("/console/logout", a.guard, a.logout).Doc(page("End the console's session", []string{}...))
	pub.Post("/console/tenants", a.guard, a.create).Doc(page("The console's form creating a tenant",
		"slug", "name", "domains", "logo_url", "primary_color", "accent_color", "admin_email", "admin_name", "admin_password"))
	pub.Get("/console/tenants/:slug", a.guard, a.tenantPage).Doc(page("One tenant in the console: its read models with a rebuild's progress, ERP sync, limits, suspend and resume"))
	pub.Post("/console/tenants/:slug/suspend", a.guard, a.suspend).Doc(page("The console's form suspending a tenant", "reason"))
	pub.Post("/console/tenants/:slug/resume", a.guard, a.resume).Doc(page("The console's form resuming a tenant", []string{}...))
	pub.Post("/console/tenants/:slug/projections/:name/rebuild", a.guard, a.rebuild).Doc(page("The console's form rebuilding a read model", []string{}...))
}

// consoleSession is whether the request has a signed-in platform
// administrator, and why not when it had a cookie.
type consoleSession struct {
	admin  bool
	ended  bool // a cookie that no longer signs in
	denied bool // a valid login that is not a platform administrator's
}

type consoleSessionKey struct{}

// guard serves the console on the platform's own hosts only, refuses
// forms from other origins, and finds the administrator the cookie signs
// in.
func (a consoleRoutes) guard(c *fiber.Ctx) error {
	if _, err := a.deps.Tenants.Resolve(c); !errors.Is(err, tenant.ErrNoTenant) || !a.hosts[requestHost(c)] {
		return NewProblem(fiber.StatusNotFound, "not_found", "the console is served on the platform's own host, not a tenant's")
	}
	c.Set(fiber.HeaderContentSecurityPolicy, consoleSecurity)
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	if c.Method() == fiber.MethodPost {
		req := &http.Request{Method: http.MethodPost, Host: string(c.Request().Host()), Header: http.Header{}}
		for _, h := range []string{"Sec-Fetch-Site", fiber.HeaderOrigin} {
			if v := c.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		if err := a.origins.Check(req); err != nil {
			return NewProblem(fiber.StatusForbidden, "cross_origin_form", "the console accepts forms from its own pages only")
		}
	}
	var s consoleSession
	if tok := c.Cookies(consoleCookie); tok != "" {
		// The cookie carries the bearer token the API would take, and is
		// checked by the same authentication.
		c.Request().Header.Set(fiber.HeaderAuthorization, "Bearer "+tok)
		p, err := a.authenticate(c.UserContext(), c)
		var pr *Problem
		switch {
		case err == nil && p.Has(user.PlatformAdmin):
			s.admin = true
			c.SetUserContext(user.With(c.UserContext(), p))
		case err == nil:
			s.denied = true
		case errors.Is(err, user.ErrNoPrincipal), errors.As(err, &pr):
			s.ended = true
		default:
			return err
		}
		if !s.admin {
			clearConsoleCookie(c)
		}
	}
	c.Locals(consoleSessionKey{}, s)
	return c.Next()
}

// requestHost is the request's host name, without its port, in lower
// case: the Host header's (the console trusts no forwarded host).
func requestHost(c *fiber.Ctx) string {
	h := string(c.Request().Host())
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
}

func session(c *fiber.Ctx) consoleSession {
	s, _ := c.Locals(consoleSessionKey{}).(consoleSession)
	return s
}

func clearConsoleCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: consoleCookie, Value: "", Path: "/console", HTTPOnly: true,
		Secure: true, SameSite: fiber.CookieSameSiteStrictMode, Expires: time.Unix(1, 0)})
}

// consoleView is what a console page shows.
type consoleView struct {
	SignedIn bool
	Notice   string
	Done     string // the action the notice tells of
	Error    *Problem
	// Refresh, in seconds, reloads the page (a rebuild under way).
	Refresh int
	// Email is the sign-in form's, kept when it failed.
	Email string

	// The tenants page.
	Summary consoleSummary
	Tenants []consoleTenant
	Page    int
	Pages   int
	Prev    int        // the previous page, 0 when none
	Next    int        // the next page, 0 when none
	Form    url.Values // the create form's values (never the password), kept when it failed

	// A tenant's page.
	Tenant     *consoleTenant
	Head       uint64
	ReadModels []readModelView
	Rebuilding bool
	// Usage is the tenant's this month, day by day; UsageNote says why it
	// is missing, when it is.
	Usage     []usage.Record
	UsageNote string
}

type consoleSummary struct {
	Tenants, Suspended, Lagging, Poisoned int
	// Health says why the figures are missing, when they are.
	Health string
}

// consoleTenant is one tenant as the console shows it.
type consoleTenant struct {
	Slug, Name      string
	Suspended       bool
	Since           time.Time
	Domains         []string
	Logo            string
	Primary, Accent string
	Limits          tenancy.Limits
	Plan            string
	Known           bool   // its projection is known here
	Projected       string // here, elsewhere
	Subscribed      bool
	Position, Head  uint64
	Lag             uint64
	CaughtUp        time.Time
	Poisoned        uint64
	ERP             *erpsync.Status
	ERPNote         string
	Initial         string
}

func (a consoleRoutes) render(c *fiber.Ctx, status int, name string, v *consoleView) error {
	var buf bytes.Buffer
	if err := consolePages.ExecuteTemplate(&buf, name, v); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

// form is a console form's fields: a URL-encoded body, within the sign-in
// routes' small body limit.
func form(c *fiber.Ctx) (url.Values, error) {
	body, err := Body(c)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return url.Values{}, nil // a form of buttons only
	}
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationForm) {
		return nil, NewProblem(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "console forms are application/x-www-form-urlencoded")
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, NewProblem(fiber.StatusBadRequest, "invalid_form", "the form could not be read")
	}
	return v, nil
}

// failed renders a page with the problem an action met; an error that is
// no problem (a store down) goes to the error handler as on every route.
func (a consoleRoutes) failed(c *fiber.Ctx, err error, name string, v *consoleView) error {
	p, known := problemOf(err)
	if !known {
		return err
	}
	v.Error = p
	if p.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	return a.render(c, p.Status, name, v)
}

// signedOut answers a request without a session: the sign-in form on the
// console's front page, a redirect to it from anywhere else.
func (a consoleRoutes) signedOut(c *fiber.Ctx) error {
	s := session(c)
	if c.Method() == fiber.MethodGet && c.Path() == "/console" {
		v := &consoleView{}
		switch {
		case s.denied:
			v.Error = NewProblem(fiber.StatusForbidden, "forbidden", "the console is for platform administrators only")
		case s.ended:
			v.Notice = "Your session has ended: sign in again."
		}
		return a.render(c, fiber.StatusOK, "login", v)
	}
	return c.Redirect("/console", fiber.StatusSeeOther)
}

func (a consoleRoutes) login(c *fiber.Ctx) error {
	f, err := form(c)
	if err != nil {
		return a.failed(c, err, "login", &consoleView{})
	}
	email := f.Get("email")
	v := &consoleView{Email: email}
	pair, err := a.signIn(c.UserContext(), a.res.Identity, email, f.Get("password"), c.IP())
	if err != nil {
		return a.failed(c, err, "login", v)
	}
	// Secure even over plain HTTP: browsers keep it for http://localhost,
	// and a TLS proxy in front may leave the request looking like HTTP.
	c.Cookie(&fiber.Cookie{Name: consoleCookie, Value: pair.AccessToken, Path: "/console", HTTPOnly: true,
		Secure: true, SameSite: fiber.CookieSameSiteStrictMode, MaxAge: int(pair.ExpiresIn.Seconds())})
	return c.Redirect("/console", fiber.StatusSeeOther)
}

func (a consoleRoutes) logout(c *fiber.Ctx) error {
	if session(c).admin {
		if err := a.res.Identity.Logout(c.UserContext()); err != nil {
			return err
		}
		clearConsoleCookie(c)
	}
	return c.Redirect("/console", fiber.StatusSeeOther)
}

// notices are what a page says after an action redirected to it: fixed
// texts, never one from the query.
var notices = map[string]string{
	"created":    "The tenant is created and open.",
	"suspended":  "The tenant is suspended: its requests are refused until it is resumed.",
	"resumed":    "The tenant is served again.",
	"rebuilding": "The read model is being rebuilt from the tenant's events.",
}

// notice says what the action the query names did.
func (v *consoleView) notice(c *fiber.Ctx) {
	if n, ok := notices[c.Query("done")]; ok {
		v.Notice, v.Done = n, c.Query("done")
	}
}

func (a consoleRoutes) dashboard(c *fiber.Ctx) error {
	if !session(c).admin {
		return a.signedOut(c)
	}
	v, err := a.tenants(c)
	if err != nil {
		return err
	}
	return a.render(c, fiber.StatusOK, "tenants", v)
}

// tenants is the tenants page: one page of the catalog, in slug order,
// with what this instance knows of each projection and each one's ERP
// counts, and the figures over every tenant.
func (a consoleRoutes) tenants(c *fiber.Ctx) (*consoleView, error) {
	ctx := c.UserContext()
	v := &consoleView{SignedIn: true}
	v.notice(c)
	all := slices.Clone(a.res.Tenancy.Catalog.List())
	slices.SortFunc(all, func(x, y tenancy.State) int { return strings.Compare(string(x.ID), string(y.ID)) })
	health := map[tenant.ID]TenantHealth{}
	if a.res.Tenancy.Health == nil {
		v.Summary.Health = "projection health is not available here"
	} else if hs, err := a.res.Tenancy.Health(ctx); err != nil {
		v.Summary.Health = "projection health could not be read: " + err.Error()
	} else {
		for _, h := range hs {
			health[h.Tenant] = h
		}
	}
	v.Summary.Tenants = len(all)
	for _, s := range all {
		h := health[s.ID]
		if s.Suspended {
			v.Summary.Suspended++
		}
		if h.Here && h.Head > h.Position {
			v.Summary.Lagging++
		}
		if h.Poisoned > 0 {
			v.Summary.Poisoned++
		}
	}
	v.Pages = max(1, (len(all)+consolePageSize-1)/consolePageSize)
	v.Page = min(max(1, c.QueryInt("page", 1)), v.Pages)
	if v.Page > 1 {
		v.Prev = v.Page - 1
	}
	if v.Page < v.Pages {
		v.Next = v.Page + 1
	}
	from := (v.Page - 1) * consolePageSize
	page := all[from:min(from+consolePageSize, len(all))]
	v.Tenants = make([]consoleTenant, len(page))
	for i, s := range page {
		h, ok := health[s.ID]
		v.Tenants[i] = viewConsoleTenant(s, h, ok)
	}
	a.erpCounts(ctx, v.Tenants)
	return v, nil
}

func viewConsoleTenant(s tenancy.State, h TenantHealth, known bool) consoleTenant {
	b := s.Branding
	t := consoleTenant{Slug: string(s.ID), Name: s.Name, Suspended: s.Suspended, Since: s.Since, Domains: s.Domains,
		Logo: b.LogoURL, Primary: orDefault(b.PrimaryColor, "#33415c"), Accent: orDefault(b.AccentColor, "#c9a227"),
		Limits: s.Limits, Plan: s.Plan, Known: known, Projected: "elsewhere", Poisoned: h.Poisoned}
	if t.Name == "" {
		t.Name = t.Slug
	}
	t.Initial = strings.ToUpper(string([]rune(t.Name)[:1]))
	if h.Here {
		t.Projected, t.Subscribed, t.Position, t.Head, t.CaughtUp = "here", h.Subscribed, uint64(h.Position), uint64(h.Head), h.CaughtUp
		if h.Head > h.Position {
			t.Lag = uint64(h.Head - h.Position)
		}
	}
	return t
}

// erpCounts reads the ERP counts of the tenants projected here from their
// read databases (through a cache of a few seconds), a few at once and
// within a budget: a tenant whose database does not answer in time is
// shown without them. A tenant projected by another instance is left to
// it: reading its database here would open a pool for it.
func (a consoleRoutes) erpCounts(ctx context.Context, ts []consoleTenant) {
	if a.erp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, consoleBudget)
	defer cancel()
	sem := make(chan struct{}, consoleReads)
	var wg sync.WaitGroup
	for i := range ts {
		if ts[i].Projected != "here" {
			ts[i].ERPNote = "shown by the instance projecting it"
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				ts[i].ERPNote = "not read in time"
				return
			}
			s, err := a.erp.get(ctx, tenant.ID(ts[i].Slug))
			if err != nil {
				ts[i].ERPNote = "unavailable"
				return
			}
			ts[i].ERP = &s
		})
	}
	wg.Wait()
}

// erpCache keeps each tenant's ERP counts for erpFresh: a page reloading
// itself during a rebuild, or several operators, read a tenant's database
// once in that time.
type erpCache struct {
	outbox  *erpsync.Outbox
	mu      sync.Mutex
	entries map[tenant.ID]erpEntry
}

type erpEntry struct {
	status erpsync.Status
	at     time.Time
}

const (
	erpFresh = 5 * time.Second
	// erpCached bounds the cache: past it, what is stale is dropped, and
	// if nothing is, everything.
	erpCached = 10_000
)

func newERPCache(o *erpsync.Outbox) *erpCache {
	if o == nil {
		return nil
	}
	return &erpCache{outbox: o, entries: map[tenant.ID]erpEntry{}}
}

func (e *erpCache) get(ctx context.Context, t tenant.ID) (erpsync.Status, error) {
	e.mu.Lock()
	ent, ok := e.entries[t]
	e.mu.Unlock()
	if ok && time.Since(ent.at) < erpFresh {
		return ent.status, nil
	}
	s, err := e.outbox.Status(tenant.With(ctx, t))
	if err != nil {
		return s, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.entries) >= erpCached {
		for k, v := range e.entries {
			if time.Since(v.at) >= erpFresh {
				delete(e.entries, k)
			}
		}
		if len(e.entries) >= erpCached {
			clear(e.entries)
		}
	}
	e.entries[t] = erpEntry{status: s, at: time.Now()}
	return s, nil
}

// slug is the tenant a console path names.
func (a consoleRoutes) slug(c *fiber.Ctx) (tenancy.State, error) {
	t, err := tenant.ParseClient(c.Params("slug"))
	if err == nil {
		if s, ok := a.res.Tenancy.Catalog.Get(t); ok {
			return s, nil
		}
	}
	return tenancy.State{}, NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
}

func (a consoleRoutes) tenantPage(c *fiber.Ctx) error {
	if !session(c).admin {
		return a.signedOut(c)
	}
	v, err := a.tenant(c)
	if err != nil {
		return a.failed(c, err, "missing", &consoleView{SignedIn: true})
	}
	v.notice(c)
	return a.render(c, fiber.StatusOK, "tenant", v)
}

// tenant is a tenant's page: its projection and read models, its ERP
// counts; it reloads itself while a read model is behind. What cannot be
// read (health, progress: NATS in trouble) is said on the page, which
// still offers to suspend or resume the tenant.
func (a consoleRoutes) tenant(c *fiber.Ctx) (*consoleView, error) {
	s, err := a.slug(c)
	if err != nil {
		return nil, err
	}
	ctx := c.UserContext()
	v := &consoleView{SignedIn: true}
	var h TenantHealth
	known := false
	if a.res.Tenancy.Health != nil {
		hs, err := a.res.Tenancy.Health(ctx)
		if err != nil {
			a.deps.Logger.Error("console: reading health", "err", err)
			v.Summary.Health = "Projection health could not be read (the logs say why)."
		}
		for _, x := range hs {
			if x.Tenant == s.ID {
				h, known = x, true
			}
		}
	}
	t := viewConsoleTenant(s, h, known)
	if a.res.Tenancy.Progress != nil {
		head, cps, err := a.res.Tenancy.Progress(tenant.With(ctx, s.ID))
		if err != nil {
			a.deps.Logger.Error("console: reading progress", "tenant", string(s.ID), "err", err)
			v.Summary.Health = "The read models' progress could not be read (the logs say why)."
		}
		v.Head = uint64(head)
		v.ReadModels = readModelViews(head, cps)
		v.Rebuilding = slices.ContainsFunc(v.ReadModels, func(m readModelView) bool { return m.Behind > 0 })
	}
	if v.Rebuilding {
		v.Refresh = 2
	}
	if a.res.Usage != nil {
		from, to, _ := usageRange("", "", a.cfg.Now())
		if v.Usage, err = a.res.Usage(tenant.With(ctx, s.ID), from, to); err != nil {
			a.deps.Logger.Error("console: reading usage", "tenant", string(s.ID), "err", err)
			v.UsageNote = "The tenant's usage could not be read (the logs say why)."
		}
	}
	ts := []consoleTenant{t}
	a.erpCounts(ctx, ts)
	v.Tenant = &ts[0]
	return v, nil
}

// create provisions a tenant from the form: its first admin when an email
// is given. A form sent again finds the tenant there (409 tenant_exists).
func (a consoleRoutes) create(c *fiber.Ctx) error {
	if !session(c).admin {
		return a.signedOut(c)
	}
	f, err := form(c)
	if err == nil {
		err = a.provision(c, f)
	}
	if err == nil {
		return c.Redirect("/console/tenants/"+url.PathEscape(strings.TrimSpace(f.Get("slug")))+"?done=created", fiber.StatusSeeOther)
	}
	v, verr := a.tenants(c)
	if verr != nil {
		return verr
	}
	if f != nil {
		f.Del("admin_password")
		v.Form = f
	}
	return a.failed(c, err, "tenants", v)
}

func (a consoleRoutes) provision(c *fiber.Ctx, f url.Values) error {
	req := commands.Request{CommandID: uuid.NewString()}
	name := strings.TrimSpace(f.Get("name"))
	cmd := tenancycmd.ProvisionTenant{Request: req, Slug: strings.TrimSpace(f.Get("slug")), Name: name,
		Domains: strings.FieldsFunc(f.Get("domains"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }),
		Branding: tenancy.Branding{Name: name, LogoURL: strings.TrimSpace(f.Get("logo_url")),
			PrimaryColor: strings.TrimSpace(f.Get("primary_color")), AccentColor: strings.TrimSpace(f.Get("accent_color"))}}
	if email := strings.TrimSpace(f.Get("admin_email")); email != "" {
		cmd.Admin = tenancycmd.FirstAdmin{Email: email, Name: strings.TrimSpace(f.Get("admin_name")), Password: f.Get("admin_password")}
	}
	_, err := a.res.Tenancy.Handler.Provision(c.UserContext(), cmd)
	return err
}

// act runs one action on the tenant the path names, then shows the
// tenant's page with its notice, or with the action's problem.
func (a consoleRoutes) act(c *fiber.Ctx, done string, do func(ctx context.Context, s tenancy.State, f url.Values) error) error {
	if !session(c).admin {
		return a.signedOut(c)
	}
	s, err := a.slug(c)
	if err != nil {
		return a.failed(c, err, "missing", &consoleView{SignedIn: true})
	}
	f, err := form(c)
	if err == nil {
		err = do(c.UserContext(), s, f)
	}
	if err == nil {
		return c.Redirect("/console/tenants/"+string(s.ID)+"?done="+done, fiber.StatusSeeOther)
	}
	v, verr := a.tenant(c)
	if verr != nil {
		return verr
	}
	return a.failed(c, err, "tenant", v)
}

func (a consoleRoutes) suspend(c *fiber.Ctx) error {
	return a.act(c, "suspended", func(ctx context.Context, s tenancy.State, f url.Values) error {
		_, err := a.res.Tenancy.Handler.Suspend(ctx, commands.Request{CommandID: uuid.NewString()}, string(s.ID), strings.TrimSpace(f.Get("reason")))
		return err
	})
}

func (a consoleRoutes) resume(c *fiber.Ctx) error {
	return a.act(c, "resumed", func(ctx context.Context, s tenancy.State, _ url.Values) error {
		_, err := a.res.Tenancy.Handler.Resume(ctx, commands.Request{CommandID: uuid.NewString()}, string(s.ID))
		return err
	})
}

func (a consoleRoutes) rebuild(c *fiber.Ctx) error {
	return a.act(c, "rebuilding", func(ctx context.Context, s tenancy.State, _ url.Values) error {
		if a.res.Tenancy.Rebuild == nil {
			return NewProblem(fiber.StatusNotImplemented, "not_supported", "rebuilds are not available here")
		}
		return rebuildRefused(a.res.Tenancy.Rebuild(tenant.With(ctx, s.ID), c.Params("name")))
	})
}
