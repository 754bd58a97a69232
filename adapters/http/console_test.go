package http_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/commands"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// consoleAs is a browser of the console holding the cookie of a login
// with token (none: signed out).
type consoleAs struct {
	caller
	cookie string
}

// consoleHost is the stack's base domain, where the console answers.
const consoleHost = "atrium.test"

func (b consoleAs) get(path string, hdr ...string) reply {
	b.t.Helper()
	h := []string{"Host", consoleHost}
	if b.cookie != "" {
		h = append(h, "Cookie", "atrium_console="+b.cookie)
	}
	return b.do("GET", path, "", append(h, hdr...)...)
}

// post sends a form as a browser does from the console's own page.
func (b consoleAs) post(path string, form url.Values, hdr ...string) reply {
	b.t.Helper()
	h := []string{"Host", consoleHost, "Content-Type", "application/x-www-form-urlencoded", "Origin", "http://" + consoleHost, "Sec-Fetch-Site", "same-origin"}
	if b.cookie != "" {
		h = append(h, "Cookie", "atrium_console="+b.cookie)
	}
	return b.do("POST", path, form.Encode(), append(h, hdr...)...)
}

func TestConsoleSignInAndPages(t *testing.T) {
	app, st := newStackApp(t)
	anon := consoleAs{caller: as(t, app, "", "", "")}

	// Signed out: the sign-in form, and every other page sends there.
	r := anon.get("/console")
	if r.status != 200 || !strings.Contains(string(r.body), `name="password"`) || strings.Contains(string(r.body), `id="tenants"`) {
		t.Fatalf("signed out /console: %d %s", r.status, shown(r.body))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "img-src") {
		t.Fatalf("CSP %q", csp)
	}
	if r := anon.get("/console/tenants/acme"); r.status != 303 || r.header.Get("Location") != "/console" {
		t.Fatalf("signed out tenant page: %d %v", r.status, r.header)
	}

	// A wrong password is the form again, with the problem's code; the
	// platform's administrator signs in and gets the cookie.
	if _, err := st.Identity.EnsurePlatformAdmin(t.Context(), "root@platform.example", "the platform password"); err != nil {
		t.Fatal(err)
	}
	r = anon.post("/console/login", url.Values{"email": {"root@platform.example"}, "password": {"wrong password"}})
	if r.status != 401 || !strings.Contains(string(r.body), "invalid_credentials") || !strings.Contains(string(r.body), `value="root@platform.example"`) {
		t.Fatalf("bad sign-in: %d %s", r.status, shown(r.body))
	}
	r = anon.post("/console/login", url.Values{"email": {"root@platform.example"}, "password": {"the platform password"}})
	cookie := r.header.Get("Set-Cookie")
	if r.status != 303 || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || !strings.Contains(cookie, "path=/console") || !strings.Contains(cookie, "secure") {
		t.Fatalf("sign-in: %d, cookie %q", r.status, cookie)
	}
	tok, _, _ := strings.Cut(strings.TrimPrefix(cookie, "atrium_console="), ";")
	root := consoleAs{caller: anon.caller, cookie: tok}

	r = root.get("/console")
	body := string(r.body)
	for _, want := range []string{`id="tenant-acme"`, `id="tenant-globex"`, `id="count-tenants">2<`, "billing.acme.example", `id="create-tenant"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("/console lacks %s: %s", want, shown(r.body))
		}
	}
	// Tenants' logos are linked, never loaded by the operator's browser.
	if _, err := st.Tenancy.ChangeBranding(user.With(tenant.With(t.Context(), "acme"), user.Principal{ID: "admin-a", Roles: []user.Role{user.Admin}}),
		commands.Request{CommandID: "logo"}, tenancy.Branding{Name: "acme inc", LogoURL: "https://tracker.example/acme.png"}); err != nil {
		t.Fatal(err)
	}
	if b := string(root.get("/console").body); strings.Contains(b, "<img") || !strings.Contains(b, `href="https://tracker.example/acme.png"`) {
		t.Fatalf("acme's logo: %s", b)
	}
	r = root.get("/console/tenants/acme")
	if r.status != 200 || !strings.Contains(string(r.body), `id="read-model-invoicelist"`) || !strings.Contains(string(r.body), `id="suspend"`) {
		t.Fatalf("tenant page: %d %s", r.status, shown(r.body))
	}
	// Its usage this month: the day it was provisioned on, still open.
	if b := string(r.body); !strings.Contains(b, `id="usage-2026-11-23"`) || strings.Contains(b, `id="usage-note"`) {
		t.Fatalf("tenant page's usage: %s", shown(r.body))
	}
	if r := root.get("/console/tenants/nosuch"); r.status != 404 || !strings.Contains(string(r.body), "tenant_not_found") {
		t.Fatalf("unknown tenant: %d %s", r.status, shown(r.body))
	}
	// A page number from the query is bounded, whatever it says.
	for _, p := range []string{"0", "-3", "99999999999999999999999", "x"} {
		if r := root.get("/console?page=" + p); r.status != 200 || !strings.Contains(string(r.body), `id="tenant-acme"`) {
			t.Fatalf("page %s: %d", p, r.status)
		}
	}

	// Signing out ends the login: the same cookie signs in no more.
	if r := root.post("/console/logout", url.Values{}); r.status != 303 || !strings.Contains(r.header.Get("Set-Cookie"), "expires=Thu, 01 Jan 1970") {
		t.Fatalf("sign-out: %d %v", r.status, r.header)
	}
	if r := root.get("/console"); !strings.Contains(string(r.body), `name="password"`) || strings.Contains(string(r.body), `id="tenants"`) {
		t.Fatalf("a signed-out cookie still shows the tenants: %s", shown(r.body))
	}
}

func TestConsoleActions(t *testing.T) {
	app, st := newStackApp(t)
	root := consoleAs{caller: as(t, app, "", "", ""), cookie: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}

	// A tenant created from the form, its first admin able to sign in.
	form := url.Values{"slug": {"initech"}, "name": {"Initech"},
		"domains": {"app.initech.example, portal.initech.example"}, "primary_color": {"#0b5394"},
		"admin_email": {"bill@initech.example"}, "admin_name": {"Bill"}, "admin_password": {"a long first password"}}
	r := root.post("/console/tenants", form)
	if r.status != 303 || r.header.Get("Location") != "/console/tenants/initech?done=created" {
		t.Fatalf("create: %d %v %s", r.status, r.header, shown(r.body))
	}
	s, ok := st.Catalog.Get("initech")
	if !ok || s.Name != "Initech" || len(s.Domains) != 2 || s.Branding.PrimaryColor != "#0b5394" {
		t.Fatalf("created %+v %v", s, ok)
	}
	login := as(t, app, "initech", "", "").do("POST", "/api/v1/auth/login", `{"email":"bill@initech.example","password":"a long first password"}`)
	if login.status != 200 {
		t.Fatalf("the first admin's sign-in: %d %s", login.status, login.body)
	}
	// The same form sent again finds the tenant there, and creates nothing.
	if r := root.post("/console/tenants", form); r.status != 409 || !strings.Contains(string(r.body), "tenant_exists") {
		t.Fatalf("the form again: %d %s", r.status, shown(r.body))
	}
	if n := len(st.Catalog.List()); n != 3 {
		t.Fatalf("%d tenants after the form twice", n)
	}

	// Bad input is the form again with the problem, its values kept but
	// the password, and nothing created.
	bad := url.Values{"slug": {"Bad_Slug"}, "name": {"Kept name"}, "admin_email": {"x@bad.example"}, "admin_password": {"a secret not shown"}}
	r = root.post("/console/tenants", bad)
	if r.status != 400 || !strings.Contains(string(r.body), "invalid_slug") || !strings.Contains(string(r.body), `value="Kept name"`) || strings.Contains(string(r.body), "a secret not shown") {
		t.Fatalf("bad slug: %d %s", r.status, shown(r.body))
	}
	if n := len(st.Catalog.List()); n != 3 {
		t.Fatalf("%d tenants after a refused form", n)
	}

	// A tenant's name is shown as text, never as markup.
	hostile := url.Values{"slug": {"hostile"}, "name": {`<script>alert(1)</script>`}, "logo_url": {"javascript:alert(1)"},
		"admin_email": {"a@hostile.example"}, "admin_name": {"H"}, "admin_password": {"a long first password"}}
	if r := root.post("/console/tenants", hostile); r.status != 400 || !strings.Contains(string(r.body), "logo") {
		t.Fatalf("a javascript: logo: %d %s", r.status, shown(r.body))
	}
	delete(hostile, "logo_url")
	if r := root.post("/console/tenants", hostile); r.status != 303 {
		t.Fatalf("hostile name: %d %s", r.status, shown(r.body))
	}
	for _, path := range []string{"/console", "/console/tenants/hostile"} {
		if b := string(root.get(path).body); strings.Contains(b, "<script>") || !strings.Contains(b, "&lt;script&gt;") {
			t.Fatalf("%s shows the name unescaped", path)
		}
	}

	// Suspend and resume: the tenant's API answers accordingly.
	if r := root.post("/console/tenants/globex/suspend", url.Values{"reason": {"unpaid"}}); r.status != 303 || r.header.Get("Location") != "/console/tenants/globex?done=suspended" {
		t.Fatalf("suspend: %d %s", r.status, shown(r.body))
	}
	globex := as(t, app, "globex", "admin-g", "admin")
	if code := problemCode(t, globex.do("GET", "/api/v1/me", ""), 403); code != "tenant_suspended" {
		t.Fatalf("suspended: %s", code)
	}
	if b := string(root.get("/console").body); !strings.Contains(b, `id="count-suspended">1<`) {
		t.Fatal("the suspended tenant is not counted")
	}
	if r := root.post("/console/tenants/globex/resume", url.Values{}); r.status != 303 {
		t.Fatalf("resume: %d %s", r.status, shown(r.body))
	}
	if r := globex.do("GET", "/api/v1/me", ""); r.status == 403 {
		t.Fatalf("resumed tenant still refused: %s", r.body)
	}

	// A rebuild brings back the rows deleted underneath in the read
	// database; a read model that does not exist is 404.
	acme := as(t, app, "acme", "admin-a", "admin")
	id, pos := create(t, acme, 1000)
	if r := acme.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", pos); r.status != 200 {
		t.Fatalf("the invoice: %d %s", r.status, r.body)
	}
	db, err := st.Reads.Open(tenant.With(t.Context(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(t.Context(), `DELETE FROM invoices`)
	db.Release()
	if err != nil {
		t.Fatal(err)
	}
	if r := acme.do("GET", "/api/v1/invoices/"+id, ""); r.status != 404 {
		t.Fatalf("the invoice deleted underneath: %d", r.status)
	}
	if r := root.post("/console/tenants/acme/projections/invoicelist/rebuild", url.Values{}); r.status != 303 || r.header.Get("Location") != "/console/tenants/acme?done=rebuilding" {
		t.Fatalf("rebuild: %d %s", r.status, shown(r.body))
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r := acme.do("GET", "/api/v1/invoices/"+id, ""); r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the invoice is not back 20 s after the rebuild")
		}
		time.Sleep(20 * time.Millisecond) // the rebuild runs on; its end is not signalled
	}
	if r := root.post("/console/tenants/acme/projections/nosuch/rebuild", url.Values{}); r.status != 404 || !strings.Contains(string(r.body), "read_model_not_found") {
		t.Fatalf("unknown read model: %d %s", r.status, shown(r.body))
	}
}

// TestConsoleRefusesWhatIsNotAPlatformAdministrator: a tenant's host, a
// tenant admin's login, a form from another site and an oversized form
// get nothing, and write nothing.
func TestConsoleRefusesWhatIsNotAPlatformAdministrator(t *testing.T) {
	app, st := newStackApp(t)
	rootTok := mint(t, app, "", "root", []user.Role{user.PlatformAdmin})
	root := consoleAs{caller: as(t, app, "", "", ""), cookie: rootTok}
	// A form the console would accept: refused only for who sends it.
	create := func(slug string) url.Values {
		return url.Values{"slug": {slug}, "name": {"X"}, "admin_email": {"a@x.example"}, "admin_name": {"A"}, "admin_password": {"a long first password"}}
	}
	assertNone := func(slug string) {
		t.Helper()
		if _, ok := st.Catalog.Get(tenant.ID(slug)); ok {
			t.Fatalf("%s was created", slug)
		}
	}

	// Never on a tenant's host, nor a host the platform does not name (a
	// DNS name of another site rebound to the server), whoever asks; on
	// loopback, yes.
	for _, hdr := range [][]string{{"Host", "acme.atrium.test"}, {"X-Tenant", "acme"}, {"Host", "billing.acme.example"}, {"Host", "evil.example"}, {"Host", "10.0.0.1:8080"}} {
		if r := root.get("/console", hdr...); r.status != 404 {
			t.Fatalf("console on %v: %d", hdr, r.status)
		}
		if r := root.post("/console/tenants", create("onhost"), hdr...); r.status != 404 {
			t.Fatalf("form on %v: %d", hdr, r.status)
		}
	}
	assertNone("onhost")
	for _, host := range []string{"localhost:8080", "127.0.0.1", "[::1]:8080", "ATRIUM.TEST"} {
		if r := root.get("/console", "Host", host); r.status != 200 || !strings.Contains(string(r.body), `id="tenants"`) {
			t.Fatalf("console on %s: %d", host, r.status)
		}
	}

	// A tenant admin's token, as a cookie, is no console session.
	acme := consoleAs{caller: as(t, app, "", "", ""), cookie: mint(t, app, "acme", "admin-a", []user.Role{user.Admin})}
	if r := acme.get("/console"); strings.Contains(string(r.body), `id="tenants"`) || !strings.Contains(string(r.body), `name="password"`) {
		t.Fatalf("a tenant admin's cookie: %d %s", r.status, shown(r.body))
	}
	if r := acme.post("/console/tenants", create("byacme")); r.status != 303 {
		t.Fatalf("a tenant admin's form: %d", r.status)
	}
	if r := acme.post("/console/tenants/globex/suspend", url.Values{}); r.status != 303 {
		t.Fatalf("a tenant admin suspending: %d", r.status)
	}
	if s, _ := st.Catalog.Get("globex"); s.Suspended {
		t.Fatal("a tenant admin suspended another tenant")
	}
	assertNone("byacme")
	// Nor a platform administrator's token altered, nor garbage (a login
	// that ended: TestConsoleSignInAndPages signs out).
	for _, c := range []string{"garbage", rootTok + "x", strings.Repeat("a", 4000)} {
		b := consoleAs{caller: root.caller, cookie: c}
		if r := b.get("/console"); strings.Contains(string(r.body), `id="tenants"`) {
			t.Fatalf("cookie %.20q signs in", c)
		}
	}

	// A form from another site: refused before anything is read.
	for _, hdr := range [][]string{{"Origin", "http://evil.example", "Sec-Fetch-Site", ""}, {"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}} {
		if code := problemCode(t, root.post("/console/tenants", create("csrf"), hdr...), 403); code != "cross_origin_form" {
			t.Fatalf("%v: %s", hdr, code)
		}
	}
	assertNone("csrf")
	if code := problemCode(t, root.post("/console/tenants/globex/suspend", url.Values{}, "Sec-Fetch-Site", "cross-site"), 403); code != "cross_origin_form" {
		t.Fatal(code)
	}

	// A form over the console's body limit, and a body that is no form.
	huge := create("huge")
	huge.Set("domains", strings.Repeat("a.example ", 5000))
	if r := root.post("/console/tenants", huge); r.status != 413 {
		t.Fatalf("a 50 KB form: %d", r.status)
	}
	// Whatever the path's case, which routes ignore (and so does the
	// sign-in's limit, to anyone).
	big := url.Values{"email": {strings.Repeat("e", 20<<10)}, "password": {"x"}}
	for _, path := range []string{"/console/login", "/CONSOLE/LOGIN", "/Console/Tenants"} {
		if r := root.post(path, big); r.status != 413 {
			t.Fatalf("a 20 KiB form to %s: %d", path, r.status)
		}
	}
	if r := as(t, app, "", "", "").do("POST", "/API/V1/AUTH/LOGIN", `{"email":"`+strings.Repeat("e", 20<<10)+`","password":"x"}`); r.status != 413 {
		t.Fatalf("a 20 KiB sign-in to /API/V1/AUTH/LOGIN: %d", r.status)
	}
	if r := root.post("/console/tenants", create("json"), "Content-Type", "application/json"); r.status != 415 {
		t.Fatalf("a JSON body: %d", r.status)
	}
	assertNone("huge")
	assertNone("json")
	// Many domains in one form are refused by the command, not stored.
	many := create("many")
	var doms []string
	for i := range 300 {
		doms = append(doms, fmt.Sprintf("d%d.example", i))
	}
	many.Set("domains", strings.Join(doms, " "))
	if r := root.post("/console/tenants", many); r.status < 400 || r.status >= 500 {
		t.Fatalf("300 domains: %d", r.status)
	}
	assertNone("many")

	// And the same form, from the console's page, with its session: made.
	if r := root.post("/console/tenants", create("made")); r.status != 303 {
		t.Fatalf("the form the refusals sent: %d %s", r.status, shown(r.body))
	}
}

// shown is what a console page says of a problem, or its start.
func shown(body []byte) string {
	b := string(body)
	if i := strings.Index(b, `<p class="error"`); i >= 0 {
		if j := strings.Index(b[i:], "</p>"); j >= 0 {
			return b[i : i+j]
		}
	}
	if i := strings.Index(b, "<main>"); i >= 0 {
		b = b[i:]
	}
	return string(clip([]byte(b)))
}

// TestConsolePagesTheTenants: 50 tenants to a page, in slug order, with
// the figures over all of them.
func TestConsolePagesTheTenants(t *testing.T) {
	app, st := newStackApp(t)
	admin := user.With(t.Context(), platformAdmin)
	for i := range 51 { // with the stack's acme and globex: 53
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{Slug: fmt.Sprintf("t%03d", i), Name: fmt.Sprintf("Tenant %d", i),
			Admin: tenancycmd.FirstAdmin{Email: "admin@t.example", Name: "Admin", Password: "first admin password"}}); err != nil {
			t.Fatal(err)
		}
	}
	root := consoleAs{caller: as(t, app, "", "", ""), cookie: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	rows := func(b string) []string {
		var ids []string
		for _, part := range strings.Split(b, `<tr id="tenant-`)[1:] {
			ids = append(ids, part[:strings.IndexByte(part, '"')])
		}
		return ids
	}
	first := string(root.get("/console").body)
	second := string(root.get("/console?page=2").body)
	one, two := rows(first), rows(second)
	if len(one) != 50 || len(two) != 3 || one[0] != "acme" || one[1] != "globex" || one[2] != "t000" || two[2] != "t050" {
		t.Fatalf("page 1 %v\npage 2 %v", one, two)
	}
	for _, want := range []string{`id="count-tenants">53<`, `href="/console?page=2"`} {
		if !strings.Contains(first, want) {
			t.Fatalf("page 1 lacks %s", want)
		}
	}
	if !strings.Contains(second, `href="/console?page=1"`) || strings.Contains(second, `href="/console?page=3"`) {
		t.Fatal("page 2's links")
	}
	if last := rows(string(root.get("/console?page=99").body)); len(last) != 3 {
		t.Fatalf("a page past the last shows %v", last)
	}
}
