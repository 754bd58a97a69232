package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/auth"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
	"github.com/google/uuid"
)

func clock() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

var platformAdmin = user.Principal{ID: "root", Roles: []user.Role{user.PlatformAdmin}}

// newApp runs the whole stack in-process: embedded JetStream, SQLite read
// stores, the projections, the tenant catalog, the command handlers and the
// API, with acme and globex provisioned through the catalog.
func newApp(t *testing.T) *fiber.App {
	t.Helper()
	app, _ := newStackApp(t)
	return app
}

func newStackApp(t *testing.T) (*fiber.App, *assembly.Process) {
	t.Helper()
	return newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 2 * time.Second})
}

// newStackAppWith is newStackApp with cfg for the API, and the process's
// configuration changed by mods: the process is built by the assembly, as
// serve builds it, with every module.
func newStackAppWith(t *testing.T, cfg atriumhttp.Config, mods ...func(*assembly.Config)) (*fiber.App, *assembly.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	sc := assembly.Config{DataDir: t.TempDir(), Now: clock, BaseDomain: "atrium.test", HTTP: cfg, Modules: modules.All(),
		Passwords: auth.Argon2{MemoryKiB: 1024, Passes: 1}} // a light cost: these tests hash hundreds of passwords
	if u := kurrentDBURL(); u != "" {
		// make test-integration: the same suite on KurrentDB, each process
		// in a namespace of its own.
		sc.EventStore, sc.KurrentDBURL, sc.KurrentDBNamespace = assembly.StoreKurrentDB, u, "http-"+uuid.NewString()[:8]+":"
	}
	for _, m := range mods {
		m(&sc)
	}
	st, err := assembly.Open(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	admin := user.With(ctx, platformAdmin)
	for _, tn := range []string{"acme", "globex"} {
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{Slug: tn, Name: tn + " inc",
			Domains: []string{"billing." + tn + ".example"},
			Admin:   tenancycmd.FirstAdmin{Email: "admin@" + tn + ".example", Name: "Admin", Password: "first admin password"}}); err != nil {
			t.Fatal(err)
		}
	}
	app := st.HTTP
	stacks.Store(app, st)
	return app, st
}

// stacks finds the stack behind an app, for minting tokens.
var stacks sync.Map

// mint opens a login for userID in tn (empty: the platform) and returns an
// access token signed by the stack's issuer, as a login would.
func mint(t *testing.T, app *fiber.App, tn, userID string, roles []user.Role) string {
	t.Helper()
	v, _ := stacks.Load(app)
	st := v.(*assembly.Process)
	sess := identitycmd.Session{ID: uuid.NewString(), UserID: userID, Tenant: tenant.ID(tn), Current: "unused", ExpiresAt: clock().Add(30 * 24 * time.Hour), Roles: roles}
	if tn == "" {
		sess.Tenant = tenant.Platform
	}
	if err := st.Secrets.Create(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	tok, _, err := st.Issuer.Issue(auth.Claims{Subject: user.ID(userID), Tenant: tenant.ID(tn), Roles: roles, SessionID: sess.ID})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type caller struct {
	t      *testing.T
	app    *fiber.App
	tenant string
	token  string
}

// as is a caller of tenant tn (header X-Tenant), holding a token for
// userID with roles (comma-separated) in that tenant; no userID, no token.
func as(t *testing.T, app *fiber.App, tn, userID, roles string) caller {
	t.Helper()
	c := caller{t: t, app: app, tenant: tn}
	if userID != "" {
		var rs []user.Role
		for _, r := range strings.Split(roles, ",") {
			if r != "" {
				rs = append(rs, user.Role(r))
			}
		}
		c.token = mint(t, app, tn, userID, rs)
	}
	return c
}

type reply struct {
	status int
	header nethttp.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (c caller) do(method, path, body string, hdr ...string) reply {
	c.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.tenant != "" {
		req.Header.Set("X-Tenant", c.tenant)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.app.Test(req, 30_000)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode >= 500 && resp.StatusCode != 503 {
		c.t.Fatalf("%s %s answered %d: %s", method, path, resp.StatusCode, b)
	}
	checkAnswer(c.t, c.app, req, resp.StatusCode, resp.Header, b)
	return reply{resp.StatusCode, resp.Header, b}
}

// problemCode asserts a problem+json answer and returns its code.
func problemCode(t *testing.T, r reply, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q for %s", ct, r.body)
	}
	m := r.json(t)
	for _, k := range []string{"type", "title", "status", "code"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("problem without %q: %s", k, r.body)
		}
	}
	return m["code"].(string)
}

const invoiceBody = `{"client":{"id":"C-1","name":"Northwind"},"currency":"EUR","due_date":"2026-10-01",
	"lines":[{"description":"Consulting","quantity":3,"unit_price":{"amount":%d,"currency":"EUR"}}]}`

func create(t *testing.T, c caller, price int) (id string, position string) {
	t.Helper()
	r := c.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, price))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if r.header.Get("ETag") != `"1"` || m["version"].(float64) != 1 {
		t.Fatalf("create answer %s etag %s", r.body, r.header.Get("ETag"))
	}
	return m["id"].(string), fmt.Sprint(int64(m["position"].(float64)))
}

