package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/adapters/assembly"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections/erpsync"
	"github.com/atrium-platform/atrium/streams"
)

const billingSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// movable is a clock a test moves forward.
type movable struct {
	mu  sync.Mutex
	now time.Time
}

func (m *movable) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *movable) set(t time.Time) {
	m.mu.Lock()
	m.now = t
	m.mu.Unlock()
}

// newUsageApp is a stack on clk that writes the requests it counts every
// 50 ms and closes a day a minute after it ends, sending the records to
// billing when it is set.
func newUsageApp(t *testing.T, clk *movable, billing string) (*fiber.App, *assembly.Process) {
	t.Helper()
	return newStackAppWith(t, atriumhttp.Config{Now: clk.Now, ReadAfterMax: 2 * time.Second}, fastERP, func(c *assembly.Config) {
		c.Now = clk.Now
		c.Usage = assembly.UsageConfig{FlushEvery: 50 * time.Millisecond, SweepEvery: 100 * time.Millisecond, Grace: time.Minute}
		if billing != "" {
			c.Usage.BillingURL, c.Usage.BillingSecret = billing, billingSecret
		}
	})
}

// dayUsage is one day of a tenant's usage as the platform reads it (a
// read that is no request of the tenant's), or nil when the tenant did
// nothing that day.
func dayUsage(t *testing.T, root caller, tn, day string) *usage.Record {
	t.Helper()
	r := root.do("GET", "/admin/v1/tenants/"+tn+"/usage?from="+day+"&to="+day, "")
	if r.status != 200 {
		t.Fatalf("usage of %s: %d %s", tn, r.status, r.body)
	}
	var v struct {
		Tenant string         `json:"tenant"`
		Days   []usage.Record `json:"days"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Tenant != tn {
		t.Fatalf("usage of %s: %v %s", tn, err, r.body)
	}
	if len(v.Days) == 0 {
		return nil
	}
	if len(v.Days) != 1 || v.Days[0].Day != day || v.Days[0].Tenant != tn {
		t.Fatalf("usage of %s on %s: %s", tn, day, r.body)
	}
	return &v.Days[0]
}

// caughtUp waits until tn's read models have projected its log.
func caughtUp(t *testing.T, st *assembly.Process, tn string) streams.Position {
	t.Helper()
	ctx := tenant.With(context.Background(), tenant.ID(tn))
	head, err := st.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := st.Runner.WaitFor(wctx, head); err != nil {
		t.Fatal(err)
	}
	return head
}

// workSince counts what tn's log holds after position from: its events
// and their bytes (the platform's own bookkeeping left out).
func workSince(t *testing.T, st *assembly.Process, tn string, from streams.Position) (events, bytes int64) {
	t.Helper()
	recs, err := st.Store.ReadTenant(tenant.With(context.Background(), tenant.ID(tn)), from, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if !usage.Bookkeeping(r.Type) {
			events++
			bytes += int64(len(r.Data))
		}
	}
	return events, bytes
}

// A tenant's usage is metered from outside: its commands, their events
// and bytes, its API requests and its active members, day by day, each
// tenant's its own. Once the day is over it is closed and sent to
// billing, signed, under one id however often it is tried, and once
// taken never sent again. Only the tenant's admins and the platform read
// it; a bad range is a 400 and writes nothing.
func TestUsageIsMeteredPerTenantAndBilledOncePerDay(t *testing.T) {
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	bill.answer = func(n int, _ erpsync.Message) (int, map[string]string, time.Duration) {
		if n == 0 {
			return 503, nil, 0 // billing down once: sent again, under the same id
		}
		return 0, nil, 0
	}
	app, st := newUsageApp(t, clk, bill.url())
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	day := usage.Day(clk.Now())

	// Baselines once provisioning is projected: no request yet, no member
	// active (the platform provisioned the tenant).
	base := map[string]*usage.Record{}
	heads := map[string]streams.Position{}
	for _, tn := range []string{"acme", "globex"} {
		heads[tn] = caughtUp(t, st, tn)
		base[tn] = dayUsage(t, root, tn, day)
		if base[tn] == nil || base[tn].APIRequests != 0 || base[tn].ActiveMembers != 0 || base[tn].Commands == 0 {
			t.Fatalf("%s after provisioning: %+v", tn, base[tn])
		}
	}

	anon := caller{t: t, app: app, tenant: "acme"}
	toks, r := loginAs(t, anon, "admin@acme.example", "first admin password")
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	admin := bearer(t, anon, toks.access)
	if r := admin.do("POST", "/api/v1/users", `{"email":"fiona@acme.example","name":"Fiona","password":"correct horse battery","roles":["finance"]}`); r.status != 201 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	toks, r = loginAs(t, anon, "fiona@acme.example", "correct horse battery")
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	fiona := bearer(t, anon, toks.access)
	for i := range 3 {
		create(t, fiona, 100+i)
	}
	// A keyed command is one command, however often it is sent (its
	// answer's record is the platform's bookkeeping).
	for range 2 {
		if r := fiona.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 103), "Idempotency-Key", "usage-keyed-1"); r.status != 201 {
			t.Fatalf("a keyed draft: %d %s", r.status, r.body)
		}
	}
	id, _ := create(t, fiona, 900)
	if r := fiona.do("POST", "/api/v1/invoices/"+id+"/issue", ""); r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	for range 2 {
		if r := fiona.do("GET", "/api/v1/invoices", ""); r.status != 200 {
			t.Fatalf("list: %d", r.status)
		}
	}
	// Refused: a member who is not an admin, another tenant's admin, no
	// one, a tenant's admin on the platform's route, bad ranges. Each is
	// one request of acme's at most (the refused admitted ones count as
	// requests: they were served).
	if code := problemCode(t, fiona.do("GET", "/api/v1/usage", ""), 403); code != "forbidden" {
		t.Fatalf("a finance member read the usage: %s", code)
	}
	cross := admin
	cross.tenant = "globex"
	if code := problemCode(t, cross.do("GET", "/api/v1/usage", ""), 403); code != "tenant_mismatch" {
		t.Fatalf("acme's admin read globex's usage: %s", code)
	}
	if r := anon.do("GET", "/api/v1/usage", ""); r.status != 401 {
		t.Fatalf("anonymous: %d %s", r.status, r.body)
	}
	if r := admin.do("GET", "/admin/v1/tenants/globex/usage", ""); r.status != 401 && r.status != 403 {
		t.Fatalf("a tenant admin on the platform's route: %d %s", r.status, r.body)
	}
	for _, q := range []string{"from=2026-13-01", "from=2026-11-23&to=2026-11-22", "from=2025-01-01&to=2026-11-23", "to=tomorrow",
		"from=2026-11-23%27%3B--", "from=" + strings.Repeat("9", 5000)} {
		if r := root.do("GET", "/admin/v1/tenants/acme/usage?"+q, ""); problemCode(t, r, 400) != "invalid_range" {
			t.Fatalf("range %s: %d %s", q, r.status, r.body)
		}
	}
	for _, slug := range []string{"nonesuch", "..%2Facme", "ACME"} {
		if r := root.do("GET", "/admin/v1/tenants/"+slug+"/usage", ""); r.status != 404 {
			t.Fatalf("tenant %s: %d %s", slug, r.status, r.body)
		}
	}
	// A year is one query's bound, and answered.
	if r := root.do("GET", "/admin/v1/tenants/acme/usage?from=2025-11-24&to=2026-11-23", ""); r.status != 200 {
		t.Fatalf("a year: %d %s", r.status, r.body)
	}
	gfin := as(t, app, "globex", "u-gfin", "finance")
	create(t, gfin, 100)

	// acme: the member added, 6 drafts (the keyed one sent twice), the
	// issue, 2 lists and fiona's refused read (admitted, so served); the
	// other refusals were never admitted as anyone's. globex: the draft.
	const acmeRequests, globexRequests = 1 + 6 + 1 + 2 + 1, 1
	want := map[string]struct{ commands, requests, members, events int64 }{
		// the member added, her first sign-in (she joined), 5 drafts (the
		// keyed one once), 1 issue (the invoice issued and its number: 2
		// events)
		"acme":   {base["acme"].Commands + 8, acmeRequests, 2, 9},
		"globex": {base["globex"].Commands + 1, globexRequests, 0, 1},
	}
	got := map[string]*usage.Record{}
	for tn, w := range want {
		eventually(t, tn+"'s requests written and projected", func() bool {
			u := dayUsage(t, root, tn, day)
			return u != nil && u.APIRequests >= w.requests
		})
		caughtUp(t, st, tn)
		u := dayUsage(t, root, tn, day)
		events, bytes := workSince(t, st, tn, heads[tn])
		if u.Commands != w.commands || u.APIRequests != w.requests || u.ActiveMembers != w.members || events != w.events ||
			u.Events != base[tn].Events+events || u.EventBytes != base[tn].EventBytes+bytes || u.ERPMessages != 0 {
			t.Fatalf("%s's usage %+v; want commands %d, requests %d, active members %d, events %d+%d, bytes %d+%d",
				tn, *u, w.commands, w.requests, w.members, base[tn].Events, events, base[tn].EventBytes, bytes)
		}
		if !u.Closed.IsZero() || u.ReadDatabaseBytes <= 0 || u.Members < 1 {
			t.Fatalf("%s's open day: %+v", tn, *u)
		}
		got[tn] = u
	}
	// The tenant's admin reads the same figures.
	r = admin.do("GET", "/api/v1/usage?from="+day+"&to="+day, "")
	var own struct{ Days []usage.Record }
	if r.status != 200 || json.Unmarshal(r.body, &own) != nil || len(own.Days) != 1 || own.Days[0].Commands != got["acme"].Commands {
		t.Fatalf("acme's admin: %d %s", r.status, r.body)
	}
	// Left out, the range is this month to today.
	if r := admin.do("GET", "/api/v1/usage", ""); r.status != 200 || !strings.Contains(string(r.body), `"from":"2026-11-01","to":"2026-11-23"`) {
		t.Fatalf("the default range: %d %s", r.status, r.body)
	}

	// The day ends: a minute later it is closed and sent to billing.
	clk.set(time.Date(2026, 11, 24, 0, 1, 30, 0, time.UTC))
	root = caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	eventually(t, "both days billed", func() bool { return len(bill.messages()) == 2 })
	for _, m := range bill.messages() {
		var rec usage.Record
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatal(err)
		}
		g := got[rec.Tenant]
		if g == nil || m.ID != usage.RecordID(rec.Tenant, day) || rec.ID != m.ID || m.Tenant != rec.Tenant || rec.Day != day || m.Type != "usage.day_closed" {
			t.Fatalf("billed %+v: %s", m, m.Data)
		}
		// The record is the day's, frozen: the admin's two reads of the
		// usage above came after got was read, so requests may be more.
		if rec.Commands != g.Commands || rec.Events != g.Events || rec.EventBytes != g.EventBytes || rec.ActiveMembers != g.ActiveMembers ||
			rec.APIRequests < g.APIRequests || rec.Closed.IsZero() || rec.ReadDatabaseBytes <= 0 {
			t.Fatalf("billed %+v, read %+v", rec, *g)
		}
		if closed := dayUsage(t, root, rec.Tenant, day); closed == nil || *closed != rec {
			t.Fatalf("%s's closed day reads %+v, billed %+v", rec.Tenant, closed, rec)
		}
	}
	// Taken, it is never sent again; the one refused was sent again under
	// its id.
	time.Sleep(500 * time.Millisecond) // five sweeps
	bill.mu.Lock()
	seen := append([]string(nil), bill.seen...)
	bill.mu.Unlock()
	if len(seen) != 3 || (seen[0] != seen[1] && seen[0] != seen[2]) {
		t.Fatalf("billing was called with %v", seen)
	}
}

// A plan's ERP messages a day hold a tenant to them: once that many were
// delivered, the rest wait (not lost) until the next day (UTC), and its
// ERP's calls back are 429 quota_exceeded, writing nothing; another
// tenant's messages flow meanwhile. The day's usage counts both ways.
func TestPlanERPMessagesPerDay(t *testing.T) {
	clk := &movable{now: clock()}
	app, st := newUsageApp(t, clk, "")
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	if r := root.do("PUT", "/admin/v1/plans/erp-two", `{"erp_messages_per_day":2}`); r.status != 200 || !strings.Contains(string(r.body), `"erp_messages_per_day":2`) {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/plans/erp-bad", `{"erp_messages_per_day":-2}`); problemCode(t, r, 400) != "invalid_limit" {
		t.Fatalf("a negative limit: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"erp-two"}`); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	acmeERP, globexERP := newReceiver(t, acmeSecret), newReceiver(t, globexSecret)
	for tn, rcv := range map[string]*receiver{"acme": acmeERP, "globex": globexERP} {
		secret := acmeSecret
		if tn == "globex" {
			secret = globexSecret
		}
		if r := connectWebhook(t, as(t, app, tn, "u-adm", "admin"), rcv.url(), secret, "invoice"); r.status != 200 {
			t.Fatalf("connect %s: %d %s", tn, r.status, r.body)
		}
	}
	fin, gfin := as(t, app, "acme", "u-fin", "finance"), as(t, app, "globex", "u-fin", "finance")
	for i := range 3 {
		create(t, fin, 100+i)
		create(t, gfin, 100+i)
	}
	eventually(t, "globex's three messages and acme's two", func() bool {
		return len(firstArrivals(globexERP.messages())) == 3 && len(firstArrivals(acmeERP.messages())) == 2
	})
	// acme's third waits: it is pending, and the ERP's call back is refused.
	ctx := tenant.With(context.Background(), "acme")
	eventually(t, "acme's third message pending in its outbox", func() bool {
		pending, err := st.Outbox.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return pending == 1
	})
	before, err := st.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payment := `{"type":"payment.received","invoice_number":"X-1","amount":{"amount":10,"currency":"EUR"},"paid_at":"2026-11-20","reference":"R-1"}`
	r := inbound(t, app, "acme", acmeSecret, clock(), payment)
	if problemCode(t, r, 429) != "quota_exceeded" || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), `"field":"erp_messages_per_day"`) {
		t.Fatalf("a call back past the day's messages: %d %v %s", r.status, r.header, r.body)
	}
	// (Requests counted may be written meanwhile: the platform's
	// bookkeeping.)
	if events, _ := workSince(t, st, "acme", before); events != 0 {
		t.Fatalf("the refused call wrote %d events", events)
	}
	if n := len(firstArrivals(acmeERP.messages())); n != 2 {
		t.Fatalf("acme's ERP got %d messages, its plan allows 2 a day", n)
	}
	if u := dayUsage(t, root, "acme", usage.Day(clk.Now())); u == nil || u.ERPMessages != 2 {
		t.Fatalf("acme's usage: %+v", u)
	}

	// A resync sends every message again: the day's deliveries still
	// count, so nothing more goes out today.
	if r := as(t, app, "acme", "u-adm", "admin").do("POST", "/api/v1/erp/resync", `{"from_position":0}`); r.status != 202 {
		t.Fatalf("resync: %d %s", r.status, r.body)
	}
	time.Sleep(1500 * time.Millisecond) // the relay publishes at once; a delivery would follow within this
	if n := len(acmeERP.messages()); n != 2 {
		t.Fatalf("after a resync, acme's ERP got %d deliveries today, its plan allows 2", n)
	}

	// The next day, two go out again (the first two, sent again in order);
	// the day after, the third.
	for i, day := range []int64{2, 1} {
		clk.set(clock().Add(time.Duration(i+1) * 24 * time.Hour))
		total := 2 + 2 + i
		eventually(t, fmt.Sprintf("acme's deliveries of day %d", i+2), func() bool { return len(acmeERP.messages()) == total })
		root = caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
		// The ERP has the message before the outbox marks it delivered:
		// the day's count follows.
		eventually(t, fmt.Sprintf("acme's usage on day %d counts %d", i+2, day), func() bool {
			u := dayUsage(t, root, "acme", usage.Day(clk.Now()))
			return u != nil && u.ERPMessages == day
		})
	}
	if got := firstArrivals(acmeERP.messages()); len(got) != 3 || !inOrder(got) {
		t.Fatalf("acme's ERP got %+v", got)
	}
}

