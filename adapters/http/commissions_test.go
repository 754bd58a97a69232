package http_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/user"
)

// sellFor drafts, issues and pays in full an invoice of amount EUR cents
// credited to repID, paid at paidAt; it returns the invoice's id and the
// position after the payment.
func sellFor(t *testing.T, fin caller, repID, paidAt string, amount int) (id, pos string) {
	t.Helper()
	r := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(`{"client":{"id":"C-7","name":"Northwind"},"currency":"EUR","due_date":"2026-12-31",
		"sales_rep":%q,"lines":[{"description":"Work","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, repID, amount))
	if r.status != 201 {
		t.Fatalf("draft: %d %s", r.status, r.body)
	}
	id = r.json(t)["id"].(string)
	if r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", ""); r.status != 200 || r.json(t)["id"] != id {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	r = fin.do("POST", "/api/v1/invoices/"+id+"/payments", fmt.Sprintf(`{"amount":{"amount":%d,"currency":"EUR"},"paid_at":%q,"reference":"wire"}`, amount, paidAt))
	if r.status != 200 {
		t.Fatalf("pay: %d %s", r.status, r.body)
	}
	return id, position(t, r)
}

// commissionsSeen lists what c sees of GET /commissions?query once the
// projections reached after.
func commissionsSeen(t *testing.T, c caller, query, after string) []map[string]any {
	t.Helper()
	r := c.do("GET", "/api/v1/commissions?"+query, "", "X-Read-After", after)
	if r.status != 200 {
		t.Fatalf("commissions?%s: %d %s", query, r.status, r.body)
	}
	var out []map[string]any
	for _, it := range r.json(t)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// earned returns the collected and commission amounts of the only item
// for userID and period.
func earned(t *testing.T, items []map[string]any, userID, period string) (collected, commission int64, status string) {
	t.Helper()
	var found []map[string]any
	for _, it := range items {
		if it["user_id"] == userID && it["period"] == period {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d items for %s in %s: %v", len(found), userID, period, items)
	}
	return amountOf(t, found[0], "collected"), amountOf(t, found[0], "commission"), found[0]["status"].(string)
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func setPlan(t *testing.T, c caller, userID, body string) reply {
	t.Helper()
	return c.do("PUT", "/api/v1/commissions/plans/"+userID, body)
}

// TestCommissionPlans: managers and admins set a salesperson's plan, a
// flat rate or tiers; an invalid plan is 400 naming the field, a user who
// is not a salesperson of the tenant 422, and nothing is written for any
// refusal. Setting the same plan again writes nothing.
func TestCommissionPlans(t *testing.T) {
	app, st := newStackApp(t)
	mgr := as(t, app, "acme", "u-mgr", "manager")
	adm := as(t, app, "acme", "u-adm", "admin")
	rep, repID := join(t, app, "acme", "sales")
	_, otherRepID := join(t, app, "acme", "sales")
	seller, sellerID := join(t, app, "acme", "manager", "sales")
	_, managerID := join(t, app, "acme", "manager")
	_, globexRepID := join(t, app, "globex", "sales")

	r := setPlan(t, mgr, repID, `{"rate_bps":500}`)
	if r.status != 200 || r.json(t)["id"] != repID || r.header.Get("ETag") != `"1"` {
		t.Fatalf("set a flat plan: %d %s %v", r.status, r.body, r.header)
	}
	if r := setPlan(t, mgr, repID, `{"rate_bps":500}`); r.status != 200 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("the same plan again: %d %s %v", r.status, r.body, r.header)
	}
	r = setPlan(t, adm, repID, `{"tiers":[{"from_achieved_ratio":0,"rate_bps":300},{"from_achieved_ratio":1.25,"rate_bps":600}]}`)
	if r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("an admin sets tiers: %d %s", r.status, r.body)
	}
	got := rep.do("GET", "/api/v1/commissions/plans/"+repID, "", "X-Read-After", position(t, r))
	if got.status != 200 || got.header.Get("ETag") != `"2"` {
		t.Fatalf("the salesperson reads their plan: %d %s", got.status, got.body)
	}
	if p := got.json(t); p["rate_bps"] != nil || fmt.Sprint(p["tiers"]) != "[map[from_achieved_ratio:0 rate_bps:300] map[from_achieved_ratio:1.25 rate_bps:600]]" {
		t.Fatalf("plan %s", got.body)
	}
	if code := problemCode(t, mgr.do("PUT", "/api/v1/commissions/plans/"+repID, `{"rate_bps":100}`, "If-Match", `"1"`), 412); code != "version_conflict" {
		t.Fatalf("stale If-Match: %s", code)
	}
	if code := problemCode(t, as(t, app, "acme", repID, "sales").do("GET", "/api/v1/commissions/plans/"+otherRepID, ""), 404); code != "plan_not_found" {
		t.Fatalf("another salesperson's plan: %s", code)
	}
	if code := problemCode(t, mgr.do("GET", "/api/v1/commissions/plans/"+otherRepID, ""), 404); code != "plan_not_found" {
		t.Fatalf("no plan: %s", code)
	}

	tests := []struct {
		name   string
		by     caller
		userID string
		body   string
		status int
		code   string
		field  string
	}{
		{"finance", as(t, app, "acme", "u-fin", "finance"), otherRepID, `{"rate_bps":500}`, 403, "forbidden", ""},
		{"a salesperson", rep, otherRepID, `{"rate_bps":500}`, 403, "forbidden", ""},
		{"no plan", mgr, otherRepID, `{}`, 400, "required", "rate_bps"},
		{"both forms", mgr, otherRepID, `{"rate_bps":500,"tiers":[{"from_achieved_ratio":0,"rate_bps":300}]}`, 400, "invalid_plan", "tiers"},
		{"negative rate", mgr, otherRepID, `{"rate_bps":-1}`, 400, "invalid_rate", "rate_bps"},
		{"rate above 100%", mgr, otherRepID, `{"rate_bps":10001}`, 400, "invalid_rate", "rate_bps"},
		{"fractional rate", mgr, otherRepID, `{"rate_bps":2.5}`, 400, "invalid_request", "rate_bps"},
		{"no tiers", mgr, otherRepID, `{"tiers":[]}`, 400, "invalid_tiers", "tiers"},
		{"first tier above 0", mgr, otherRepID, `{"tiers":[{"from_achieved_ratio":0.5,"rate_bps":300}]}`, 400, "invalid_tiers", "tiers[0].from_achieved_ratio"},
		{"tiers not increasing", mgr, otherRepID, `{"tiers":[{"from_achieved_ratio":0,"rate_bps":300},{"from_achieved_ratio":0,"rate_bps":600}]}`, 400, "invalid_tiers", "tiers[1].from_achieved_ratio"},
		{"ratio as text", mgr, otherRepID, `{"tiers":[{"from_achieved_ratio":"0","rate_bps":300}]}`, 400, "invalid_ratio", "tiers[0].from_achieved_ratio"},
		{"ratio of 5 decimals", mgr, otherRepID, `{"tiers":[{"from_achieved_ratio":0,"rate_bps":300},{"from_achieved_ratio":1.00001,"rate_bps":600}]}`, 400, "invalid_ratio", "tiers[1].from_achieved_ratio"},
		{"tier rate above 100%", mgr, otherRepID, `{"tiers":[{"from_achieved_ratio":0,"rate_bps":300},{"from_achieved_ratio":1,"rate_bps":20000}]}`, 400, "invalid_rate", "tiers[1].rate_bps"},
		{"tier without rate", mgr, otherRepID, `{"tiers":[{"from_achieved_ratio":0}]}`, 400, "required", "tiers[0].rate_bps"},
		{"unknown field", mgr, otherRepID, `{"rate":500}`, 400, "invalid_request", "rate"},
		{"nobody", mgr, uuid.NewString(), `{"rate_bps":500}`, 422, "unknown_member", "user_id"},
		{"not an id", mgr, "rep-1", `{"rate_bps":500}`, 422, "unknown_member", "user_id"},
		{"a member of another tenant", mgr, globexRepID, `{"rate_bps":500}`, 422, "unknown_member", "user_id"},
		{"a member without the role", mgr, managerID, `{"rate_bps":500}`, 422, "member_role_required", "user_id"},
		{"one's own plan", seller, sellerID, `{"rate_bps":500}`, 422, "self_approval", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := head(t, st, "acme")
			r := setPlan(t, tc.by, tc.userID, tc.body)
			if code := problemCode(t, r, tc.status); code != tc.code {
				t.Fatalf("code %s, want %s: %s", code, tc.code, r.body)
			}
			if f, _ := r.json(t)["field"].(string); f != tc.field {
				t.Fatalf("field %q, want %q: %s", f, tc.field, r.body)
			}
			if after := head(t, st, "acme"); after != before {
				t.Fatalf("a refused plan moved acme from %d to %d", before, after)
			}
		})
	}

	// Idempotency-Key: the same request answers the first answer, another
	// body with the same key is refused.
	first := mgr.do("PUT", "/api/v1/commissions/plans/"+otherRepID, `{"rate_bps":250}`, "Idempotency-Key", "plan-1")
	again := mgr.do("PUT", "/api/v1/commissions/plans/"+otherRepID, `{ "rate_bps": 250 }`, "Idempotency-Key", "plan-1")
	if first.status != 200 || string(first.body) != string(again.body) {
		t.Fatalf("a retried plan: %d %s, then %s", first.status, first.body, again.body)
	}
	if code := problemCode(t, mgr.do("PUT", "/api/v1/commissions/plans/"+otherRepID, `{"rate_bps":300}`, "Idempotency-Key", "plan-1"), 422); code != "idempotency_key_reused" {
		t.Fatalf("a key reused for another plan: %s", code)
	}
}

// TestCommissionAccrual: every payment credited to a salesperson with a
// plan accrues amount × rate, rounded half to even, to the quarter it was
// paid in; a payment recorded before the plan, or on an invoice with no
// salesperson, accrues nothing; a plan changed later applies to the
// payments recorded after it.
func TestCommissionAccrual(t *testing.T) {
	app := newApp(t) // the clock stands at 2026-11-23
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	_, repID := join(t, app, "acme", "sales")

	sellFor(t, fin, repID, "2026-10-01", 100_000) // before the plan: nothing
	if r := setPlan(t, mgr, repID, `{"rate_bps":500}`); r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	sellFor(t, fin, repID, "2026-10-05", 12_345)                // 617.25 → 617
	sellFor(t, fin, repID, "2026-11-05", 10_010)                // 500.5 → 500, the even neighbour
	sellFor(t, fin, repID, "2026-12-31T23:59:59+00:00", 10_030) // 501.5 → 502
	sellFor(t, fin, repID, "2026-09-30T23:00:00-02:00", 1_000)  // 2026-10-01 01:00 UTC: Q4, 50
	_, pos := sellFor(t, fin, repID, "2026-08-15", 2_001)       // Q3: 100.05 → 100
	items := commissionsSeen(t, mgr, "", pos)
	if collected, commission, status := earned(t, items, repID, "2026-Q4"); collected != 33_385 || commission != 1_669 || status != "open" {
		t.Fatalf("Q4: collected %d, commission %d, %s", collected, commission, status)
	}
	if collected, commission, _ := earned(t, items, repID, "2026-Q3"); collected != 2_001 || commission != 100 {
		t.Fatalf("Q3: collected %d, commission %d", collected, commission)
	}
	if q4 := commissionsSeen(t, mgr, "period=2026-Q4&user_id="+repID, pos); len(q4) != 1 {
		t.Fatalf("filtered: %v", q4)
	}

	// A new rate applies to what is paid after it, not before.
	if r := setPlan(t, mgr, repID, `{"rate_bps":1000}`); r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	_, pos = sellFor(t, fin, repID, "2026-11-20", 20_000) // 2,000
	if collected, commission, _ := earned(t, commissionsSeen(t, mgr, "period=2026-Q4", pos), repID, "2026-Q4"); collected != 53_385 || commission != 3_669 {
		t.Fatalf("Q4 after the new rate: collected %d, commission %d", collected, commission)
	}

	// An invoice credited to nobody accrues nothing for anybody.
	r := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 5_000))
	id := r.json(t)["id"].(string)
	fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
	r = fin.do("POST", "/api/v1/invoices/"+id+"/payments", `{"amount":{"amount":15000,"currency":"EUR"},"paid_at":"2026-11-20"}`)
	if items := commissionsSeen(t, mgr, "", position(t, r)); len(items) != 2 {
		t.Fatalf("after a payment credited to nobody: %v", items)
	}
	if code := problemCode(t, mgr.do("GET", "/api/v1/commissions?period=2026-Q5", ""), 400); code != "invalid_period" {
		t.Fatalf("bad period: %s", code)
	}
	if code := problemCode(t, mgr.do("GET", "/api/v1/commissions?status=won", ""), 400); code != "invalid_status" {
		t.Fatalf("bad status: %s", code)
	}
}

// TestCommissionCancelledInvoice: a cancelled invoice accrues nothing. An
// invoice with payments cannot be cancelled (409, the invoices' rule), so
// what it accrued stays; the reversal of accruals when one is cancelled
// is the projector's (see projections/commissionlist).
func TestCommissionCancelledInvoice(t *testing.T) {
	app := newApp(t)
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	_, repID := join(t, app, "acme", "sales")
	if r := setPlan(t, mgr, repID, `{"rate_bps":1000}`); r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	paid, _ := sellFor(t, fin, repID, "2026-11-02", 40_000)
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+paid+"/cancel", `{"reason":"duplicate"}`), 409); code != "invalid_state" {
		t.Fatalf("cancelling a paid invoice: %s", code)
	}
	r := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(`{"client":{"id":"C-7","name":"N"},"currency":"EUR","due_date":"2026-12-31","sales_rep":%q,
		"lines":[{"description":"Work","quantity":1,"unit_price":{"amount":9000,"currency":"EUR"}}]}`, repID))
	id := r.json(t)["id"].(string)
	fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
	r = fin.do("POST", "/api/v1/invoices/"+id+"/cancel", `{"reason":"sent in error"}`)
	if r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if collected, commission, _ := earned(t, commissionsSeen(t, mgr, "", position(t, r)), repID, "2026-Q4"); collected != 40_000 || commission != 4_000 {
		t.Fatalf("collected %d, commission %d", collected, commission)
	}
}

// TestCommissionTiers: with tiers, the rate of a period is the rate of the
// tier the salesperson's objective for it has reached, applied to every
// payment of the period: reaching a tier re-prices the earlier payments,
// and so does an objective set after them.
func TestCommissionTiers(t *testing.T) {
	app := newApp(t)
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	_, repID := join(t, app, "acme", "sales")
	_, lateID := join(t, app, "acme", "sales")
	tiers := `{"tiers":[{"from_achieved_ratio":0,"rate_bps":300},{"from_achieved_ratio":1,"rate_bps":600},{"from_achieved_ratio":1.5,"rate_bps":800}]}`
	for _, id := range []string{repID, lateID} {
		if r := setPlan(t, mgr, id, tiers); r.status != 200 {
			t.Fatalf("plan: %d %s", r.status, r.body)
		}
	}
	objective := func(userID string, target int) string {
		t.Helper()
		r := mgr.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue","target":{"amount":%d,"currency":"EUR"}}`, userID, target))
		if r.status != 201 {
			t.Fatalf("objective: %d %s", r.status, r.body)
		}
		return position(t, r)
	}
	objective(repID, 100_000)

	_, pos := sellFor(t, fin, repID, "2026-10-10", 60_000) // achieved 0.6: 3%
	if _, commission, _ := earned(t, commissionsSeen(t, mgr, "period=2026-Q4", pos), repID, "2026-Q4"); commission != 1_800 {
		t.Fatalf("below the objective: commission %d, want 1800", commission)
	}
	_, pos = sellFor(t, fin, repID, "2026-11-10", 50_000) // achieved 1.1: 6% of both
	if collected, commission, _ := earned(t, commissionsSeen(t, mgr, "period=2026-Q4", pos), repID, "2026-Q4"); collected != 110_000 || commission != 6_600 {
		t.Fatalf("objective reached: collected %d, commission %d, want 110000 and 6600", collected, commission)
	}
	// The objectives read model agrees on the achievement.
	if o := mgr.do("GET", "/api/v1/objectives?period=2026-Q4&assignee="+repID, "", "X-Read-After", pos).json(t)["items"].([]any)[0].(map[string]any); o["achieved_ratio"].(float64) != 1.1 {
		t.Fatalf("objective %v", o)
	}
	_, pos = sellFor(t, fin, repID, "2026-12-01", 40_000) // achieved 1.5: 8% of all three
	if collected, commission, _ := earned(t, commissionsSeen(t, mgr, "period=2026-Q4", pos), repID, "2026-Q4"); collected != 150_000 || commission != 12_000 {
		t.Fatalf("top tier: collected %d, commission %d", collected, commission)
	}

	// Paid before any objective: the first tier; the objective set later
	// re-prices the period.
	_, pos = sellFor(t, fin, lateID, "2026-10-20", 30_000)
	if _, commission, _ := earned(t, commissionsSeen(t, mgr, "user_id="+lateID, pos), lateID, "2026-Q4"); commission != 900 {
		t.Fatalf("no objective yet: %d", commission)
	}
	pos = objective(lateID, 25_000)
	if _, commission, _ := earned(t, commissionsSeen(t, mgr, "user_id="+lateID, pos), lateID, "2026-Q4"); commission != 1_800 {
		t.Fatalf("objective set after the payments: %d, want 1800", commission)
	}
}