func position(t *testing.T, r reply) string {
	t.Helper()
	return fmt.Sprint(int64(r.json(t)["position"].(float64)))
}

func TestInvoiceFlow(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")

	id, _ := create(t, fin, 500_000) // 15,000.00: needs validation
	r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
	if r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	pos := position(t, r)
	got := fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", pos)
	if got.status != 200 || got.json(t)["status"] != "pending_validation" {
		t.Fatalf("after issue: %d %s", got.status, got.body)
	}
	if got.header.Get("X-Projection-Position") == "" {
		t.Fatal("read without X-Projection-Position")
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+id+"/approve", ""), 422); code != "self_approval" {
		t.Fatalf("self approval: %s", code)
	}
	if code := problemCode(t, as(t, app, "acme", "u-sales", "sales").do("POST", "/api/v1/invoices/"+id+"/approve", ""), 403); code != "forbidden" {
		t.Fatalf("sales approving: %s", code)
	}
	if r := mgr.do("POST", "/api/v1/invoices/"+id+"/approve", "{}"); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	pay := func(amount int) reply {
		return fin.do("POST", "/api/v1/invoices/"+id+"/payments", fmt.Sprintf(`{"amount":{"amount":%d,"currency":"EUR"},"paid_at":"2026-11-20","reference":"wire 1"}`, amount))
	}
	if code := problemCode(t, pay(2_000_000), 422); code != "overpayment" {
		t.Fatalf("overpayment: %s", code)
	}
	if r := pay(500_000); r.status != 200 {
		t.Fatalf("partial payment: %d %s", r.status, r.body)
	}
	r = pay(1_000_000)
	if r.status != 200 {
		t.Fatalf("final payment: %d %s", r.status, r.body)
	}
	inv := fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, r)).json(t)
	if inv["status"] != "paid" || inv["number"] != "INV-2026-000001" || inv["overdue"] != false {
		t.Fatalf("paid invoice %v", inv)
	}
	if due := inv["due"].(map[string]any); due["amount"].(float64) != 0 || due["currency"] != "EUR" {
		t.Fatalf("due %v", due)
	}
	hist := fin.do("GET", "/api/v1/invoices/"+id+"/history", "").json(t)["items"].([]any)
	if len(hist) != 6 || hist[0].(map[string]any)["type"] != "invoice.drafted.v1" {
		t.Fatalf("history %v", hist)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+id+"/cancel", `{"reason":"late"}`), 409); code != "invalid_state" {
		t.Fatalf("cancel paid: %s", code)
	}

	// Another invoice: issued below the threshold, overdue, in the aging report.
	id2, _ := create(t, fin, 10_000)
	r = fin.do("POST", "/api/v1/invoices/"+id2+"/issue", "")
	aging := fin.do("GET", "/api/v1/collections/aging", "", "X-Read-After", position(t, r))
	items := aging.json(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["31_60"].(map[string]any)["amount"].(float64) != 30_000 {
		t.Fatalf("aging %s", aging.body)
	}
	// Client risk: the overdue issued invoice, and the settled one paid late.
	risk := fin.do("GET", "/api/v1/collections/clients", "").json(t)["items"].([]any)
	if len(risk) != 1 {
		t.Fatalf("client risk %v", risk)
	}
	cr := risk[0].(map[string]any)
	if cr["overdue"].(map[string]any)["amount"].(float64) != 30_000 || cr["paid_invoices"].(float64) != 1 || cr["paid_late"].(float64) != 1 ||
		cr["average_days_late"].(float64) != 50 || cr["days_sales_outstanding"] == nil {
		t.Fatalf("client risk %v", cr)
	}
	list := fin.do("GET", "/api/v1/invoices?status=issued", "").json(t)["items"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["overdue"] != true {
		t.Fatalf("issued list %v", list)
	}
	// State as of before the payments.
	before := fin.do("GET", "/api/v1/invoices/"+id+"?as_of="+clock().Add(-time.Hour).Format(time.RFC3339), "")
	if before.status != 404 {
		t.Fatalf("as_of before creation: %d %s", before.status, before.body)
	}
	now := fin.do("GET", "/api/v1/invoices/"+id+"?as_of="+clock().Add(time.Hour).Format(time.RFC3339), "")
	if now.status != 200 || now.json(t)["status"] != "paid" {
		t.Fatalf("as_of now: %d %s", now.status, now.body)
	}
}

func TestIfMatchAndIdempotency(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	body := fmt.Sprintf(invoiceBody, 1000)
	first := fin.do("POST", "/api/v1/invoices", body, "Idempotency-Key", "k-1")
	again := fin.do("POST", "/api/v1/invoices", body, "Idempotency-Key", "k-1")
	if first.status != 201 || again.status != 201 || string(first.body) != string(again.body) {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.body, again.status, again.body)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 2000), "Idempotency-Key", "k-1"), 422); code != "idempotency_key_reused" {
		t.Fatalf("reuse: %s", code)
	}
	id := first.json(t)["id"].(string)
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+id+"/issue", "", "If-Match", `"7"`), 412); code != "version_conflict" {
		t.Fatalf("stale If-Match: %s", code)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+id+"/issue", "", "If-Match", `banana`), 400); code != "invalid_if_match" {
		t.Fatalf("bad If-Match: %s", code)
	}
	r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", "", "If-Match", `"1"`)
	if r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("current If-Match: %d %s", r.status, r.body)
	}
	hist := fin.do("GET", "/api/v1/invoices/"+id+"/history", "").json(t)["items"].([]any)
	if len(hist) != 2 {
		t.Fatalf("%d events after replays and a stale If-Match, want 2", len(hist))
	}
}