// erpLimited is acme on a plan of 3 ERP messages a day, connected to a
// webhook that is sent nothing (no objective is set), with an issued
// invoice the calls back can pay: its id and number.
func erpLimited(t *testing.T) (app *fiber.App, st *assembly.Process, fin caller, id, number string) {
	t.Helper()
	clk := &movable{now: clock()}
	app, st = newUsageApp(t, clk, "")
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	if r := root.do("PUT", "/admin/v1/plans/erp-three", `{"erp_messages_per_day":3}`); r.status != 200 {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"erp-three"}`); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	if r := connectWebhook(t, as(t, app, "acme", "u-adm", "admin"), newReceiver(t, acmeSecret).url(), acmeSecret, "objective"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	fin = as(t, app, "acme", "u-fin", "finance")
	id, _ = create(t, fin, 100)
	r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
	if r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	number = fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, r)).json(t)["number"].(string)
	return app, st, fin, id, number
}

// payBack is the body of a call back paying 0.01 of invoice number.
func payBack(number, reference string) string {
	return fmt.Sprintf(`{"type":"payment.received","invoice_number":%q,"amount":{"amount":1,"currency":"EUR"},"paid_at":"2026-11-20","reference":%q}`, number, reference)
}

// callsBack sends n calls back of acme's ERP at once and counts their
// answers by status.
func callsBack(t *testing.T, app *fiber.App, n int, number, prefix string) map[int]int {
	t.Helper()
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- inbound(t, app, "acme", acmeSecret, clock(), payBack(number, fmt.Sprintf("%s-%d", prefix, i))).status
		}()
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	return got
}

// stallProjection stops projecting acme and writes one more invoice, so
// that its read models are behind its log and stay there until resume.
func stallProjection(t *testing.T, st *assembly.Process, fin caller) (resume func()) {
	t.Helper()
	ctx := tenant.With(context.Background(), "acme")
	if err := st.Runner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	create(t, fin, 200)
	return func() {
		if err := st.Runner.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// paidOf is what acme's invoice id has been paid (minor units), once its
// read models have its log.
func paidOf(t *testing.T, st *assembly.Process, fin caller, id string) float64 {
	t.Helper()
	caughtUp(t, st, "acme")
	amount, ok := fin.do("GET", "/api/v1/invoices/"+id, "").json(t)["paid"].(map[string]any)["amount"].(float64)
	if !ok {
		t.Fatal("the invoice has no paid amount")
	}
	return amount
}

// A burst of calls back from a tenant's ERP gets no more through than
// its plan's messages a day, though each is counted from the log by a
// read model that follows it: within an instance the calls of a tenant are
// counted and run one at a time, once the read model has the ones before.
func TestERPCallsBackInABurstStayWithinThePlan(t *testing.T) {
	app, st, fin, id, number := erpLimited(t)
	const calls = 12
	if got := callsBack(t, app, calls, number, "BURST"); got[200] != 3 || got[429] != calls-3 {
		t.Fatalf("a burst of %d calls back with 3 allowed a day: %v", calls, got)
	}
	if paid := paidOf(t, st, fin, id); paid != 3 {
		t.Fatalf("the invoice after the burst was paid %v", paid)
	}
}

// Calls back that wait for their turn are bounded: while the tenant's read
// models do not move, the calls beyond 64 are refused at once (429), and
// none of them waits long (each is answered, 429 or 503), nor writes.
func TestERPCallsBackWaitingAreBounded(t *testing.T) {
	app, st, fin, id, number := erpLimited(t)
	resume := stallProjection(t, st, fin)
	const calls = 70
	got := callsBack(t, app, calls, number, "STALLED")
	t.Logf("answers by status: %v", got)
	if got[429] < calls-64 || got[429]+got[503] != calls {
		t.Fatalf("%d calls back while the read models stand still: %v", calls, got)
	}
	resume()
	if paid := paidOf(t, st, fin, id); paid != 0 {
		t.Fatalf("the invoice was paid %v", paid)
	}
}

// A call back that waited for its turn while the tenant was made
// read-only (offboarding) writes nothing.
func TestERPCallBackWaitingWhenTheTenantTurnsReadOnly(t *testing.T) {
	app, st, fin, id, number := erpLimited(t)
	resume := stallProjection(t, st, fin)
	answer := make(chan reply, 1)
	go func() { answer <- inbound(t, app, "acme", acmeSecret, clock(), payBack(number, "LATE-1")) }()
	time.Sleep(200 * time.Millisecond) // the call waits for the read models
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	resume()
	if r := <-answer; problemCode(t, r, 403) != "tenant_read_only" {
		t.Fatalf("the call back that waited: %d %s", r.status, r.body)
	}
	if paid := paidOf(t, st, fin, id); paid != 0 {
		t.Fatalf("the call back paid %v of the invoice of a read-only tenant", paid)
	}
}

// A tenant deleted before its days were closed: billing gets them, today's
// too, before anything of it is deleted; with billing down, nothing is.
func TestDeletedTenantsLastDaysAreBilled(t *testing.T) {
	deletesATenant(t)
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	var down atomic.Bool
	down.Store(true)
	bill.answer = func(int, erpsync.Message) (int, map[string]string, time.Duration) {
		if down.Load() {
			return 503, nil, 0
		}
		return 0, nil, 0
	}
	app, st := newUsageApp(t, clk, bill.url())
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	day := usage.Day(clk.Now())
	fin := as(t, app, "acme", "u-fin", "finance")
	for i := range 3 {
		create(t, fin, 100+i)
	}
	create(t, as(t, app, "globex", "u-gfin", "finance"), 100)
	eventually(t, "acme's requests written and projected", func() bool {
		u := dayUsage(t, root, "acme", day)
		return u != nil && u.APIRequests >= 3
	})
	caughtUp(t, st, "acme")
	before := dayUsage(t, root, "acme", day)

	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 200 {
		t.Fatalf("archive: %d %s", r.status, r.body)
	}
	// A deletion refused for another reason sends billing nothing.
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"globex"}`); problemCode(t, r, 400) != "confirmation_required" {
		t.Fatalf("a wrong confirmation: %d %s", r.status, r.body)
	}
	bill.mu.Lock()
	calls := bill.calls
	bill.mu.Unlock()
	if calls != 0 {
		t.Fatalf("billing was called %d times by a refused deletion", calls)
	}
	// Billing down: nothing of acme is deleted.
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); problemCode(t, r, 503) != "billing_unreachable" {
		t.Fatalf("deleting with billing down: %d %s", r.status, r.body)
	}
	if s, ok := st.Catalog.Get("acme"); !ok || s.Deleted {
		t.Fatalf("acme after a deletion billing refused: %+v", s)
	}
	if u := dayUsage(t, root, "acme", day); u == nil || u.Commands != before.Commands {
		t.Fatalf("acme's usage after a deletion billing refused: %+v", u)
	}

	down.Store(false)
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	msgs := bill.messages()
	if len(msgs) != 1 {
		t.Fatalf("billing took %d records, want acme's day: %+v", len(msgs), msgs)
	}
	var rec usage.Record
	if err := json.Unmarshal(msgs[0].Data, &rec); err != nil {
		t.Fatal(err)
	}
	if msgs[0].ID != usage.RecordID("acme", day) || rec.ID != msgs[0].ID || rec.Tenant != "acme" || rec.Day != day ||
		rec.Commands != before.Commands || rec.Events != before.Events || rec.APIRequests < before.APIRequests || rec.Closed.IsZero() {
		t.Fatalf("billing took %s: %+v; acme's day stood at %+v", msgs[0].ID, rec, *before)
	}
	// Asked again, what remains is deleted, and billing is sent nothing
	// more.
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); r.status != 200 {
		t.Fatalf("delete again: %d %s", r.status, r.body)
	}
	if n := len(bill.messages()); n != 1 {
		t.Fatalf("billing took %d records after the deletion was asked again", n)
	}
}

