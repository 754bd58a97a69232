package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/auth"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// These tests attack the API from outside as a hostile tenant admin, an
// anonymous client and a noisy customer would.

const firstAdminPassword = "first admin password"

// login signs email in on tn (empty: the platform) and returns the answer.
func login(t *testing.T, app *fiber.App, tn, email, password string, hdr ...string) reply {
	t.Helper()
	return caller{t: t, app: app, tenant: tn}.do("POST", "/api/v1/auth/login",
		fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), hdr...)
}

// signIn logs in and returns a caller holding the access token.
func signIn(t *testing.T, app *fiber.App, tn, email, password string) caller {
	t.Helper()
	r := login(t, app, tn, email, password)
	if r.status != 200 {
		t.Fatalf("login %s on %s: %d %s", email, tn, r.status, r.body)
	}
	return caller{t: t, app: app, tenant: tn, token: r.json(t)["access_token"].(string)}
}

func addUser(c caller, email, password, key string) reply {
	c.t.Helper()
	body := fmt.Sprintf(`{"email":%q,"name":"Someone","password":%q,"roles":["employee"]}`, email, password)
	if key == "" {
		return c.do("POST", "/api/v1/users", body)
	}
	return c.do("POST", "/api/v1/users", body, "Idempotency-Key", key)
}

// Tenant A's admin adds a member with key K; tenant B's admin uses K for
// another person. Before, B got 422 and A's member's password became B's.
func TestIdempotencyKeyOfAnotherTenantTakesNoAccount(t *testing.T) {
	app := newApp(t)
	acme := signIn(t, app, "acme", "admin@acme.example", firstAdminPassword)
	globex := signIn(t, app, "globex", "admin@globex.example", firstAdminPassword)

	if r := addUser(acme, "ada@people.example", "ada's own password", "K-shared"); r.status != 201 {
		t.Fatalf("acme adds ada: %d %s", r.status, r.body)
	}
	if r := addUser(globex, "bob@people.example", "bob's own password", "K-shared"); r.status != 201 {
		t.Fatalf("globex, same key, another person: %d %s", r.status, r.body)
	}
	if r := login(t, app, "acme", "ada@people.example", "ada's own password"); r.status != 200 {
		t.Fatalf("ada lost her own password: %d %s", r.status, r.body)
	}
	if r := login(t, app, "acme", "ada@people.example", "bob's own password"); r.status != 401 {
		t.Fatalf("ada's account took globex's password: %d %s", r.status, r.body)
	}
	if r := login(t, app, "globex", "bob@people.example", "bob's own password"); r.status != 200 {
		t.Fatalf("bob: %d %s", r.status, r.body)
	}

	// The same caller reusing its key for another request: 422, and nothing
	// written (no account for the new address).
	if code := problemCode(t, addUser(acme, "eve@people.example", "eve's own password", "K-shared"), 422); code != "idempotency_key_reused" {
		t.Fatalf("reused key: %s", code)
	}
	if r := addUser(globex, "eve@people.example", "a globex password", ""); r.status != 201 {
		t.Fatalf("globex adds eve: %d %s", r.status, r.body)
	}
	if r := login(t, app, "globex", "eve@people.example", "eve's own password"); r.status != 401 {
		t.Fatalf("the refused request created eve's account with its password: %d %s", r.status, r.body)
	}
	if r := login(t, app, "globex", "eve@people.example", "a globex password"); r.status != 200 {
		t.Fatalf("eve: %d %s", r.status, r.body)
	}
}

// Two callers of one tenant giving the same key run two commands.
func TestIdempotencyKeyOfAnotherCaller(t *testing.T) {
	app := newApp(t)
	a := as(t, app, "acme", "u-fin-1", "finance")
	b := as(t, app, "acme", "u-fin-2", "finance")
	body := fmt.Sprintf(invoiceBody, 1000)
	ra := a.do("POST", "/api/v1/invoices", body, "Idempotency-Key", "order-7")
	rb := b.do("POST", "/api/v1/invoices", body, "Idempotency-Key", "order-7")
	if ra.status != 201 || rb.status != 201 {
		t.Fatalf("answers %d %s / %d %s", ra.status, ra.body, rb.status, rb.body)
	}
	if ra.json(t)["id"] == rb.json(t)["id"] {
		t.Fatal("two callers' commands with one key landed on one invoice")
	}
	if again := a.do("POST", "/api/v1/invoices", body, "Idempotency-Key", "order-7"); again.json(t)["id"] != ra.json(t)["id"] {
		t.Fatal("a retry by the first caller was not answered with its first answer")
	}
}

