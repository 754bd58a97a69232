package http

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// fuzzCatalog is a catalog of a few tenants, one suspended, some with
// custom domains.
type fuzzCatalog struct {
	tenants map[tenant.ID]tenancy.State
}

func newFuzzCatalog() fuzzCatalog {
	c := fuzzCatalog{tenants: map[tenant.ID]tenancy.State{}}
	for _, s := range []tenancy.State{
		{ID: "acme", Domains: []string{"books.acme.example"}},
		{ID: "globex", Domains: []string{"globex.example", "xn--glbex-jua.example"}},
		{ID: "initech", Domains: []string{"books.initech.example"}, Suspended: true},
		{ID: "a1"},
		{ID: "kappa"},
	} {
		c.tenants[s.ID] = s
	}
	return c
}

// Get implements Catalog.
func (c fuzzCatalog) Get(t tenant.ID) (tenancy.State, bool) {
	s, ok := c.tenants[t]
	return s, ok
}

// ByDomain implements Catalog.
func (c fuzzCatalog) ByDomain(host string) (tenant.ID, bool) {
	for _, s := range c.tenants {
		for _, d := range s.Domains {
			if d == host {
				return s.ID, true
			}
		}
	}
	return "", false
}

// List implements Catalog.
func (c fuzzCatalog) List() []tenancy.State {
	out := make([]tenancy.State, 0, len(c.tenants))
	for _, s := range c.tenants {
		out = append(out, s)
	}
	return out
}

// FuzzHostTenants resolves the tenant of requests with arbitrary Host and
// X-Tenant headers through the API's middleware: never a server error; a
// refusal is one of the tenant problems; a tenant resolved is one the
// catalog holds, not suspended, and the one the request names, by its host
// (<slug>.<base domain> or a custom domain) or, when the host names none,
// by X-Tenant, and never a tenant the host and X-Tenant disagree on.
func FuzzHostTenants(f *testing.F) {
	const base = "atrium.test"
	catalog := newFuzzCatalog()
	resolver := HostTenants{BaseDomain: base, Catalog: catalog}
	_, app, log := fuzzAPI(f, Infra{})
	app.Get("/fuzz/tenant", func(c *fiber.Ctx) error {
		t, err := resolver.Resolve(c)
		if err != nil {
			return err
		}
		return WriteJSON(c, fiber.StatusOK, map[string]string{"tenant": string(t), "host": c.Hostname(), "x_tenant": c.Get("X-Tenant")})
	})
	for _, s := range []struct{ host, xTenant string }{
		{"acme.atrium.test", ""},
		{"ACME.Atrium.Test.:8443", "acme"},
		{"acme.atrium.test", "globex"},
		{"books.acme.example", ""},
		{"books.initech.example", "acme"},
		{"initech.atrium.test", ""},
		{"localhost:8080", " globex "},
		{"127.0.0.1", "platform"},
		{"atrium.test", "admin"},
		{".atrium.test", ""},
		{"x.acme.atrium.test", "acme"},
		{"acme.atrium.test.evil.example", "acme"},
		{"evil.example", "acme\x00"},
		{"аcme.atrium.test", "аcme"},
		{"\u212aacme.atrium.test", ""},
		{"acme.atrium.test\x00", "acme"},
		{"[::1]:80", "Acme"},
		{"\xff\xfe", "\xff"},
		{"", ""},
		{strings.Repeat("a", 12<<10) + ".atrium.test", "acme"},
		{"localhost", strings.Repeat("b", 12<<10)},
		{"\u212aappa.atrium.test", "kappa"},
	} {
		f.Add(s.host, s.xTenant)
	}
	f.Fuzz(func(t *testing.T, host, xTenant string) {
		log.Reset()
		r, ok := fuzzDo(t, app, "GET", "/fuzz/tenant", nil, host, "X-Tenant", xTenant)
		if !ok {
			return
		}
		switch code := r.clientError(t, log); code {
		case "":
		case "tenant_required", "tenant_mismatch", "tenant_not_found", "tenant_suspended":
			return
		case "not_found": // fasthttp routes a request whose Host is not a host name nowhere
			return
		default:
			t.Fatalf("host %q, X-Tenant %q: %d %s", host, xTenant, r.status, r.body)
		}
		var got struct {
			Tenant  tenant.ID `json:"tenant"`
			Host    string    `json:"host"`
			XTenant string    `json:"x_tenant"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("answer %s: %v", r.body, err)
		}
		s, ok := catalog.Get(got.Tenant)
		if !ok || s.Suspended {
			t.Fatalf("host %q, X-Tenant %q resolved %q, which the catalog does not serve (held %v, suspended %v)", got.Host, got.XTenant, got.Tenant, ok, s.Suspended)
		}
		header := strings.TrimSpace(got.XTenant)
		switch named, byHost := hostTenant(catalog, got.Host, base); {
		case byHost && named != got.Tenant:
			t.Fatalf("host %q names %q, but %q was resolved", got.Host, named, got.Tenant)
		case byHost && header != "" && header != string(named):
			t.Fatalf("host %q names %q and X-Tenant %q another, but %q was resolved", got.Host, named, got.XTenant, got.Tenant)
		case !byHost && header != string(got.Tenant):
			t.Fatalf("host %q names no tenant and X-Tenant is %q, but %q was resolved", got.Host, got.XTenant, got.Tenant)
		}
	})
}

// hostTenant is the tenant a host names: <slug>.<base> (when the slug is
// a client's) or a custom domain of the catalog, compared after lower
// case and without a port or a final dot.
func hostTenant(c fuzzCatalog, host, base string) (tenant.ID, bool) {
	h := tenancy.NormalizeDomain(host)
	if slug, ok := strings.CutSuffix(h, "."+base); ok {
		id, err := tenant.ParseClient(slug)
		return id, err == nil
	}
	return c.ByDomain(h)
}