// offboardedWithArchive is a usage stack billing to bill, acme with an
// invoice drafted, then offboarded and its archive taken.
func offboardedWithArchive(t *testing.T, clk *movable, bill *receiver, offboardHeaders ...string) (*fiber.App, *assembly.Process, caller) {
	t.Helper()
	app, st := newUsageApp(t, clk, bill.url())
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	create(t, as(t, app, "acme", "u-fin", "finance"), 100)
	caughtUp(t, st, "acme")
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", "", offboardHeaders...); r.status != 200 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 200 {
		t.Fatalf("archive: %d %s", r.status, r.body)
	}
	return app, st, root
}

// A deletion the executor refuses (its Idempotency-Key used for another
// request) sends billing nothing.
func TestRefusedDeletionSendsBillingNothing(t *testing.T) {
	deletesATenant(t)
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	_, st, root := offboardedWithArchive(t, clk, bill, "Idempotency-Key", "k-1")
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`, "Idempotency-Key", "k-1"); problemCode(t, r, 422) != "idempotency_key_reused" {
		t.Fatalf("a deletion under the offboarding's key: %d %s", r.status, r.body)
	}
	if s, ok := st.Catalog.Get("acme"); !ok || s.Deleted {
		t.Fatal("acme deleted by a refused request")
	}
	if n := len(bill.messages()); n != 0 {
		t.Fatalf("a refused deletion sent billing %d records", n)
	}
}

// A write into the tenant's log while billing is sent its last days (an
// instance that had not yet applied the offboarding) makes the archive
// stale: the deletion is refused.
func TestWriteDuringDeletionsBillingMakesTheArchiveStale(t *testing.T) {
	deletesATenant(t)
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	_, st, root := offboardedWithArchive(t, clk, bill)
	var wrote atomic.Bool
	bill.answer = func(_ int, m erpsync.Message) (int, map[string]string, time.Duration) {
		if m.Tenant == "acme" && !wrote.Swap(true) {
			if err := writeLate(st, "acme"); err != nil {
				t.Error(err)
			}
		}
		return 0, nil, 0
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); !wrote.Load() || problemCode(t, r, 409) != "archive_stale" {
		t.Fatalf("a deletion while the log moved (written: %v): %d %s", wrote.Load(), r.status, r.body)
	}
	if s, ok := st.Catalog.Get("acme"); !ok || s.Deleted {
		t.Fatal("acme deleted")
	}
}

// The ERP messages of the offboarding day are billed when the tenant is
// deleted long after (its days stay open while it is read-only).
func TestLateDeletionBillsTheOffboardingDaysERPMessages(t *testing.T) {
	deletesATenant(t)
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	app, st, root := acmeSendingToERP(t, clk, bill, nil)
	day := usage.Day(clk.Now())
	eventually(t, "acme's 3 ERP messages counted", func() bool {
		u := dayUsage(t, root, "acme", day)
		return u != nil && u.ERPMessages == 3
	})
	caughtUp(t, st, "acme")
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 200 {
		t.Fatalf("archive: %d %s", r.status, r.body)
	}
	deleteAt(t, app, clk, clock().Add(10*24*time.Hour)) // a retention period later
	if billed, _ := billedDay(t, bill, "acme", day); billed == nil || billed.ERPMessages != 3 {
		t.Fatalf("acme's offboarding day billed as %+v; want its 3 ERP messages", billed)
	}
}

// Billing refusing the last days (a 4xx) is told apart from billing down:
// 424 billing_refused with its answer, and nothing deleted.
func TestDeletionRefusedByBilling(t *testing.T) {
	deletesATenant(t)
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	bill.answer = func(int, erpsync.Message) (int, map[string]string, time.Duration) { return 422, nil, 0 }
	_, st, root := offboardedWithArchive(t, clk, bill)
	r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`)
	if problemCode(t, r, 424) != "billing_refused" || !strings.Contains(string(r.body), "usage_acme_") || !strings.Contains(string(r.body), "422") {
		t.Fatalf("a deletion billing refused: %d %s", r.status, r.body)
	}
	if s, ok := st.Catalog.Get("acme"); !ok || s.Deleted {
		t.Fatal("acme deleted")
	}
}