// A password a tenant's admin sets signs the person in to that tenant and
// nowhere else: not to another tenant that invites the same address, not
// to a tenant the platform provisions for it, not to the platform. The
// admin's answers, and the sign-in with the password they set, are the same
// whether or not the address had an account, so they learn nothing. Before,
// an admin could pre-register an address (even with a request refused 412)
// and later sign in as that person wherever they were made a member or an
// administrator.
func TestPasswordsAreScopedToTheirTenant(t *testing.T) {
	app, st := newStackApp(t)
	ctx := context.Background()
	acme := signIn(t, app, "acme", "admin@acme.example", firstAdminPassword)
	globex := signIn(t, app, "globex", "admin@globex.example", firstAdminPassword)

	// Refused requests write nothing: a stale If-Match is 412, and the
	// address has no account afterwards.
	r := acme.do("POST", "/api/v1/users", `{"email":"cfo@umbrella.example","name":"x","password":"attacker knows this","roles":["employee"]}`, "If-Match", `"7"`)
	if code := problemCode(t, r, 412); code != "version_conflict" {
		t.Fatalf("stale If-Match: %s", code)
	}
	for _, addr := range []string{"newhire@globex.example", "ops@platform.example", "cfo@umbrella.example"} {
		if r := addUser(acme, addr, "attacker knows this", ""); r.status != 201 {
			t.Fatalf("acme adds %s: %d %s", addr, r.status, r.body)
		}
	}
	// The platform provisions umbrella with cfo@ as its first admin.
	admin := user.With(ctx, platformAdmin)
	if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{Slug: "umbrella", Name: "Umbrella",
		Admin: tenancycmd.FirstAdmin{Email: "cfo@umbrella.example", Name: "Al", Password: "given by the platform"}}); err != nil {
		t.Fatal(err)
	}
	// globex invites newhire@; the operator makes ops@ a platform administrator.
	if r := addUser(globex, "newhire@globex.example", "set by globex admin", ""); r.status != 201 {
		t.Fatalf("globex adds newhire: %d %s", r.status, r.body)
	}
	if _, err := st.Identity.EnsurePlatformAdmin(ctx, "ops@platform.example", "the operator's password"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tenant, email, password string }{
		{"umbrella", "cfo@umbrella.example", "attacker knows this"},
		{"globex", "newhire@globex.example", "attacker knows this"},
		{"", "ops@platform.example", "attacker knows this"},
	} {
		if r := login(t, app, tc.tenant, tc.email, tc.password); r.status != 401 {
			t.Errorf("acme's password for %s signed in to %q: %d %s", tc.email, tc.tenant, r.status, r.body)
		}
	}
	for _, tc := range []struct{ tenant, email, password string }{
		{"umbrella", "cfo@umbrella.example", "given by the platform"},
		{"globex", "newhire@globex.example", "set by globex admin"},
		{"", "ops@platform.example", "the operator's password"},
		{"acme", "cfo@umbrella.example", "attacker knows this"}, // acme's own member, in acme only
	} {
		if r := login(t, app, tc.tenant, tc.email, tc.password); r.status != 200 {
			t.Errorf("%s on %q with its own tenant's password: %d %s", tc.email, tc.tenant, r.status, r.body)
		}
	}

	// An address with an account elsewhere, or none: the same answer, and
	// the password acme set works in acme either way.
	shapeOf := func(r reply) string {
		t.Helper()
		if r.status != 201 {
			t.Fatalf("add: %d %s", r.status, r.body)
		}
		m := r.json(t)
		return fmt.Sprint(len(m), m["status"], m["roles"])
	}
	want := shapeOf(addUser(acme, "fresh@people.example", "chosen by acme", ""))
	if got := shapeOf(addUser(acme, "admin@globex.example", "chosen by acme", "")); got != want {
		t.Fatalf("an existing address answered %s, a new one %s", got, want)
	}
	for _, addr := range []string{"fresh@people.example", "admin@globex.example"} {
		if r := login(t, app, "acme", addr, "chosen by acme"); r.status != 200 {
			t.Fatalf("%s in acme: %d %s", addr, r.status, r.body)
		}
	}
	if r := login(t, app, "globex", "admin@globex.example", firstAdminPassword); r.status != 200 {
		t.Fatalf("globex's admin lost their globex password: %d %s", r.status, r.body)
	}
	if r := login(t, app, "globex", "admin@globex.example", "chosen by acme"); r.status != 401 {
		t.Fatalf("acme's password signed globex's admin in to globex: %d %s", r.status, r.body)
	}
}

