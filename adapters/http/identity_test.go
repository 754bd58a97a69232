package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

type tokens struct{ access, refresh string }

func loginAs(t *testing.T, c caller, email, password string) (tokens, reply) {
	t.Helper()
	r := c.do("POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if r.status != 200 {
		return tokens{}, r
	}
	m := r.json(t)
	if m["token_type"] != "Bearer" || m["expires_in"].(float64) != 900 {
		t.Fatalf("login answer %v", m)
	}
	return tokens{m["access_token"].(string), m["refresh_token"].(string)}, r
}

func bearer(t *testing.T, app caller, tok string) caller {
	c := app
	c.token = tok
	return c
}

func TestLoginRefreshLogout(t *testing.T) {
	app, st := newStackApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	r := admin.do("POST", "/api/v1/users", `{"email":"Fiona@Acme.example","name":"Fiona","password":"correct horse battery","roles":["finance","manager"]}`)
	if r.status != 201 {
		t.Fatalf("add user: %d %s", r.status, r.body)
	}
	u := r.json(t)
	if u["email"] != "fiona@acme.example" || len(u["roles"].([]any)) != 2 {
		t.Fatalf("user %v", u)
	}
	if code := problemCode(t, admin.do("POST", "/api/v1/users", `{"email":"fiona@acme.example","name":"F","password":"correct horse battery","roles":["finance"]}`), 409); code != "member_exists" {
		t.Fatalf("add twice: %s", code)
	}
	for _, tc := range []struct{ body, code string }{
		{`{"email":"x","name":"X","password":"correct horse battery","roles":["finance"]}`, "invalid_email"},
		{`{"email":"x@y.example","name":"X","password":"short","roles":["finance"]}`, "weak_password"},
		{`{"email":"x@y.example","name":"X","password":"correct horse battery","roles":["king"]}`, "invalid_roles"},
	} {
		if code := problemCode(t, admin.do("POST", "/api/v1/users", tc.body), 400); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.body, code, tc.code)
		}
	}
	if code := problemCode(t, as(t, app, "acme", "u-fin", "finance").do("POST", "/api/v1/users", `{}`), 403); code != "forbidden" {
		t.Fatalf("finance adding users: %s", code)
	}

	anon := as(t, app, "acme", "", "")
	// The same answer whether or not the email exists.
	for _, tc := range [][2]string{{"fiona@acme.example", "wrong password!"}, {"nobody@acme.example", "correct horse battery"}} {
		_, r := loginAs(t, anon, tc[0], tc[1])
		if code := problemCode(t, r, 401); code != "invalid_credentials" {
			t.Fatalf("%v: %s", tc, code)
		}
	}
	// Logins are rate-limited per tenant and email: a burst, then 429.
	limited := 0
	for range 8 {
		if _, r := loginAs(t, anon, "target@acme.example", "guessing guessing"); r.status == 429 {
			if problemCode(t, r, 429) != "too_many_attempts" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without its code or Retry-After: %s", r.body)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("8 quick attempts on one email were never limited")
	}
	// A member of acme is not one of globex.
	if _, r := loginAs(t, as(t, app, "globex", "", ""), "fiona@acme.example", "correct horse battery"); r.status != 401 {
		t.Fatalf("login on another tenant: %d", r.status)
	}
	tok, r := loginAs(t, anon, "fiona@acme.example", "correct horse battery")
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	me := bearer(t, anon, tok.access).do("GET", "/api/v1/me", "").json(t)
	if me["email"] != "fiona@acme.example" || me["tenant"] != "acme" || len(me["roles"].([]any)) != 2 {
		t.Fatalf("me %v", me)
	}
	// The token works on commands.
	if _, pos := create(t, bearer(t, anon, tok.access), 1000); pos == "" {
		t.Fatal("no position")
	}

	// Refresh rotates; presenting the old refresh token again revokes the login.
	r = anon.do("POST", "/api/v1/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, tok.refresh))
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	next := tokens{r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string)}
	if next.refresh == tok.refresh {
		t.Fatal("refresh token not rotated")
	}
	if code := problemCode(t, anon.do("POST", "/api/v1/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, tok.refresh)), 401); code != "refresh_token_reused" {
		t.Fatalf("reuse: %s", code)
	}
	for _, tk := range []string{next.access, tok.access} {
		if code := problemCode(t, bearer(t, anon, tk).do("GET", "/api/v1/me", ""), 401); code != "unauthorized" {
			t.Fatalf("token of a revoked login: %s", code)
		}
	}
	if code := problemCode(t, anon.do("POST", "/api/v1/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, next.refresh)), 401); code != "invalid_refresh_token" {
		t.Fatalf("refresh of a revoked login: %s", code)
	}

	// Logout revokes.
	tok, _ = loginAs(t, anon, "fiona@acme.example", "correct horse battery")
	if r := bearer(t, anon, tok.access).do("POST", "/api/v1/auth/logout", ""); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := bearer(t, anon, tok.access).do("GET", "/api/v1/me", ""); r.status != 401 {
		t.Fatalf("after logout: %d", r.status)
	}

	users := admin.do("GET", "/api/v1/users", "").json(t)["items"].([]any)
	if len(users) != 2 || users[0].(map[string]any)["email"] != "admin@acme.example" || users[1].(map[string]any)["email"] != "fiona@acme.example" {
		t.Fatalf("users %v", users)
	}
	if g := as(t, app, "globex", "u-g", "admin").do("GET", "/api/v1/users", "").json(t)["items"].([]any); len(g) != 1 || g[0].(map[string]any)["email"] != "admin@globex.example" {
		t.Fatalf("globex lists acme's members: %v", g)
	}
	_ = st
}

func TestPlatformAdminLoginAndBadTokens(t *testing.T) {
	app, st := newStackApp(t)
	if created, err := st.Identity.EnsurePlatformAdmin(context.Background(), "root@atrium.example", "a long root password"); err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	if created, err := st.Identity.EnsurePlatformAdmin(context.Background(), "root@atrium.example", "ignored the second time"); err != nil || created {
		t.Fatalf("second: created %v, %v", created, err)
	}
	nobody := as(t, app, "", "", "")
	tok, r := loginAs(t, nobody, "root@atrium.example", "a long root password")
	if r.status != 200 {
		t.Fatalf("platform login: %d %s", r.status, r.body)
	}
	root := bearer(t, nobody, tok.access)
	if r := root.do("GET", "/admin/v1/tenants", ""); r.status != 200 {
		t.Fatalf("admin list: %d %s", r.status, r.body)
	}
	// A platform token names no tenant: on a tenant route it is refused.
	c := root
	c.tenant = "acme"
	if code := problemCode(t, c.do("GET", "/api/v1/invoices", ""), 403); code != "tenant_mismatch" {
		t.Fatalf("platform token on a tenant: %s", code)
	}
	parts := strings.Split(tok.access, ".")
	for name, bad := range map[string]string{
		"garbage":  "abc",
		"tampered": parts[0] + "." + parts[1] + "x." + parts[2],
		"no sig":   parts[0] + "." + parts[1] + ".",
	} {
		if code := problemCode(t, bearer(t, nobody, bad).do("GET", "/admin/v1/tenants", ""), 401); code != "unauthorized" {
			t.Errorf("%s token: %s", name, code)
		}
	}
	jwks := nobody.do("GET", "/.well-known/jwks.json", "")
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks.body, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["alg"] != "EdDSA" {
		t.Fatalf("jwks %s %v", jwks.body, err)
	}
}

// TestTokenOfAnotherTenant presents an acme token with globex named (by
// header and by host) on every tenant-scoped route: 403 tenant_mismatch
// everywhere; the first attempts of the login are in both tenants'
// security logs, the rest are counted, not written.
func TestTokenOfAnotherTenant(t *testing.T) {
	app, st := newStackApp(t)
	acmeTok := mint(t, app, "acme", "u-a", []user.Role{user.Admin, user.Finance, user.Manager, user.Auditor})
	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/me", ""},
		{"GET", "/api/v1/users", ""},
		{"POST", "/api/v1/users", `{}`},
		{"PUT", "/api/v1/branding", `{}`},
		{"GET", "/api/v1/settings", ""},
		{"PUT", "/api/v1/settings", `{}`},
		{"POST", "/api/v1/invoices", `{}`},
		{"GET", "/api/v1/invoices", ""},
		{"GET", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", ""},
		{"GET", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/history", ""},
		{"POST", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/issue", ""},
		{"POST", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/approve", ""},
		{"POST", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/reject", `{}`},
		{"POST", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/payments", `{}`},
		{"POST", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/cancel", `{}`},
		{"GET", "/api/v1/collections/aging", ""},
		{"GET", "/api/v1/audit/events", ""},
		{"POST", "/api/v1/expenses", `{}`},
		{"GET", "/api/v1/expenses", ""},
		{"GET", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", ""},
		{"PUT", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/receipt", "%PDF-1"},
		{"GET", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/receipt", ""},
		{"POST", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/submit", ""},
		{"POST", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/approve", ""},
		{"POST", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/reject", `{}`},
		{"POST", "/api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/reimburse", ""},
		{"POST", "/api/v1/objectives", `{}`},
		{"GET", "/api/v1/objectives", ""},
		{"POST", "/api/v1/objectives/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/submit", ""},
		{"POST", "/api/v1/objectives/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/validate", ""},
		{"POST", "/api/v1/objectives/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/reject", `{}`},
	}
	viaHeader := caller{t: t, app: app, tenant: "globex", token: acmeTok}
	viaHost := caller{t: t, app: app, token: acmeTok}
	for _, rt := range routes {
		if code := problemCode(t, viaHeader.do(rt.method, rt.path, rt.body), 403); code != "tenant_mismatch" {
			t.Errorf("%s %s (X-Tenant): %s", rt.method, rt.path, code)
		}
		if code := problemCode(t, viaHost.do(rt.method, rt.path, rt.body, "Host", "globex.atrium.test"), 403); code != "tenant_mismatch" {
			t.Errorf("%s %s (Host): %s", rt.method, rt.path, code)
		}
	}
	for _, tn := range []tenant.ID{"acme", "globex"} {
		n, _ := streams.NewName(tn, "security", "log")
		recs, err := st.Store.ReadStream(tenant.With(context.Background(), tn), n)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[0].Type != "security.cross_tenant_attempt.v1" {
			t.Fatalf("%s security log has %d events, want the 3 a login may write a minute", tn, len(recs))
		}
	}
	want := fmt.Sprintf(`atrium_security_events_suppressed_total{tenant="globex"} %d`, 2*len(routes)-3)
	if m := (caller{t: t, app: app}).do("GET", "/metrics", ""); !strings.Contains(string(m.body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}
