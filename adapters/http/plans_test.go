package http_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// Plans are the platform's: defined and assigned by its administrators,
// never by a tenant's. A tenant on a plan is held to its commands a minute
// (429 quota_exceeded naming the limit, with Retry-After, and nothing
// written); another tenant at the same moment is not; a change of plan
// holds at once, with no restart.
func TestPlanQuotas(t *testing.T) {
	app, st := newStackApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	acmeAdmin := as(t, app, "acme", "u-adm", "admin")
	for _, rt := range []struct{ method, path, body string }{
		{"PUT", "/admin/v1/plans/free-for-all", `{"commands_per_minute":0}`},
		{"PUT", "/admin/v1/tenants/acme/plan", `{"plan":""}`},
		{"GET", "/admin/v1/plans", ""},
	} {
		if r := acmeAdmin.do(rt.method, rt.path, rt.body); r.status != 401 && r.status != 403 {
			t.Fatalf("a tenant admin: %s %s answered %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	for body, code := range map[string]string{
		`{"commands_per_minute":-1}`:       "invalid_limit",
		`{"seats":1e12}`:                   "invalid_request",
		`{"concurrent_requests":99999999}`: "invalid_limit",
		`{"commands_per_minute":"lots"}`:   "invalid_request",
	} {
		r := root.do("PUT", "/admin/v1/plans/starter", body)
		if got := problemCode(t, r, 400); got != code {
			t.Fatalf("plan %s: %s, want %s", body, got, code)
		}
	}
	for _, name := range []string{"S", "a", "../etc", strings.Repeat("x", 40), "gold%20plan", "%00", "gold%2Fplan"} {
		if r := root.do("PUT", "/admin/v1/plans/"+name, `{"seats":1}`); r.status < 400 || r.status >= 500 {
			t.Fatalf("plan named %q: %d %s", name, r.status, r.body)
		}
	}
	if got := problemCode(t, root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"nonesuch"}`), 404); got != "plan_not_found" {
		t.Fatalf("an unknown plan: %s", got)
	}
	r := root.do("PUT", "/admin/v1/plans/starter", `{"seats":5,"commands_per_minute":3,"concurrent_requests":2}`)
	if r.status != 200 || r.json(t)["limits"].(map[string]any)["commands_per_minute"] != float64(3) {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/plans", ""); r.status != 200 || !strings.Contains(string(r.body), `"starter"`) {
		t.Fatalf("plans: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"starter"}`); r.status != 200 || r.json(t)["plan"] != "starter" {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	if got := st.Limits("acme").ConcurrentRequests; got != 2 {
		t.Fatalf("acme's admission allows %d requests at once, its plan 2", got)
	}

	acme := as(t, app, "acme", "u-fin", "finance")
	globex := as(t, app, "globex", "u-fin", "finance")
	headBefore := func() uint64 {
		h, err := st.Store.Head(tenant.With(context.Background(), "acme"))
		if err != nil {
			t.Fatal(err)
		}
		return uint64(h)
	}
	// Refused calls (a role without the right, a bad body) do nothing the
	// plan counts: they spend none of the tenant's minute.
	sales := as(t, app, "acme", "u-sales", "sales")
	for range 5 {
		if r := sales.do("POST", "/api/v1/users", `{"email":"x@acme.example","name":"X","password":"correct horse battery","roles":["admin"]}`); r.status != 403 {
			t.Fatalf("a salesperson adding an admin: %d %s", r.status, r.body)
		}
		if r := acme.do("POST", "/api/v1/invoices", `{"currency":`); r.status != 400 {
			t.Fatalf("a bad body: %d %s", r.status, r.body)
		}
	}
	for i := range 3 {
		if r := acme.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 100+i)); r.status != 201 {
			t.Fatalf("command %d of 3 a minute: %d %s", i+1, r.status, r.body)
		}
	}
	before := headBefore()
	r = acme.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 200))
	if problemCode(t, r, 429) != "quota_exceeded" || r.header.Get("Retry-After") == "" || r.json(t)["field"] != "commands_per_minute" {
		t.Fatalf("the 4th command in a minute: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	if after := headBefore(); after != before {
		t.Fatalf("a refused command wrote: head %d, was %d", after, before)
	}
	if r := acme.do("GET", "/api/v1/invoices", ""); r.status != 200 {
		t.Fatalf("a read over the command quota: %d %s", r.status, r.body)
	}
	for i := range 5 {
		if r := globex.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 300+i)); r.status != 201 {
			t.Fatalf("globex, on no plan, while acme is over its quota: %d %s", r.status, r.body)
		}
	}
	m := (caller{t: t, app: app}).do("GET", "/metrics", "")
	if !strings.Contains(string(m.body), `atrium_admission_refused_total{reason="quota_exceeded",tenant="acme"} 1`) {
		t.Fatal("/metrics does not count the refusal")
	}
	// Off the plan, at once.
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":""}`); r.status != 200 || r.json(t)["plan"] != "" {
		t.Fatalf("unassign: %d %s", r.status, r.body)
	}
	if got := st.Limits("acme").ConcurrentRequests; got == 2 {
		t.Fatal("off its plan, acme keeps the plan's requests at once")
	}
	if r := acme.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 400)); r.status != 201 {
		t.Fatalf("off the plan: %d %s", r.status, r.body)
	}
}