// A member is invited until they first sign in to the tenant.
func TestMembersAreInvitedUntilTheySignIn(t *testing.T) {
	app := newApp(t)
	acme := signIn(t, app, "acme", "admin@acme.example", firstAdminPassword)
	if r := addUser(acme, "ann@people.example", "ann's acme password", ""); r.status != 201 || r.json(t)["status"] != "invited" {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	statusOf := func() string {
		var members struct {
			Items []struct {
				Email  string `json:"email"`
				Status string `json:"status"`
			} `json:"items"`
		}
		_ = json.Unmarshal(acme.do("GET", "/api/v1/users", "").body, &members)
		for _, m := range members.Items {
			if m.Email == "ann@people.example" {
				return m.Status
			}
		}
		return ""
	}
	waitFor(t, func() bool { return statusOf() == "invited" })
	signIn(t, app, "acme", "ann@people.example", "ann's acme password")
	waitFor(t, func() bool { return statusOf() == "active" })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve runs app on a loopback port, as the process does, for tests that
// need a real connection (keep-alive, streamed bodies).
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String()
}

// Labels taken from one request must not change with the next request on
// the connection: before, /metrics showed method="POS" and tenant="acmeex"
// and then answered 500.
func TestMetricLabelsOutliveTheirRequest(t *testing.T) {
	app := newApp(t)
	addr := serve(t, app)
	tokens := map[string]string{
		"acme":   mint(t, app, "acme", "u-fin", []user.Role{user.Finance, user.Admin}),
		"globex": mint(t, app, "globex", "u-fin", []user.Role{user.Finance, user.Admin}),
	}
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2}}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				tn := []string{"acme", "globex"}[(w+i)%2]
				method, path, body := "GET", "/api/v1/invoices?limit=7", ""
				switch i % 3 {
				case 1:
					method, path, body = "POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 100+i)
				case 2:
					method, path = "PUT", "/api/v1/settings"
					body = `{"time_zone":"Europe/Paris"}`
				}
				req, _ := nethttp.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
				req.Header.Set("X-Tenant", tn)
				req.Header.Set("Authorization", "Bearer "+tokens[tn])
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics answered %d: %s", resp.StatusCode, b)
	}
	label := regexp.MustCompile(`(method|tenant)="([^"]*)"`)
	for _, m := range label.FindAllStringSubmatch(string(b), -1) {
		ok := map[string]bool{"GET": true, "POST": true, "PUT": true, "HEAD": true, "acme": true, "globex": true, "platform": true, "": true}[m[2]]
		if !ok {
			t.Errorf("label %s=%q was never sent", m[1], m[2])
		}
	}
}

// rawRequest writes head and then up to sent bytes of a body of declared
// length, and returns the status line the server answers.
func rawRequest(t *testing.T, addr, head string, declared, sent int) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A deadline only so a server that waits for the whole body fails the
	// test instead of hanging it.
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "%sContent-Length: %d\r\n\r\n", head, declared); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(strings.Repeat("x", sent))); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer before the body was sent whole: %v", err)
	}
	return strings.TrimSpace(line)
}