func TestBadInputIsAProblemNeverA500(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	id, _ := create(t, fin, 1000)
	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"malformed JSON", "POST", "/api/v1/invoices", `{"client":`, 400, "invalid_request", ""},
		{"unknown field", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"colour":"red"}`, 400, "invalid_request", "colour"},
		{"wrong type", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"2026-01-01","lines":[{"description":"x","quantity":"two","unit_price":{"amount":1,"currency":"EUR"}}]}`, 400, "invalid_request", "lines.quantity"},
		{"huge number", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"2026-01-01","lines":[{"description":"x","quantity":1,"unit_price":{"amount":99999999999999999999999,"currency":"EUR"}}]}`, 400, "invalid_request", "lines.unit_price.amount"},
		{"unit price beyond the bound", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"2026-01-01","lines":[{"description":"x","quantity":1000000000,"unit_price":{"amount":9223372036854775807,"currency":"EUR"}}]}`, 422, "amount_out_of_range", "lines[0].unit_price.amount"},
		{"overflowing line total", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"2026-01-01","lines":[{"description":"x","quantity":1000000000,"unit_price":{"amount":9223372037,"currency":"EUR"}}]}`, 422, "amount_out_of_range", "lines[0]"},
		{"negative quantity", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"2026-01-01","lines":[{"description":"x","quantity":-1,"unit_price":{"amount":1,"currency":"EUR"}}]}`, 400, "invalid_quantity", "lines[0].quantity"},
		{"bad date", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"31/12/2026","lines":[{"description":"x","quantity":1,"unit_price":{"amount":1,"currency":"EUR"}}]}`, 400, "invalid_date", "due_date"},
		{"bad currency", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"euro","due_date":"2026-01-01","lines":[{"description":"x","quantity":1,"unit_price":{"amount":1,"currency":"EUR"}}]}`, 422, "invalid_currency", "currency"},
		{"no lines", "POST", "/api/v1/invoices", `{"client":{"id":"a","name":"b"},"currency":"EUR","due_date":"2026-01-01","lines":[]}`, 400, "no_lines", "lines"},
		{"two values", "POST", "/api/v1/invoices/" + id + "/cancel", `{"reason":"a"}{"reason":"b"}`, 400, "invalid_request", ""},
		{"array body", "POST", "/api/v1/invoices/" + id + "/cancel", `["x"]`, 400, "invalid_request", "(body)"},
		{"non-uuid id", "POST", "/api/v1/invoices/not-an-id/issue", ``, 404, "invoice_not_found", ""},
		{"unknown invoice", "GET", "/api/v1/invoices/0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", ``, 404, "invoice_not_found", ""},
		{"unicode reason ok, bad paid_at", "POST", "/api/v1/invoices/" + id + "/payments", `{"amount":{"amount":1,"currency":"EUR"},"paid_at":"yesterday","reference":"ü✓"}`, 400, "invalid_request", "paid_at"},
		{"bad cursor", "GET", "/api/v1/invoices?cursor=%%%", ``, 400, "invalid_cursor", ""},
		{"limit too high", "GET", "/api/v1/invoices?limit=501", ``, 400, "invalid_request", "limit"},
		{"bad read-after", "GET", "/api/v1/invoices", ``, 400, "invalid_read_after", ""},
		{"unknown route", "GET", "/api/v1/nothing-here", ``, 404, "not_found", ""},
		{"bad as_of", "GET", "/api/v1/invoices/" + id + "?as_of=tuesday", ``, 400, "invalid_request", "as_of"},
		{"bad audit after", "GET", "/api/v1/audit/events?after=-1", ``, 400, "invalid_request", "after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.name == "bad read-after" {
				hdr = []string{"X-Read-After", "soon"}
			}
			r := fin.do(tc.method, tc.path, tc.body, hdr...)
			if code := problemCode(t, r, tc.status); code != tc.code {
				t.Fatalf("code %q, want %q: %s", code, tc.code, r.body)
			}
			if f, _ := r.json(t)["field"].(string); f != tc.field {
				t.Fatalf("field %q, want %q: %s", f, tc.field, r.body)
			}
		})
	}
	// The body limit is enforced while reading the request, so it needs a
	// real listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	// A 2 MiB JSON body is refused.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/invoices/%s/cancel HTTP/1.1\r\nHost: x\r\nX-Tenant: acme\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", id, fin.token, 2<<20, strings.Repeat("x", 2<<20))
	resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if code := problemCode(t, reply{resp.StatusCode, resp.Header, b}, 413); code != "payload_too_large" {
		t.Fatalf("2 MiB body: %s", code)
	}
	// Nothing of the refused commands was written.
	if hist := fin.do("GET", "/api/v1/invoices/"+id+"/history", "").json(t)["items"].([]any); len(hist) != 1 {
		t.Fatalf("refused commands wrote events: %d", len(hist))
	}
}

