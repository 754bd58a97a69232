package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/assembly"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// dex is a real Dex, the open-source OpenID Connect provider, run for a
// test: its binary is built by make test from tools/dex (ATRIUM_DEX_BIN);
// without it the test is skipped, unless ATRIUM_REQUIRE_DEX is set.
type dex struct {
	issuer string
}

// bcrypt of "password", Dex's own example.
const dexPasswordHash = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"

func startDex(t *testing.T) *dex {
	t.Helper()
	bin := os.Getenv("ATRIUM_DEX_BIN")
	if bin == "" {
		found, _ := filepath.Glob("../../.bin/dex-*")
		if len(found) > 0 {
			bin = found[0]
		}
	}
	if bin == "" {
		if os.Getenv("ATRIUM_REQUIRE_DEX") != "" {
			t.Fatal("no Dex binary: make test builds it (ATRIUM_DEX_BIN)")
		}
		t.Skip("no Dex binary (make test builds one; or set ATRIUM_DEX_BIN)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	d := &dex{issuer: "http://" + addr + "/dex"}
	user := func(email, id string, groups ...string) string {
		g := ""
		if len(groups) > 0 {
			g = fmt.Sprintf("\n    groups: [%s]", strings.Join(groups, ", "))
		}
		return fmt.Sprintf("  - email: %s\n    hash: %q\n    username: %s\n    userID: %s%s\n", email, dexPasswordHash, strings.Split(email, "@")[0], id, g)
	}
	client := func(tn string) string {
		return fmt.Sprintf("  - id: %s-portal\n    name: %s\n    secret: %s-client-secret\n    redirectURIs: [http://%s.atrium.test/api/v1/auth/sso/callback]\n", tn, tn, tn, tn)
	}
	config := "issuer: " + d.issuer + "\nstorage:\n  type: memory\nweb:\n  http: " + addr + "\nlogger:\n  level: warn\n" +
		"oauth2:\n  skipApprovalScreen: true\nenablePasswordDB: true\nstaticClients:\n" + client("acme") + client("globex") +
		"staticPasswords:\n" +
		user("alice@acme.example", "11111111-1111-1111-1111-111111111111", "finance-team", "staff") +
		user("bob@acme.example", "22222222-2222-2222-2222-222222222222", "unmapped") +
		user("mallory@evil.example", "33333333-3333-3333-3333-333333333333", "finance-team") +
		user("grace@globex.example", "44444444-4444-4444-4444-444444444444", "gx-admins")
	path := filepath.Join(t.TempDir(), "dex.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", path)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dex:\n%s", out)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := nethttp.Get(d.issuer + "/.well-known/openid-configuration")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dex did not start: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signIn plays the person's browser at the provider: it follows authURL
// to Dex's login form, posts the email and password, and returns where
// Dex sends the browser back (the tenant's callback, with code and state).
func (d *dex) signIn(t *testing.T, authURL, email string) *url.URL {
	t.Helper()
	browser := &nethttp.Client{Timeout: 10 * time.Second, CheckRedirect: func(req *nethttp.Request, _ []*nethttp.Request) error {
		if strings.HasSuffix(req.URL.Host, ".atrium.test") {
			return nethttp.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Request.URL.Path, "/auth/local/login") {
		t.Fatalf("dex's login form: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = browser.PostForm(resp.Request.URL.String(), url.Values{"login": {email}, "password": {"password"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode/100 != 3 || !strings.HasSuffix(back.Host, ".atrium.test") {
		t.Fatalf("dex did not send %s back: %d %s", email, resp.StatusCode, resp.Header.Get("Location"))
	}
	return back
}

// ssoCookie is the sign-in cookie an answer set.
func ssoCookieOf(t *testing.T, r reply) string {
	t.Helper()
	for _, c := range (&nethttp.Response{Header: r.header}).Cookies() {
		if c.Name == "atrium_sso" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no sign-in cookie: %v", r.header)
	return ""
}

// startSSO starts a sign-in at tenant tn's host: the provider's URL and
// the cookie.
func startSSO(t *testing.T, app *fiber.App, tn, query string) (string, string) {
	t.Helper()
	r := caller{t: t, app: app}.do("GET", "/api/v1/auth/sso/start"+query, "", "Host", tn+".atrium.test")
	if r.status != 302 {
		t.Fatalf("start at %s: %d %s", tn, r.status, r.body)
	}
	return r.header.Get("Location"), ssoCookieOf(t, r)
}

// callback brings the browser back to tn's host with back's query and
// cookie.
func callback(t *testing.T, app *fiber.App, tn string, back *url.URL, cookie string) reply {
	t.Helper()
	return caller{t: t, app: app}.do("GET", "/api/v1/auth/sso/callback?"+back.RawQuery, "", "Host", tn+".atrium.test", "Cookie", cookie)
}

func ssoBody(issuer, tn string, domains, groups string, required bool) string {
	return fmt.Sprintf(`{"issuer":%q,"client_id":"%s-portal","client_secret":"%s-client-secret","domains":%s,"groups":%s,"required":%v}`,
		issuer, tn, tn, domains, groups, required)
}

func newSSOApp(t *testing.T) (*fiber.App, *assembly.Process) {
	t.Helper()
	return newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 2 * time.Second}, func(c *assembly.Config) {
		c.SSOAllowPrivateIssuers = true // Dex runs on loopback
	})
}

// Single sign-on through a real OpenID Connect provider (Dex), from
// outside: a tenant's admin points the tenant at it; a person of an
// allowed domain signs in with the code flow and PKCE, becomes a member
// with the role their group maps to, and gets the tokens of a password
// login; a foreign domain, a person without a mapped group, a sign-in
// started at another tenant and a code of another tenant's client are
// refused, writing nothing; a tenant that requires SSO refuses passwords.
func TestSSOThroughARealProvider(t *testing.T) {
	d := startDex(t)
	app, st := newSSOApp(t)
	admin := as(t, app, "acme", "u-adm", "admin")
	gadmin := as(t, app, "globex", "u-gadm", "admin")

	// Configuring: the admins only, checked before anything is kept.
	if r := as(t, app, "acme", "u-fin", "finance").do("PUT", "/api/v1/auth/sso", ssoBody(d.issuer, "acme", `["acme.example"]`, `{}`, false)); r.status != 403 {
		t.Fatalf("a finance member configured SSO: %d %s", r.status, r.body)
	}
	for body, code := range map[string]string{
		ssoBody("ftp://"+strings.TrimPrefix(d.issuer, "http://"), "acme", `["acme.example"]`, `{}`, false): "invalid_issuer",
		ssoBody("http://idp.example/dex", "acme", `["acme.example"]`, `{}`, false):                         "invalid_issuer",
		ssoBody("http://127.0.0.1:1/dex", "acme", `["acme.example"]`, `{}`, false):                         "issuer_unusable",
		ssoBody(d.issuer, "acme", `[]`, `{}`, false):                                                       "invalid_domains",
		ssoBody(d.issuer, "acme", `["not a domain"]`, `{}`, false):                                         "invalid_domains",
		ssoBody(d.issuer, "acme", `["acme.example"]`, `{"x":["emperor"]}`, false):                          "invalid_role",
		`{"issuer":"` + d.issuer + `","client_id":"acme-portal","domains":["acme.example"]}`:               "invalid_client_secret",
	} {
		if got := problemCode(t, admin.do("PUT", "/api/v1/auth/sso", body), 400); got != code {
			t.Fatalf("%s: %s, want %s", body, got, code)
		}
	}
	if r := admin.do("GET", "/api/v1/auth/sso", ""); problemCode(t, r, 404) != "sso_not_configured" {
		t.Fatalf("refused configurations kept something: %d %s", r.status, r.body)
	}
	r := admin.do("PUT", "/api/v1/auth/sso", ssoBody(d.issuer, "acme", `["ACME.example"]`, `{"finance-team":["finance"],"staff":["sales"]}`, false))
	if r.status != 200 || strings.Contains(string(r.body), "client-secret") || !strings.Contains(string(r.body), `"domains":["acme.example"]`) {
		t.Fatalf("configure: %d %s", r.status, r.body)
	}
	if r := gadmin.do("PUT", "/api/v1/auth/sso", ssoBody(d.issuer, "globex", `["globex.example"]`, `{"gx-admins":["admin"]}`, false)); r.status != 200 {
		t.Fatalf("configure globex: %d %s", r.status, r.body)
	}
	cross := admin
	cross.tenant = "globex"
	if r := cross.do("GET", "/api/v1/auth/sso", ""); problemCode(t, r, 403) != "tenant_mismatch" {
		t.Fatalf("acme's admin read globex's SSO: %d %s", r.status, r.body)
	}

	// Alice, of an allowed domain, in finance-team and staff: a member of
	// acme with finance and sales, signed in.
	authURL, cookie := startSSO(t, app, "acme", "")
	if u, _ := url.Parse(authURL); !strings.HasPrefix(authURL, d.issuer) || u.Query().Get("code_challenge_method") != "S256" ||
		u.Query().Get("client_id") != "acme-portal" || u.Query().Get("nonce") == "" {
		t.Fatalf("the provider's URL: %s", authURL)
	}
	back := d.signIn(t, authURL, "alice@acme.example")
	// The same answer at another tenant's host: refused, the cookie
	// being acme's.
	if r := callback(t, app, "globex", back, cookie); problemCode(t, r, 400) != "sso_state_invalid" {
		t.Fatalf("acme's sign-in finished at globex: %d %s", r.status, r.body)
	}
	r = callback(t, app, "acme", back, cookie)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	tok := r.json(t)
	alice := caller{t: t, app: app, tenant: "acme", token: tok["access_token"].(string)}
	me := alice.do("GET", "/api/v1/me", "").json(t)
	if roles := fmt.Sprint(me["roles"]); !strings.Contains(roles, "finance") || !strings.Contains(roles, "sales") || me["email"] != "alice@acme.example" {
		t.Fatalf("alice: %v", me)
	}
	if r := alice.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 100)); r.status != 201 {
		t.Fatalf("alice drafts: %d %s", r.status, r.body)
	}
	// The callback's answer is spent: the same code and cookie again are
	// refused.
	if r := callback(t, app, "acme", back, cookie); r.status < 400 || r.status >= 500 {
		t.Fatalf("a callback replayed: %d %s", r.status, r.body)
	}
	// She signs in again: the same person at the provider.
	authURL, cookie = startSSO(t, app, "acme", "")
	if r := callback(t, app, "acme", d.signIn(t, authURL, "alice@acme.example"), cookie); r.status != 200 {
		t.Fatalf("alice again: %d %s", r.status, r.body)
	}
	// She has no password here: SSO is how she signs in.
	if r := (caller{t: t, app: app, tenant: "acme"}).do("POST", "/api/v1/auth/login", `{"email":"alice@acme.example","password":"password"}`); r.status != 401 {
		t.Fatalf("alice's password: %d %s", r.status, r.body)
	}

	// Refused, nothing written: a foreign domain, a group mapped to no
	// role, a code of globex's client presented at acme.
	members := func() string { return string(admin.do("GET", "/api/v1/users", "").body) }
	for email, code := range map[string]string{"mallory@evil.example": "sso_domain_not_allowed", "bob@acme.example": "sso_no_role"} {
		authURL, cookie := startSSO(t, app, "acme", "")
		if r := callback(t, app, "acme", d.signIn(t, authURL, email), cookie); problemCode(t, r, 403) != code {
			t.Fatalf("%s: %d %s", email, r.status, r.body)
		}
		if strings.Contains(members(), email) {
			t.Fatalf("%s became a member: %s", email, members())
		}
	}
	gURL, _ := startSSO(t, app, "globex", "")
	gBack := d.signIn(t, gURL, "grace@globex.example")
	aURL, aCookie := startSSO(t, app, "acme", "")
	aState, _ := url.Parse(aURL)
	forged := &url.URL{RawQuery: url.Values{"code": {gBack.Query().Get("code")}, "state": {aState.Query().Get("state")}}.Encode()}
	if r := callback(t, app, "acme", forged, aCookie); problemCode(t, r, 401) != "sso_refused" {
		t.Fatalf("globex's code at acme: %d %s", r.status, r.body)
	}
	if strings.Contains(members(), "grace@") {
		t.Fatalf("globex's person became acme's member: %s", members())
	}

	// return_to: back to a path of this site, the tokens in the fragment;
	// another site is refused.
	if r := (caller{t: t, app: app}).do("GET", "/api/v1/auth/sso/start?return_to=//evil.example/x", "", "Host", "acme.atrium.test"); problemCode(t, r, 400) != "invalid_request" {
		t.Fatalf("return_to another site: %d %s", r.status, r.body)
	}
	authURL, cookie = startSSO(t, app, "acme", "?return_to=/app/home")
	r = callback(t, app, "acme", d.signIn(t, authURL, "alice@acme.example"), cookie)
	if loc := r.header.Get("Location"); r.status != 303 || !strings.HasPrefix(loc, "/app/home#access_token=") || !strings.Contains(loc, "refresh_token=") {
		t.Fatalf("return_to: %d %s", r.status, loc)
	}

	// Had the provider given her address to someone else since, the
	// membership would stay its first holder's: recorded here as if her
	// first sign-in had named another subject.
	ctx := tenant.With(context.Background(), "acme")
	n, err := streams.NewName("acme", identity.MemberCategory, me["user_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	typ, data, err := st.Registry.Encode(identity.SSOLinked{Tenant: "acme", UserID: me["user_id"].(string), Issuer: d.issuer, Subject: "someone-before"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Store.Append(ctx, n, streams.Any, streams.EventData{ID: uuid.New(), Type: typ, Data: data, Metadata: streams.Metadata{Tenant: "acme", UserID: "test"}}); err != nil {
		t.Fatal(err)
	}
	authURL, cookie = startSSO(t, app, "acme", "")
	if r := callback(t, app, "acme", d.signIn(t, authURL, "alice@acme.example"), cookie); problemCode(t, r, 403) != "sso_subject_mismatch" {
		t.Fatalf("another person with alice's address: %d %s", r.status, r.body)
	}
	// SSO required: every password of acme's refused, globex's untouched;
	// removed, passwords sign in again.
	if r := admin.do("PUT", "/api/v1/auth/sso", `{"issuer":"`+d.issuer+`","client_id":"acme-portal","domains":["acme.example"],"groups":{"finance-team":["finance"]},"required":true}`); r.status != 200 {
		t.Fatalf("require: %d %s", r.status, r.body)
	}
	login := func(tn string) reply {
		return caller{t: t, app: app, tenant: tn}.do("POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":"admin@%s.example","password":"first admin password"}`, tn))
	}
	if r := login("acme"); problemCode(t, r, 403) != "sso_required" {
		t.Fatalf("a password at a tenant requiring SSO: %d %s", r.status, r.body)
	}
	if r := login("globex"); r.status != 200 {
		t.Fatalf("globex's password: %d %s", r.status, r.body)
	}
	// The way back in when the provider is gone: the platform removes it
	// (a tenant's admin may not use the platform's route).
	if r := admin.do("DELETE", "/admin/v1/tenants/acme/sso", ""); r.status != 401 && r.status != 403 {
		t.Fatalf("a tenant admin on the platform's route: %d %s", r.status, r.body)
	}
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	if r := root.do("DELETE", "/admin/v1/tenants/nonesuch/sso", ""); r.status != 404 {
		t.Fatalf("an unknown tenant: %d %s", r.status, r.body)
	}
	if r := root.do("DELETE", "/admin/v1/tenants/acme/sso", ""); r.status != 200 {
		t.Fatalf("the platform removes acme's SSO: %d %s", r.status, r.body)
	}
	if r := login("acme"); r.status != 200 {
		t.Fatalf("a password once SSO is removed: %d %s", r.status, r.body)
	}
	if r := admin.do("DELETE", "/api/v1/auth/sso", ""); problemCode(t, r, 404) != "sso_not_configured" {
		t.Fatalf("remove what is gone: %d %s", r.status, r.body)
	}
}

// Hostile sign-ins: a made-up or oversized cookie, a state not the
// cookie's, a tenant without SSO, none of which costs the address its
// password logins.
// An issuer on a private address is refused unless the operator allows
// it (a tenant admin cannot make the server call inside its network).
func TestSSORefusesForgedAndFloodedSignIns(t *testing.T) {
	d := startDex(t)
	app, st := newSSOApp(t)
	admin := as(t, app, "acme", "u-adm", "admin")
	if r := admin.do("PUT", "/api/v1/auth/sso", ssoBody(d.issuer, "acme", `["acme.example"]`, `{"finance-team":["finance"]}`, false)); r.status != 200 {
		t.Fatalf("configure: %d %s", r.status, r.body)
	}
	// A change refused for a stale If-Match keeps no secret.
	sealed := func() int {
		keys, err := st.Secrets.SealedKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	before := sealed()
	if r := admin.do("PUT", "/api/v1/auth/sso", strings.Replace(ssoBody(d.issuer, "acme", `["acme.example"]`, `{}`, false), "acme-client-secret", "another-secret", 1), "If-Match", `"7"`); r.status < 400 || r.status >= 500 {
		t.Fatalf("a stale If-Match: %d %s", r.status, r.body)
	}
	if after := sealed(); after != before {
		t.Fatalf("a refused change kept a secret: %d sealed, were %d", after, before)
	}
	if r := (caller{t: t, app: app}).do("GET", "/api/v1/auth/sso/start", "", "Host", "globex.atrium.test"); problemCode(t, r, 404) != "sso_not_configured" {
		t.Fatalf("a tenant without SSO: %d %s", r.status, r.body)
	}
	authURL, cookie := startSSO(t, app, "acme", "")
	u, _ := url.Parse(authURL)
	for name, c := range map[string]string{
		"no cookie":    "",
		"made up":      "atrium_sso=" + strings.Repeat("A", 200),
		"oversized":    "atrium_sso=" + strings.Repeat("A", 8000),
		"not base64":   "atrium_sso=%%%",
		"other state":  cookie,
		"no state":     cookie,
		"error answer": cookie,
	} {
		q := url.Values{"code": {"x"}, "state": {u.Query().Get("state")}}
		switch name {
		case "other state":
			q.Set("state", "forged")
		case "no state":
			q.Del("state")
		case "error answer":
			q = url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}}
		}
		r := callback(t, app, "acme", &url.URL{RawQuery: q.Encode()}, c)
		if r.status != 400 && r.status != 401 && r.status != 429 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
	}
	// Forged callbacks (links any page can hold) never lock the address
	// out of its logins: they guess nothing.
	for range 15 {
		if r := callback(t, app, "acme", &url.URL{RawQuery: "code=x&state=y"}, "atrium_sso=AAAA"); problemCode(t, r, 400) != "sso_state_invalid" {
			t.Fatalf("a forged callback: %d %s", r.status, r.body)
		}
	}
	if r := (caller{t: t, app: app, tenant: "acme"}).do("POST", "/api/v1/auth/login", `{"email":"admin@acme.example","password":"first admin password"}`); r.status != 200 {
		t.Fatalf("a password login after forged callbacks: %d %s", r.status, r.body)
	}

	// The operator did not allow private issuers: Dex on loopback is
	// refused before anything is kept.
	closed, _ := newStackApp(t)
	if r := as(t, closed, "acme", "u-adm", "admin").do("PUT", "/api/v1/auth/sso", ssoBody(d.issuer, "acme", `["acme.example"]`, `{}`, false)); problemCode(t, r, 400) != "issuer_unusable" {
		t.Fatalf("a loopback issuer without the operator's leave: %d %s", r.status, r.body)
	}
}