// deletesATenant skips a test of a tenant's deletion on KurrentDB, where
// deleting is not built: it answers 501 not_supported before anything is
// recorded or sent to billing (README, Offboarding).
func deletesATenant(t *testing.T) {
	t.Helper()
	if kurrentDBURL() != "" {
		t.Skip("deleting a tenant's events is built for JetStream only (README, Offboarding)")
	}
}

// The ERP messages a read-only tenant's outbox delivered on a day it did
// nothing else on are billed when it is deleted, however long after: its
// days are looked for from the day after its last closed one.
func TestDeliveriesAfterOffboardingAreBilledLate(t *testing.T) {
	deletesATenant(t)
	clk := &movable{now: clock()}
	bill := newReceiver(t, billingSecret)
	var up atomic.Bool
	app, st, _ := acmeSendingToERP(t, clk, bill, func(int, erpsync.Message) (int, map[string]string, time.Duration) {
		if !up.Load() {
			return 503, nil, 0
		}
		return 0, nil, 0
	})
	day0 := usage.Day(clk.Now())
	caughtUp(t, st, "acme")
	// The next day: day0 closed by the sweep, the ERP still down.
	clk.set(time.Date(2026, 11, 24, 0, 1, 30, 0, time.UTC))
	day1 := usage.Day(clk.Now())
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	eventually(t, "day0 closed", func() bool {
		u := dayUsage(t, root, "acme", day0)
		return u != nil && !u.Closed.IsZero()
	})
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	up.Store(true)
	eventually(t, "delivered on day1", func() bool {
		u := dayUsage(t, root, "acme", day1)
		return u != nil && u.ERPMessages == 3
	})
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 200 {
		t.Fatalf("archive: %d %s", r.status, r.body)
	}
	deleteAt(t, app, clk, time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)) // 11 days later
	if billed, days := billedDay(t, bill, "acme", day1); billed == nil || billed.ERPMessages != 3 {
		t.Fatalf("day1 (deliveries only) billed as %+v; billed days %v", billed, days)
	}
}