// TestCommissionStatements: a manager freezes a period's statement with
// the amounts as they stand (a payment answered just before is in them);
// a manager who is not its beneficiary approves or rejects it, finance
// pays it; a rejected or paid period is frozen again in a new round that
// settles what is still due.
func TestCommissionStatements(t *testing.T) {
	app, st := newStackApp(t)
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	seller, sellerID := join(t, app, "acme", "sales", "manager")
	rep, repID := join(t, app, "acme", "sales")
	_, globexRepID := join(t, app, "globex", "sales")
	if r := setPlan(t, mgr, sellerID, `{"rate_bps":500}`); r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	sellFor(t, fin, sellerID, "2026-10-15", 100_000)
	_, paid := sellFor(t, fin, sellerID, "2026-11-20", 30_000)

	freeze := func(c caller, body string, hdr ...string) reply {
		return c.do("POST", "/api/v1/commissions/statements", body, hdr...)
	}
	// What the manager reviews, read after the last payment, is what the
	// statement freezes.
	commissionsSeen(t, mgr, "period=2026-Q4", paid)
	body := fmt.Sprintf(`{"user_id":%q,"period":"2026-Q4"}`, sellerID)
	r := freeze(mgr, body)
	if r.status != 201 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("freeze: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	if loc := r.header.Get("Location"); loc != "/api/v1/commissions/statements/"+id {
		t.Fatalf("Location %q", loc)
	}
	statement := func(c caller, after string) map[string]any {
		t.Helper()
		r := c.do("GET", "/api/v1/commissions/statements/"+id, "", "X-Read-After", after)
		if r.status != 200 {
			t.Fatalf("statement: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	s := statement(mgr, position(t, r))
	if amountOf(t, s, "collected") != 130_000 || amountOf(t, s, "commission") != 6_500 || amountOf(t, s, "payable") != 6_500 ||
		s["status"] != "submitted" || s["round"].(float64) != 1 || s["user_id"] != sellerID || s["period"] != "2026-Q4" ||
		s["as_of_position"].(float64) < mustFloat(t, paid) {
		t.Fatalf("frozen statement %v", s)
	}
	if _, _, status := earned(t, commissionsSeen(t, mgr, "status=submitted", position(t, r)), sellerID, "2026-Q4"); status != "submitted" {
		t.Fatalf("the period's status: %s", status)
	}

	refusals := []struct {
		name   string
		send   func() reply
		status int
		code   string
	}{
		{"freezing it again", func() reply { return freeze(mgr, body) }, 409, "invalid_state"},
		{"freezing by finance", func() reply { return freeze(fin, body) }, 403, "forbidden"},
		{"freezing nothing", func() reply { return freeze(mgr, fmt.Sprintf(`{"user_id":%q,"period":"2026-Q2"}`, sellerID)) }, 422, "nothing_to_settle"},
		{"freezing for nobody", func() reply { return freeze(mgr, fmt.Sprintf(`{"user_id":%q,"period":"2026-Q4"}`, uuid.NewString())) }, 422, "unknown_member"},
		{"freezing for another tenant's", func() reply { return freeze(mgr, fmt.Sprintf(`{"user_id":%q,"period":"2026-Q4"}`, globexRepID)) }, 422, "unknown_member"},
		{"freezing a bad period", func() reply { return freeze(mgr, fmt.Sprintf(`{"user_id":%q,"period":"Q4"}`, sellerID)) }, 400, "invalid_period"},
		{"freezing in no currency", func() reply {
			return freeze(mgr, fmt.Sprintf(`{"user_id":%q,"period":"2026-Q4","currency":"ZZZ"}`, sellerID))
		}, 422, "invalid_currency"},
		{"approval by the beneficiary", func() reply { return seller.do("POST", "/api/v1/commissions/statements/"+id+"/approve", "") }, 422, "self_approval"},
		{"rejection by the beneficiary", func() reply {
			return seller.do("POST", "/api/v1/commissions/statements/"+id+"/reject", `{"reason":"more"}`)
		}, 422, "self_approval"},
		{"approval by a salesperson", func() reply { return rep.do("POST", "/api/v1/commissions/statements/"+id+"/approve", "") }, 403, "forbidden"},
		{"approval by finance", func() reply { return fin.do("POST", "/api/v1/commissions/statements/"+id+"/approve", "") }, 403, "forbidden"},
		{"paying before approval", func() reply { return fin.do("POST", "/api/v1/commissions/statements/"+id+"/pay", "") }, 409, "invalid_state"},
		{"rejection without reason", func() reply { return mgr.do("POST", "/api/v1/commissions/statements/"+id+"/reject", `{"reason":" "}`) }, 400, "required"},
		{"a stale If-Match", func() reply {
			return mgr.do("POST", "/api/v1/commissions/statements/"+id+"/approve", "", "If-Match", `"7"`)
		}, 412, "version_conflict"},
		{"no such statement", func() reply {
			return mgr.do("POST", "/api/v1/commissions/statements/"+uuid.NewString()+"/approve", "")
		}, 404, "statement_not_found"},
		{"not an id", func() reply { return mgr.do("POST", "/api/v1/commissions/statements/s-1/approve", "") }, 404, "statement_not_found"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := head(t, st, "acme")
			r := tc.send()
			if code := problemCode(t, r, tc.status); code != tc.code {
				t.Fatalf("code %s, want %s: %s", code, tc.code, r.body)
			}
			if after := head(t, st, "acme"); after != before {
				t.Fatalf("a refusal moved acme from %d to %d", before, after)
			}
		})
	}

	// Rejected, then frozen again: the same statement, round 2, with what
	// was paid since.
	if r := mgr.do("POST", "/api/v1/commissions/statements/"+id+"/reject", `{"reason":"the November deal is disputed"}`, "If-Match", `"1"`); r.status != 200 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	_, paid = sellFor(t, fin, sellerID, "2026-11-21", 10_000)
	commissionsSeen(t, mgr, "", paid)
	r = freeze(mgr, body, "Idempotency-Key", "freeze-2")
	if r.status != 201 || r.json(t)["id"] != id {
		t.Fatalf("freeze again: %d %s", r.status, r.body)
	}
	if again := freeze(mgr, body, "Idempotency-Key", "freeze-2"); again.status != 201 || string(again.body) != string(r.body) {
		t.Fatalf("a retried freeze: %d %s, first %s", again.status, again.body, r.body)
	}
	if s := statement(mgr, position(t, r)); s["round"].(float64) != 2 || amountOf(t, s, "collected") != 140_000 || amountOf(t, s, "payable") != 7_000 || s["reason"] != nil {
		t.Fatalf("round 2 %v", s)
	}
	if r := mgr.do("POST", "/api/v1/commissions/statements/"+id+"/approve", ""); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if code := problemCode(t, mgr.do("POST", "/api/v1/commissions/statements/"+id+"/pay", ""), 403); code != "forbidden" {
		t.Fatalf("paid by a manager: %s", code)
	}
	r = fin.do("POST", "/api/v1/commissions/statements/"+id+"/pay", "")
	if r.status != 200 {
		t.Fatalf("pay: %d %s", r.status, r.body)
	}
	if s := statement(as(t, app, "acme", "u-aud", "auditor"), position(t, r)); s["status"] != "paid" || s["paid_by"] != "u-fin" || s["decided_by"] != "u-mgr" {
		t.Fatalf("paid statement %v", s)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/commissions/statements/"+id+"/pay", ""), 409); code != "invalid_state" {
		t.Fatalf("paid twice: %s", code)
	}
	if code := problemCode(t, freeze(mgr, body), 422); code != "nothing_to_settle" {
		t.Fatalf("freezing a settled period: %s", code)
	}

	// A payment after the statement was paid: round 3 settles the rest.
	_, paid = sellFor(t, fin, sellerID, "2026-12-02", 6_000)
	commissionsSeen(t, mgr, "", paid)
	r = freeze(mgr, body)
	if r.status != 201 {
		t.Fatalf("freeze round 3: %d %s", r.status, r.body)
	}
	if s := statement(mgr, position(t, r)); s["round"].(float64) != 3 || amountOf(t, s, "commission") != 7_300 || amountOf(t, s, "paid_before") != 7_000 ||
		amountOf(t, s, "payable") != 300 {
		t.Fatalf("round 3 %v", s)
	}
	// The beneficiary reads their statement; another salesperson does not.
	if s := statement(seller, position(t, r)); s["id"] != id {
		t.Fatalf("the beneficiary's view %v", s)
	}
	if code := problemCode(t, rep.do("GET", "/api/v1/commissions/statements/"+id, ""), 404); code != "statement_not_found" {
		t.Fatalf("another salesperson reading it: %s", code)
	}
	_ = repID
}

// TestCommissionsSalesSeeTheirOwn: a salesperson lists only their own
// commissions, whatever they ask; the overseers list everyone's, page by
// page; an employee reads none.
func TestCommissionsSalesSeeTheirOwn(t *testing.T) {
	app := newApp(t)
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	a, aID := join(t, app, "acme", "sales")
	_, bID := join(t, app, "acme", "sales")
	for _, id := range []string{aID, bID} {
		if r := setPlan(t, mgr, id, `{"rate_bps":200}`); r.status != 200 {
			t.Fatalf("plan: %d %s", r.status, r.body)
		}
	}
	sellFor(t, fin, aID, "2026-11-01", 10_000)
	sellFor(t, fin, bID, "2026-11-01", 20_000)
	_, pos := sellFor(t, fin, bID, "2026-07-01", 30_000)

	for _, q := range []string{"", "user_id=" + bID, "period=2026-Q4"} {
		items := commissionsSeen(t, a, q, pos)
		if len(items) != 1 || items[0]["user_id"] != aID {
			t.Fatalf("a salesperson asking %q sees %v", q, items)
		}
	}
	for _, role := range []string{"manager", "finance", "admin", "auditor"} {
		if items := commissionsSeen(t, as(t, app, "acme", "u-"+role, role), "", pos); len(items) != 3 {
			t.Fatalf("%s sees %v", role, items)
		}
	}
	page := mgr.do("GET", "/api/v1/commissions?limit=2", "", "X-Read-After", pos).json(t)
	next, _ := page["next_cursor"].(string)
	if len(page["items"].([]any)) != 2 || next == "" {
		t.Fatalf("first page %v", page)
	}
	last := mgr.do("GET", "/api/v1/commissions?limit=2&cursor="+next, "").json(t)
	if len(last["items"].([]any)) != 1 || last["next_cursor"] != nil {
		t.Fatalf("last page %v", last)
	}
	if code := problemCode(t, mgr.do("GET", "/api/v1/commissions?cursor=nope", ""), 400); code != "invalid_cursor" {
		t.Fatalf("bad cursor: %s", code)
	}
	if code := problemCode(t, as(t, app, "acme", "u-emp", "employee").do("GET", "/api/v1/commissions", ""), 403); code != "forbidden" {
		t.Fatalf("an employee: %s", code)
	}
}

// TestCommissionsAcrossTenants: another tenant's token is refused on every
// commission route; another tenant's plans, accruals and statements are
// out of reach, and its members are unknown here.
func TestCommissionsAcrossTenants(t *testing.T) {
	app, st := newStackApp(t)
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	_, repID := join(t, app, "acme", "sales")
	if r := setPlan(t, mgr, repID, `{"rate_bps":500}`); r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	_, paid := sellFor(t, fin, repID, "2026-11-01", 10_000)
	commissionsSeen(t, mgr, "", paid)
	r := mgr.do("POST", "/api/v1/commissions/statements", fmt.Sprintf(`{"user_id":%q,"period":"2026-Q4"}`, repID))
	if r.status != 201 {
		t.Fatalf("freeze: %d %s", r.status, r.body)
	}
	id, pos := r.json(t)["id"].(string), position(t, r)

	acmeTok := mint(t, app, "acme", "u-a", []user.Role{user.Admin, user.Finance, user.Manager, user.Auditor})
	viaHeader := caller{t: t, app: app, tenant: "globex", token: acmeTok}
	viaHost := caller{t: t, app: app, token: acmeTok}
	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/commissions", ""},
		{"PUT", "/api/v1/commissions/plans/" + repID, `{"rate_bps":1}`},
		{"GET", "/api/v1/commissions/plans/" + repID, ""},
		{"POST", "/api/v1/commissions/statements", `{}`},
		{"GET", "/api/v1/commissions/statements/" + id, ""},
		{"POST", "/api/v1/commissions/statements/" + id + "/approve", ""},
		{"POST", "/api/v1/commissions/statements/" + id + "/reject", `{"reason":"x"}`},
		{"POST", "/api/v1/commissions/statements/" + id + "/pay", ""},
	}
	for _, rt := range routes {
		if code := problemCode(t, viaHeader.do(rt.method, rt.path, rt.body), 403); code != "tenant_mismatch" {
			t.Errorf("%s %s (X-Tenant): %s", rt.method, rt.path, code)
		}
		if code := problemCode(t, viaHost.do(rt.method, rt.path, rt.body, "Host", "globex.atrium.test"), 403); code != "tenant_mismatch" {
			t.Errorf("%s %s (Host): %s", rt.method, rt.path, code)
		}
	}

	// Globex's own people reach nothing of acme's, and write nothing there.
	before := head(t, st, "acme")
	g := as(t, app, "globex", "u-g", "manager,finance,admin")
	for _, path := range []string{"/approve", "/pay"} {
		if code := problemCode(t, g.do("POST", "/api/v1/commissions/statements/"+id+path, ""), 404); code != "statement_not_found" {
			t.Errorf("globex %s: %s", path, code)
		}
	}
	if code := problemCode(t, g.do("GET", "/api/v1/commissions/statements/"+id, ""), 404); code != "statement_not_found" {
		t.Errorf("globex reads acme's statement: %s", code)
	}
	if code := problemCode(t, g.do("GET", "/api/v1/commissions/plans/"+repID, ""), 404); code != "plan_not_found" {
		t.Errorf("globex reads acme's plan: %s", code)
	}
	if code := problemCode(t, setPlan(t, g, repID, `{"rate_bps":9000}`), 422); code != "unknown_member" {
		t.Errorf("globex sets a plan for acme's salesperson: %s", code)
	}
	if code := problemCode(t, g.do("POST", "/api/v1/commissions/statements", fmt.Sprintf(`{"user_id":%q,"period":"2026-Q4"}`, repID)), 422); code != "unknown_member" {
		t.Errorf("globex freezes acme's salesperson: %s", code)
	}
	if items := commissionsSeen(t, g, "", "0"); len(items) != 0 {
		t.Fatalf("globex lists %v", items)
	}
	if after := head(t, st, "acme"); after != before {
		t.Fatalf("attempts from globex moved acme from %d to %d", before, after)
	}

	// A person who sells for both tenants has a plan in acme only: what
	// globex collects for them accrues nothing, there or in acme.
	both := func(tn string) string {
		t.Helper()
		r := as(t, app, tn, "u-admin-of-"+tn, "admin").do("POST", "/api/v1/users",
			`{"email":"both@tenants.example","name":"Both","password":"correct horse battery","roles":["sales"]}`)
		if r.status != 201 {
			t.Fatalf("add member to %s: %d %s", tn, r.status, r.body)
		}
		return r.json(t)["user_id"].(string)
	}
	sharedID := both("acme")
	if other := both("globex"); other != sharedID {
		t.Fatalf("one person, two accounts: %s and %s", sharedID, other)
	}
	if r := setPlan(t, mgr, sharedID, `{"rate_bps":1000}`); r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	gfin := as(t, app, "globex", "u-gfin", "finance")
	_, gpos := sellFor(t, gfin, sharedID, "2026-11-01", 10_000)
	if items := commissionsSeen(t, g, "", gpos); len(items) != 0 {
		t.Fatalf("globex accrued %v", items)
	}
	if code := problemCode(t, g.do("GET", "/api/v1/commissions/plans/"+sharedID, ""), 404); code != "plan_not_found" {
		t.Fatalf("globex sees acme's plan of the person: %s", code)
	}
	if items := commissionsSeen(t, mgr, "", pos); len(items) != 1 || items[0]["user_id"] != repID {
		t.Fatalf("acme lists %v", items)
	}
}