// A body over the route's limit is refused before it is read, and before
// any authentication work: before, a 49 MiB login was read whole first
// (the server takes a first few KiB of any body before its routes run).
func TestBodyLimitsApplyWhileReading(t *testing.T) {
	app := newApp(t)
	addr := serve(t, app)
	for _, tc := range []struct{ name, head string }{
		{"login", "POST /api/v1/auth/login HTTP/1.1\r\nHost: acme.atrium.test\r\nContent-Type: application/json\r\n"},
		{"command", "POST /api/v1/invoices HTTP/1.1\r\nHost: acme.atrium.test\r\nContent-Type: application/json\r\nAuthorization: Bearer x\r\n"},
		{"receipt", "PUT /api/v1/expenses/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5/receipt HTTP/1.1\r\nHost: acme.atrium.test\r\nContent-Type: application/pdf\r\n"},
	} {
		declared := 49 << 20
		if tc.name == "receipt" {
			declared = 60 << 20
		}
		if got := rawRequest(t, addr, tc.head, declared, 16<<10); !strings.HasPrefix(got, "HTTP/1.1 413") {
			t.Errorf("%s with a body of %d bytes: %s", tc.name, declared, got)
		}
	}
	// A login body over 16 KiB is refused; a command body of 100 KiB is not.
	if got := rawRequest(t, addr, "POST /api/v1/auth/login HTTP/1.1\r\nHost: acme.atrium.test\r\nContent-Type: application/json\r\n", 20<<10, 20<<10); !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Errorf("a 20 KiB login: %s", got)
	}

	// A chunked body (no length) stops being read at the limit.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: acme.atrium.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		answered <- line
	}()
	chunk := strings.Repeat("y", 4096)
	for sent := 0; sent < 1<<20; sent += len(chunk) {
		if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
			break // the server closed the connection after its answer
		}
		select {
		case line := <-answered:
			if !strings.Contains(line, " 413") {
				t.Fatalf("chunked login: %s", line)
			}
			return
		default:
		}
	}
	if line := <-answered; !strings.Contains(line, " 413") {
		t.Fatalf("chunked login: %q", line)
	}
}

// A compressed body would be expanded before its limit applies: refused.
func TestCompressedBodyRefused(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	r := fin.do("POST", "/api/v1/invoices", "\x1f\x8b\x08\x00\x00\x00\x00\x00", "Content-Encoding", "gzip")
	if code := problemCode(t, r, 415); code != "unsupported_content_encoding" {
		t.Fatalf("gzip body: %s", code)
	}
}

// An attacker's failed logins on an account lock out the attacker, not the
// account's owner signing in from elsewhere; successful logins are not
// counted against anyone.
func TestLoginFailuresDoNotLockTheOwnerOut(t *testing.T) {
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 2 * time.Second, TrustedProxies: []string{"0.0.0.0"}})
	attacker := []string{"X-Forwarded-For", "203.0.113.9"}
	owner := []string{"X-Forwarded-For", "198.51.100.4"}
	limited := false
	for range 12 {
		r := login(t, app, "acme", "admin@acme.example", "a wrong guess", attacker...)
		if r.status == 429 {
			limited = true
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			break
		}
		if r.status != 401 {
			t.Fatalf("a wrong guess: %d %s", r.status, r.body)
		}
	}
	if !limited {
		t.Fatal("12 wrong guesses from one address were all checked")
	}
	for i := range 10 {
		if r := login(t, app, "acme", "admin@acme.example", firstAdminPassword, owner...); r.status != 200 {
			t.Fatalf("the owner's login %d: %d %s", i, r.status, r.body)
		}
	}
}

// countingPasswords is the real hasher, counting how many checks run at
// once.
type countingPasswords struct {
	auth.Argon2
	now, most atomic.Int64
}