// acmeSendingToERP is a usage stack billing to bill, acme connected to an
// ERP that answers as answer does (nil: takes everything), 3 invoices
// drafted; with the platform's root.
func acmeSendingToERP(t *testing.T, clk *movable, bill *receiver, answer func(int, erpsync.Message) (int, map[string]string, time.Duration)) (*fiber.App, *assembly.Process, caller) {
	t.Helper()
	app, st := newUsageApp(t, clk, bill.url())
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	erp := newReceiver(t, acmeSecret)
	erp.answer = answer
	if r := connectWebhook(t, as(t, app, "acme", "u-adm", "admin"), erp.url(), acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	fin := as(t, app, "acme", "u-fin", "finance")
	for i := range 3 {
		create(t, fin, 100+i)
	}
	return app, st, root
}

// deleteAt moves the clock to at and deletes acme there.
func deleteAt(t *testing.T, app *fiber.App, clk *movable, at time.Time) {
	t.Helper()
	clk.set(at)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
}

// billedDay is the record billing took for tenant tn's day, nil when none,
// and the days of every record it took.
func billedDay(t *testing.T, bill *receiver, tn, day string) (*usage.Record, []string) {
	t.Helper()
	var days []string
	var billed *usage.Record
	for _, m := range bill.messages() {
		var rec usage.Record
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatal(err)
		}
		days = append(days, rec.Day)
		if rec.Tenant == tn && rec.Day == day {
			billed = &rec
		}
	}
	return billed, days
}