// A plan's seats bound a tenant's members, invitations included: past
// them 403 quota_exceeded naming the limit, and nothing of the refused
// member written; another tenant is not bound by them.
func TestPlanSeats(t *testing.T) {
	app, _ := newStackApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	admin := as(t, app, "acme", "u-adm", "admin")
	members := func(c caller) int {
		t.Helper()
		r := c.do("GET", "/api/v1/users?limit=500", "")
		if r.status != 200 {
			t.Fatalf("members: %d %s", r.status, r.body)
		}
		return len(r.json(t)["items"].([]any))
	}
	now := members(admin)
	if r := root.do("PUT", "/admin/v1/plans/team", fmt.Sprintf(`{"seats":%d}`, now+1)); r.status != 200 {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"team"}`); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	add := func(c caller, email string) reply {
		return c.do("POST", "/api/v1/users", fmt.Sprintf(`{"email":%q,"name":"New","password":"correct horse battery","roles":["sales"]}`, email))
	}
	if r := add(admin, "one@acme.example"); r.status != 201 {
		t.Fatalf("the last seat: %d %s", r.status, r.body)
	}
	r := add(admin, "two@acme.example")
	if problemCode(t, r, 403) != "quota_exceeded" || r.json(t)["field"] != "seats" {
		t.Fatalf("past the seats: %d %s", r.status, r.body)
	}
	if got := members(admin); got != now+1 {
		t.Fatalf("acme has %d members, want %d", got, now+1)
	}
	globex := as(t, app, "globex", "u-adm", "admin")
	for i := range 3 {
		if r := add(globex, fmt.Sprintf("g%d@globex.example", i)); r.status != 201 {
			t.Fatalf("globex, on no plan: %d %s", r.status, r.body)
		}
	}
	// More seats, at once.
	if r := root.do("PUT", "/admin/v1/plans/team", fmt.Sprintf(`{"seats":%d}`, now+2)); r.status != 200 {
		t.Fatalf("redefine: %d %s", r.status, r.body)
	}
	if r := add(admin, "two@acme.example"); r.status != 201 {
		t.Fatalf("a seat more: %d %s", r.status, r.body)
	}
}

// Members added at the same moment take the seats one at a time: never
// more than the plan's.
func TestPlanSeatsUnderConcurrentAdds(t *testing.T) {
	app, _ := newStackApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	admin := as(t, app, "acme", "u-adm", "admin")
	r := admin.do("GET", "/api/v1/users?limit=500", "")
	now := len(r.json(t)["items"].([]any))
	if r := root.do("PUT", "/admin/v1/plans/team", fmt.Sprintf(`{"seats":%d,"concurrent_requests":1}`, now+2)); r.status != 200 {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"team"}`); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	const n = 12
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := admin.do("POST", "/api/v1/users", fmt.Sprintf(`{"email":"c%d@acme.example","name":"New","password":"correct horse battery","roles":["sales"]}`, i))
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[201] != 2 || count[403] != n-2 {
		t.Fatalf("%d members added for 2 seats left: %v", count[201], count)
	}
}

// A plan's document bytes bound what a tenant keeps: a receipt that would
// pass them is refused (403 quota_exceeded naming the limit) with nothing
// stored or recorded; another tenant is not bound by them.
func TestPlanDocumentBytes(t *testing.T) {
	app, st := newStackApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	if r := root.do("PUT", "/admin/v1/plans/small", `{"document_bytes":100}`); r.status != 200 {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"small"}`); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	claim := func(c caller) string {
		t.Helper()
		r := c.do("POST", "/api/v1/expenses", `{"category":"meals","amount":{"amount":8000,"currency":"EUR"},"spent_on":"2026-11-20","description":"Lunch"}`)
		if r.status != 201 {
			t.Fatalf("draft: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	pdf := func(n int) []byte { return append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), n-9)...) }
	emp := as(t, app, "acme", "u-emp", "employee")
	first, second := claim(emp), claim(emp)
	if r := emp.upload("/api/v1/expenses/"+first+"/receipt", "application/pdf", pdf(60)); r.status != 200 {
		t.Fatalf("60 bytes of 100: %d %s", r.status, r.body)
	}
	ctx := tenant.With(context.Background(), "acme")
	before, err := st.Documents.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := st.Store.Head(ctx)
	r := emp.upload("/api/v1/expenses/"+second+"/receipt", "application/pdf", pdf(60))
	if problemCode(t, r, 403) != "quota_exceeded" || r.json(t)["field"] != "document_bytes" {
		t.Fatalf("120 bytes of 100: %d %s", r.status, r.body)
	}
	after, err := st.Documents.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := st.Store.Head(ctx); len(after) != len(before) || h != head {
		t.Fatalf("a refused receipt left %d objects (was %d), head %d (was %d)", len(after), len(before), h, head)
	}
	if r := emp.upload("/api/v1/expenses/"+second+"/receipt", "application/pdf", pdf(40)); r.status != 200 {
		t.Fatalf("100 bytes of 100: %d %s", r.status, r.body)
	}
	g := as(t, app, "globex", "u-emp", "employee")
	if r := g.upload("/api/v1/expenses/"+claim(g)+"/receipt", "application/pdf", pdf(500)); r.status != 200 {
		t.Fatalf("globex, on no plan: %d %s", r.status, r.body)
	}
}