func (c *countingPasswords) enter() func() {
	n := c.now.Add(1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	return func() { c.now.Add(-1) }
}

func (c *countingPasswords) Check(ctx context.Context, hash, pw string) (bool, error) {
	defer c.enter()()
	return c.Argon2.Check(ctx, hash, pw)
}

func (c *countingPasswords) Dummy(ctx context.Context, pw string) error {
	defer c.enter()()
	return c.Argon2.Dummy(ctx, pw)
}

// 64 anonymous logins with unknown emails at once: before, every one ran
// its argon2id check at once (64 MiB each). Now at most the pool's slots
// run, the rest wait their turn or are told to come back.
func TestPasswordWorkIsBounded(t *testing.T) {
	pw := &countingPasswords{Argon2: auth.Argon2{MemoryKiB: 8 << 10, Passes: 1}}
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 2 * time.Second, TrustedProxies: []string{"0.0.0.0"}},
		func(c *assembly.Config) { c.Passwords = pw; c.PasswordSlots = 2 })
	var wg sync.WaitGroup
	var busy, refused atomic.Int64
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := login(t, app, []string{"acme", "globex"}[i%2], fmt.Sprintf("nobody%d@nowhere.example", i), "some password",
				"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
			switch r.status {
			case 401:
				refused.Add(1)
			case 503:
				if r.header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				busy.Add(1)
			default:
				t.Errorf("login: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if most := pw.most.Load(); most > 2 {
		t.Fatalf("%d password checks ran at once, the pool has 2 slots", most)
	}
	if refused.Load() == 0 {
		t.Fatal("no login was checked")
	}
	t.Logf("%d checked, %d told to retry", refused.Load(), busy.Load())
}

// The security log records a bounded amount of each attempt: before, 12 KB
// paths were written whole.
func TestSecurityLogEntriesAreBounded(t *testing.T) {
	app, st := newStackApp(t)
	tok := mint(t, app, "acme", "u-a", []user.Role{user.Admin})
	long := "/api/v1/invoices/" + strings.Repeat("a", 12<<10)
	if code := problemCode(t, caller{t: t, app: app, tenant: "globex", token: tok}.do("GET", long, ""), 403); code != "tenant_mismatch" && code != "not_found" {
		t.Fatalf("code %s", code)
	}
	n, _ := streams.NewName("globex", "security", "log")
	recs, err := st.Store.ReadStream(tenant.With(context.Background(), "globex"), n)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if len(r.Data) > 1024 {
			t.Fatalf("a security event of %d bytes", len(r.Data))
		}
	}
}