func TestTenantAndIdentityResolution(t *testing.T) {
	app := newApp(t)
	tests := []struct {
		name, tenant, user, roles string
		status                    int
		code                      string
	}{
		{"no tenant", "", "u", "finance", 400, "tenant_required"},
		{"unknown tenant", "initech", "u", "finance", 404, "tenant_not_found"},
		{"invalid slug", "../etc", "u", "finance", 404, "tenant_not_found"},
		{"reserved slug", "platform", "u", "admin", 404, "tenant_not_found"},
		{"valid slug, not provisioned", "hooli", "u", "admin", 404, "tenant_not_found"},
		{"no user", "acme", "", "", 401, "unauthorized"},
		{"employee reads invoices", "acme", "u", "employee", 403, "forbidden"},
	}
	for _, tc := range tests {
		r := as(t, app, tc.tenant, tc.user, tc.roles).do("GET", "/api/v1/invoices", "")
		if code := problemCode(t, r, tc.status); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, code, tc.code)
		}
	}
}

// TestCrossTenant tries, on every invoice route, to read or change globex's
// data from acme, and finds nothing of globex's.
func TestCrossTenant(t *testing.T) {
	app := newApp(t)
	globex := as(t, app, "globex", "u-g", "finance,admin,auditor")
	gid, gpos := create(t, globex, 1000)
	acme := as(t, app, "acme", "u-a", "finance,manager,admin,auditor")
	aid, _ := create(t, acme, 1000)

	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/invoices/" + gid, ""},
		{"GET", "/api/v1/invoices/" + gid + "?as_of=2030-01-01T00:00:00Z", ""},
		{"GET", "/api/v1/invoices/" + gid + "/history", ""},
		{"POST", "/api/v1/invoices/" + gid + "/issue", ""},
		{"POST", "/api/v1/invoices/" + gid + "/approve", ""},
		{"POST", "/api/v1/invoices/" + gid + "/reject", `{"reason":"x"}`},
		{"POST", "/api/v1/invoices/" + gid + "/payments", `{"amount":{"amount":1,"currency":"EUR"},"paid_at":"2026-11-01"}`},
		{"POST", "/api/v1/invoices/" + gid + "/cancel", `{"reason":"x"}`},
	}
	for _, rt := range routes {
		r := acme.do(rt.method, rt.path, rt.body)
		if r.status != 404 {
			t.Errorf("acme %s %s: %d %s, want 404", rt.method, rt.path, r.status, r.body)
		}
	}
	list := acme.do("GET", "/api/v1/invoices", "", "X-Read-After", "1").json(t)["items"].([]any)
	for _, it := range list {
		if it.(map[string]any)["id"] == gid {
			t.Fatal("globex's invoice in acme's list")
		}
	}
	events := acme.do("GET", "/api/v1/audit/events", "").json(t)["items"].([]any)
	for _, e := range events {
		if strings.HasPrefix(e.(map[string]any)["stream"].(string), "globex.") {
			t.Fatal("globex's event in acme's audit log")
		}
	}
	// globex's invoice is untouched.
	hist := globex.do("GET", "/api/v1/invoices/"+gid+"/history", "", "X-Read-After", gpos).json(t)["items"].([]any)
	if len(hist) != 1 {
		t.Fatalf("globex's invoice has %d events after acme's attempts", len(hist))
	}
	if r := globex.do("GET", "/api/v1/invoices/"+aid, ""); r.status != 404 {
		t.Fatalf("globex reading acme's invoice: %d", r.status)
	}
}