// A tenant over its request rate is answered 429 with Retry-After; another
// tenant at the same moment is served. The rate is the platform's to set,
// not the tenant's.
func TestTenantOverItsRateLeavesOthersServed(t *testing.T) {
	app := newApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	acmeAdmin := as(t, app, "acme", "u-adm", "admin")
	if r := acmeAdmin.do("PUT", "/admin/v1/tenants/acme/limits", `{"requests_per_second":100000}`); r.status != 401 && r.status != 403 {
		t.Fatalf("a tenant admin set their own limits: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/limits", `{"requests_per_second":-1}`); problemCode(t, r, 400) != "invalid_limit" {
		t.Fatalf("negative rate: %s", r.body)
	}
	r := root.do("PUT", "/admin/v1/tenants/acme/limits", `{"requests_per_second":5,"burst":10,"concurrent_requests":2}`)
	if r.status != 200 || r.json(t)["limits"].(map[string]any)["burst"] != float64(10) {
		t.Fatalf("set limits: %d %s", r.status, r.body)
	}
	acme := as(t, app, "acme", "u", "finance")
	globex := as(t, app, "globex", "u", "finance")
	var limited int
	start := time.Now()
	for range 40 {
		r := acme.do("GET", "/api/v1/invoices", "")
		if r.status == 429 {
			limited++
			if code := problemCode(t, r, 429); code != "rate_limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 %s without Retry-After %q", code, r.header.Get("Retry-After"))
			}
		}
		if g := globex.do("GET", "/api/v1/invoices", ""); g.status != 200 {
			t.Fatalf("globex while acme is over its rate: %d %s", g.status, g.body)
		}
	}
	// The bucket let through at most its burst and what refilled it while
	// the requests were made (a loaded machine makes them slower): every
	// other one is refused.
	elapsed := time.Since(start)
	allowed := 10 + int(5*elapsed.Seconds()) + 1
	if want := max(1, 40-allowed); limited < want {
		t.Fatalf("only %d of 40 requests over a rate of 5/s (burst 10) in %s were refused, want %d", limited, elapsed.Round(time.Millisecond), want)
	}
	if limited > 30 {
		t.Fatalf("%d of 40 requests refused: the burst of 10 did not get through", limited)
	}
	m := (caller{t: t, app: app}).do("GET", "/metrics", "")
	if want := fmt.Sprintf(`atrium_admission_refused_total{reason="rate_limited",tenant="acme"} %d`, limited); !strings.Contains(string(m.body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// Ids in the other forms a UUID parser takes ("urn:uuid:…", "{…}") name
// nothing: 404 or 422, never a 500 (before, their stream names were refused
// deep inside and answered 500).
func TestNonCanonicalIDsNameNothing(t *testing.T) {
	app := newApp(t)
	c := as(t, app, "acme", "u-all", "admin,finance,manager,auditor,sales")
	id := uuid.NewString()
	for _, form := range []string{"urn:uuid:" + id, "{" + id + "}", strings.ReplaceAll(id, "-", ""), strings.ToUpper("urn:uuid:" + id)} {
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/api/v1/invoices/%s", ""},
			{"GET", "/api/v1/invoices/%s?as_of=2026-11-23T10:00:00Z", ""},
			{"GET", "/api/v1/invoices/%s/history", ""},
			{"POST", "/api/v1/invoices/%s/issue", ""},
			{"POST", "/api/v1/invoices/%s/approve", ""},
			{"POST", "/api/v1/invoices/%s/cancel", `{"reason":"r"}`},
			{"POST", "/api/v1/invoices/%s/payments", `{"amount":{"amount":1,"currency":"EUR"},"paid_at":"2026-11-20","reference":"x"}`},
			{"GET", "/api/v1/expenses/%s", ""},
			{"GET", "/api/v1/expenses/%s?as_of=2026-11-23T10:00:00Z", ""},
			{"GET", "/api/v1/expenses/%s/receipt", ""},
			{"POST", "/api/v1/expenses/%s/submit", ""},
			{"POST", "/api/v1/expenses/%s/approve", ""},
			{"POST", "/api/v1/expenses/%s/reimburse", ""},
			{"POST", "/api/v1/objectives/%s/submit", ""},
			{"POST", "/api/v1/objectives/%s/validate", ""},
			{"POST", "/api/v1/objectives", `{"assignee":"%s","period":"2026-Q4","metric":"revenue","target":{"amount":100,"currency":"EUR"}}`},
			{"POST", "/api/v1/invoices", `{"client":{"id":"C","name":"N"},"currency":"EUR","due_date":"2026-12-31","sales_rep":"%s","lines":[{"description":"d","quantity":1,"unit_price":{"amount":1,"currency":"EUR"}}]}`},
		} {
			path, body := rt.path, rt.body
			if strings.Contains(path, "%s") {
				path = fmt.Sprintf(path, url.PathEscape(form))
			} else {
				body = fmt.Sprintf(body, form)
			}
			r := c.do(rt.method, path, body)
			if r.status != 404 && r.status != 422 {
				t.Errorf("%s %s: %d %s", rt.method, path, r.status, r.body)
			}
		}
	}
}

// A flood of strangers' sign-ins fills a tenant's queue for password work;
// a client that signed in to its account before waits in a lane of its
// own and still gets in.
func TestKnownClientsSignInThroughAFlood(t *testing.T) {
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 2 * time.Second, TrustedProxies: []string{"0.0.0.0"}},
		func(c *assembly.Config) {
			c.Passwords = auth.Argon2{MemoryKiB: 8 << 10, Passes: 2}
			c.PasswordSlots = 1
		})
	owner := []string{"X-Forwarded-For", "198.51.100.7"}
	if r := login(t, app, "acme", "admin@acme.example", firstAdminPassword, owner...); r.status != 200 {
		t.Fatalf("first sign-in: %d %s", r.status, r.body)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var busy atomic.Int64
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r := login(t, app, "acme", fmt.Sprintf("guess%d-%d@nowhere.example", i, n), "some password",
					"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
				if r.status == 503 {
					busy.Add(1)
				}
			}
		}()
	}
	waitFor(t, func() bool { return busy.Load() > 0 }) // the tenant's queue is full
	for i := range 5 {
		if r := login(t, app, "acme", "admin@acme.example", firstAdminPassword, owner...); r.status != 200 {
			t.Errorf("the owner's sign-in %d during the flood: %d %s", i, r.status, r.body)
		}
	}
	close(stop)
	wg.Wait()
}

// /metrics answers only the bearer of the token the operator set.
func TestMetricsToken(t *testing.T) {
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: clock, MetricsToken: "scrape-secret"})
	anon := caller{t: t, app: app}
	if r := anon.do("GET", "/metrics", ""); r.status != 401 {
		t.Fatalf("/metrics without the token: %d", r.status)
	}
	if r := anon.do("GET", "/metrics", "", "Authorization", "Bearer scrape-secret"); r.status != 200 || !strings.Contains(string(r.body), "atrium_http_requests_total") {
		t.Fatalf("/metrics with the token: %d %s", r.status, r.body)
	}
}