func TestAuditPagingAndNDJSON(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	for range 5 {
		create(t, fin, 1000)
	}
	if code := problemCode(t, fin.do("GET", "/api/v1/audit/events", ""), 403); code != "forbidden" {
		t.Fatalf("finance reading audit: %s", code)
	}
	aud := as(t, app, "acme", "u-aud", "auditor")
	p1 := aud.do("GET", "/api/v1/audit/events?limit=3", "").json(t)
	items := p1["items"].([]any)
	if len(items) != 3 || p1["next_cursor"] == nil {
		t.Fatalf("page 1 %v", p1)
	}
	// Position 1 is the tenant's first admin joining; the invoices follow.
	if items[0].(map[string]any)["type"] != "member.added.v1" {
		t.Fatalf("first event %v", items[0])
	}
	e := items[1].(map[string]any)
	md := e["metadata"].(map[string]any)
	if e["position"].(float64) <= items[0].(map[string]any)["position"].(float64) || e["type"] != "invoice.drafted.v1" || md["user_id"] != "u-fin" || md["correlation_id"] == "" {
		t.Fatalf("event %v", e)
	}
	p2 := aud.do("GET", "/api/v1/audit/events?limit=3&after="+p1["next_cursor"].(string), "").json(t)
	if n := len(p2["items"].([]any)); n < 2 {
		t.Fatalf("page 2 has %d", n)
	}
	r := aud.do("GET", "/api/v1/audit/events?after="+num(items[1].(map[string]any)["position"]), "", "Accept", "application/x-ndjson")
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("ndjson: %d %s", r.status, r.header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	var positions []float64
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		positions = append(positions, ev["position"].(float64))
	}
	if len(positions) == 0 || positions[0] != items[2].(map[string]any)["position"] {
		t.Fatalf("ndjson positions %v", positions)
	}
}

func TestOperations(t *testing.T) {
	app := newApp(t)
	anon := as(t, app, "", "", "")
	if r := anon.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := anon.do("GET", "/readyz", ""); r.status != 200 || r.json(t)["checks"] == nil {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	create(t, as(t, app, "acme", "u", "finance"), 1000)
	m := anon.do("GET", "/metrics", "")
	if m.status != 200 || !strings.Contains(string(m.body), `atrium_commands_total{command="create_invoice",outcome="ok",tenant="acme"} 1`) {
		t.Fatalf("metrics: %d %s", m.status, m.body)
	}
}

// kurrentDBURL is the KurrentDB the suite runs on (make test-integration),
// "" for the embedded JetStream.
func kurrentDBURL() string { return os.Getenv("ATRIUM_TEST_KURRENTDB_URL") }

// jetStreamOnly skips a test of JetStream's own workings when the suite
// runs on KurrentDB.
func jetStreamOnly(t *testing.T, why string) {
	t.Helper()
	if kurrentDBURL() != "" {
		t.Skipf("on JetStream only: %s", why)
	}
}

// num is a JSON number as the position it is (fmt.Sprint would write a
// large one with an exponent).
func num(v any) string {
	f, _ := v.(float64)
	return strconv.FormatFloat(f, 'f', -1, 64)
}
