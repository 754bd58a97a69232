package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// usdPolicy accepts USD beside EUR on acme, with its own threshold (5,000.00),
// receipt threshold (30.00) and travel ceiling (60.00).
const usdPolicy = `{"currencies":["EUR","USD"],
	"expense_policy":{"category_ceilings":{"travel":{"amount":50000,"currency":"EUR"}}},
	"currency_policies":{"USD":{"invoice_validation_threshold":500000,"receipt_required_above":3000,"category_ceilings":{"travel":6000}}}}`

// TestCurrencySettings: the currencies a tenant accepts and their
// policies are settings; invalid ones are 400 naming the field and change
// nothing.
func TestCurrencySettings(t *testing.T) {
	app := newApp(t)
	admin := as(t, app, "acme", "u-adm", "admin")

	s := admin.do("GET", "/api/v1/settings", "").json(t)
	if cs, _ := s["currencies"].([]any); len(cs) != 1 || cs[0] != "EUR" {
		t.Fatalf("default currencies %v", s["currencies"])
	}
	if p, ok := s["currency_policies"].(map[string]any); !ok || len(p) != 0 {
		t.Fatalf("default currency policies %v", s["currency_policies"])
	}
	before := admin.do("GET", "/api/v1/settings", "").body

	bad := []struct{ name, body, code, field string }{
		{"not a currency", `{"currencies":["EUR","ZZZ"]}`, "invalid_currency", "currencies[1]"},
		{"the testing code", `{"currencies":["EUR","XTS"]}`, "invalid_currency", "currencies[1]"},
		{"gold", `{"currencies":["EUR","XAU"]}`, "invalid_currency", "currencies[1]"},
		{"primary currency left out", `{"currencies":["USD"]}`, "invalid_currencies", "currencies"},
		{"listed twice", `{"currencies":["EUR","USD","USD"]}`, "invalid_currencies", "currencies[2]"},
		{"primary currency that is none", `{"currency":"ZZZ"}`, "invalid_currency", "currency"},
		{"accepted without a policy", `{"currencies":["EUR","USD"]}`, "currency_policy_required", "currency_policies.USD"},
		{"policy without its receipt threshold", `{"currencies":["EUR","USD"],"currency_policies":{"USD":{"invoice_validation_threshold":100}}}`,
			"required", "currency_policies.USD.receipt_required_above"},
		{"policy without a ceiling the primary currency has", `{"currencies":["EUR","USD"],
			"expense_policy":{"category_ceilings":{"meals":{"amount":5000,"currency":"EUR"}}},
			"currency_policies":{"USD":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"required", "currency_policies.USD.category_ceilings.meals"},
		{"policy of a currency not accepted", `{"currency_policies":{"GBP":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"currency_not_accepted", "currency_policies.GBP"},
		{"policy of the primary currency", `{"currency_policies":{"EUR":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"invalid_currency_policy", "currency_policies.EUR"},
		{"threshold in another accepted currency", `{"currencies":["EUR","USD"],"invoice_validation_threshold":{"amount":100,"currency":"USD"},
			"currency_policies":{"USD":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"currency_mismatch", "invoice_validation_threshold"},
		{"threshold beyond the bound", `{"invoice_validation_threshold":{"amount":1000000000000001,"currency":"EUR"}}`,
			"amount_out_of_range", "invoice_validation_threshold"},
		{"policy threshold beyond the bound", `{"currencies":["EUR","USD"],"currency_policies":{"USD":{"invoice_validation_threshold":1000000000000001,"receipt_required_above":100}}}`,
			"amount_out_of_range", "currency_policies.USD.invoice_validation_threshold"},
	}
	for _, tc := range bad {
		r := admin.do("PUT", "/api/v1/settings", tc.body)
		if code := problemCode(t, r, 400); code != tc.code || r.json(t)["field"] != tc.field {
			t.Errorf("%s: %s, want %s naming %s", tc.name, r.body, tc.code, tc.field)
		}
	}
	if after := admin.do("GET", "/api/v1/settings", "").body; string(after) != string(before) {
		t.Fatalf("refused changes changed the settings:\n%s\n%s", before, after)
	}

	r := admin.do("PUT", "/api/v1/settings", usdPolicy)
	if r.status != 200 {
		t.Fatalf("accept USD: %d %s", r.status, r.body)
	}
	var got struct {
		Currencies       []string `json:"currencies"`
		CurrencyPolicies map[string]struct {
			InvoiceValidationThreshold int64            `json:"invoice_validation_threshold"`
			ReceiptRequiredAbove       int64            `json:"receipt_required_above"`
			CategoryCeilings           map[string]int64 `json:"category_ceilings"`
		} `json:"currency_policies"`
	}
	if err := json.Unmarshal(admin.do("GET", "/api/v1/settings", "").body, &got); err != nil {
		t.Fatal(err)
	}
	usd := got.CurrencyPolicies["USD"]
	if len(got.Currencies) != 2 || got.Currencies[1] != "USD" || usd.InvoiceValidationThreshold != 500_000 ||
		usd.ReceiptRequiredAbove != 3000 || usd.CategoryCeilings["travel"] != 6000 {
		t.Fatalf("settings after accepting USD: %+v", got)
	}
	// A merge keeps them; dropping USD needs its policy dropped too.
	if r := admin.do("PUT", "/api/v1/settings", `{"time_zone":"Europe/Paris"}`); r.status != 200 || len(r.json(t)["currencies"].([]any)) != 2 {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	if r := admin.do("PUT", "/api/v1/settings", `{"currencies":["EUR"]}`); problemCode(t, r, 400) != "currency_not_accepted" {
		t.Fatalf("dropping USD, keeping its policy: %s", r.body)
	}
	if r := admin.do("PUT", "/api/v1/settings", `{"currencies":["EUR"],"currency_policies":{}}`); r.status != 200 {
		t.Fatalf("dropping USD: %d %s", r.status, r.body)
	}
	// Another tenant is untouched.
	if g := as(t, app, "globex", "u-g", "admin").do("GET", "/api/v1/settings", "").json(t); len(g["currencies"].([]any)) != 1 {
		t.Fatalf("globex %v", g)
	}
}

// eventTypes returns the types of the tenant's events, read from its
// audit log: what commands wrote.
func eventTypes(t *testing.T, app caller) []string {
	t.Helper()
	aud := caller{t: t, app: app.app, tenant: app.tenant, token: mint(t, app.app, app.tenant, "u-audit", []user.Role{user.Auditor})}
	r := aud.do("GET", "/api/v1/audit/events?limit=500", "")
	if r.status != 200 {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	var page struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range page.Items {
		out = append(out, e.Type)
	}
	return out
}

func invoiceIn(currency, lineCurrency string, quantity, price int64) string {
	return fmt.Sprintf(`{"client":{"id":"C-9","name":"Initrode"},"currency":%q,"due_date":"2026-12-31",
		"lines":[{"description":"Work","quantity":%d,"unit_price":{"amount":%d,"currency":%q}}]}`, currency, quantity, price, lineCurrency)
}

// TestCurrenciesTheTenantAccepts: a document or payment in a currency the
// tenant does not accept is 422 and writes nothing; once a currency is
// accepted, its own policies apply to it.
func TestCurrenciesTheTenantAccepts(t *testing.T) {
	app := newApp(t)
	_, rep := join(t, app, "acme", "sales") // the salesperson credited
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	emp := as(t, app, "acme", "u-emp", "employee")
	admin := as(t, app, "acme", "u-adm", "admin")
	eurInvoice, _ := create(t, fin, 10_000)
	if r := fin.do("POST", "/api/v1/invoices/"+eurInvoice+"/issue", ""); r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	before := eventTypes(t, fin)

	refused := []struct {
		name        string
		c           caller
		path, body  string
		code, field string
	}{
		{"an invoice in USD", fin, "/api/v1/invoices", invoiceIn("USD", "USD", 1, 100), "currency_not_accepted", "currency"},
		{"an invoice in ZZZ", fin, "/api/v1/invoices", invoiceIn("ZZZ", "ZZZ", 1, 100), "invalid_currency", "currency"},
		{"an invoice in XXX", fin, "/api/v1/invoices", invoiceIn("XXX", "XXX", 1, 100), "invalid_currency", "currency"},
		{"a line in USD", fin, "/api/v1/invoices", invoiceIn("EUR", "USD", 1, 100), "currency_not_accepted", "lines[0].unit_price.currency"},
		{"a payment in USD", fin, "/api/v1/invoices/" + eurInvoice + "/payments", `{"amount":{"amount":100,"currency":"USD"},"paid_at":"2026-11-20"}`,
			"currency_not_accepted", "amount.currency"},
		{"a claim in USD", emp, "/api/v1/expenses", `{"category":"meals","amount":{"amount":100,"currency":"USD"},"spent_on":"2026-11-20"}`,
			"currency_not_accepted", "amount.currency"},
		{"a claim in ZZZ", emp, "/api/v1/expenses", `{"category":"meals","amount":{"amount":100,"currency":"ZZZ"},"spent_on":"2026-11-20"}`,
			"invalid_currency", "amount.currency"},
		{"a target in USD", mgr, "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue","target":{"amount":100,"currency":"USD"}}`, rep),
			"currency_not_accepted", "target.currency"},
	}
	for _, tc := range refused {
		r := tc.c.do("POST", tc.path, tc.body)
		if code := problemCode(t, r, 422); code != tc.code || r.json(t)["field"] != tc.field {
			t.Errorf("%s: %s, want %s naming %s", tc.name, r.body, tc.code, tc.field)
		}
	}
	if after := eventTypes(t, fin); !slices.Equal(after, before) {
		t.Fatalf("refused commands wrote %v", after[len(before):])
	}

	// USD accepted, with its own policies: threshold 5,000.00, receipts
	// above 30.00, travel at most 60.00 (EUR's: 10,000.00, 25.00, 500.00).
	if r := admin.do("PUT", "/api/v1/settings", usdPolicy); r.status != 200 {
		t.Fatalf("accept USD: %d %s", r.status, r.body)
	}
	issue := func(body string) string {
		t.Helper()
		r := fin.do("POST", "/api/v1/invoices", body)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		r = fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
		if r.status != 200 {
			t.Fatalf("issue: %d %s", r.status, r.body)
		}
		return fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, r)).json(t)["status"].(string)
	}
	if got := issue(invoiceIn("USD", "USD", 1, 600_000)); got != "pending_validation" { // 6,000.00 USD: below EUR's threshold, above USD's
		t.Fatalf("a USD invoice above the USD threshold is %s", got)
	}
	if got := issue(invoiceIn("USD", "USD", 1, 499_999)); got != "issued" {
		t.Fatalf("a USD invoice below the USD threshold is %s", got)
	}
	if got := issue(invoiceIn("EUR", "EUR", 1, 600_000)); got != "issued" {
		t.Fatalf("an EUR invoice below the EUR threshold is %s", got)
	}
	if r := fin.do("POST", "/api/v1/invoices", invoiceIn("USD", "EUR", 1, 100)); problemCode(t, r, 400) != "currency_mismatch" {
		t.Fatalf("a line in another accepted currency: %s", r.body)
	}
	if r := fin.do("POST", "/api/v1/invoices/"+eurInvoice+"/payments", `{"amount":{"amount":100,"currency":"USD"},"paid_at":"2026-11-20"}`); problemCode(t, r, 400) != "currency_mismatch" {
		t.Fatalf("a USD payment on an EUR invoice: %s", r.body)
	}
	claim := func(body string) string {
		t.Helper()
		r := emp.do("POST", "/api/v1/expenses", body)
		if r.status != 201 {
			t.Fatalf("claim: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	trip := claim(`{"category":"travel","amount":{"amount":7000,"currency":"USD"},"spent_on":"2026-11-20"}`) // 70.00 USD: under EUR's ceiling, over USD's
	if code := problemCode(t, emp.do("POST", "/api/v1/expenses/"+trip+"/submit", ""), 422); code != "category_ceiling_exceeded" {
		t.Fatalf("a USD claim over the USD ceiling: %s", code)
	}
	lunch := claim(`{"category":"meals","amount":{"amount":3100,"currency":"USD"},"spent_on":"2026-11-20"}`)
	if code := problemCode(t, emp.do("POST", "/api/v1/expenses/"+lunch+"/submit", ""), 422); code != "receipt_required" {
		t.Fatalf("a USD claim over the USD receipt threshold: %s", code)
	}
	snack := claim(`{"category":"meals","amount":{"amount":2800,"currency":"USD"},"spent_on":"2026-11-20"}`) // over EUR's 25.00, under USD's 30.00
	if r := emp.do("POST", "/api/v1/expenses/"+snack+"/submit", ""); r.status != 200 {
		t.Fatalf("a USD claim under the USD receipt threshold: %d %s", r.status, r.body)
	}
	if r := mgr.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue","target":{"amount":100,"currency":"USD"}}`, rep)); r.status != 201 {
		t.Fatalf("a USD target: %d %s", r.status, r.body)
	}

	// USD dropped: drafts in USD are not issued nor submitted any more, with
	// no policy to apply.
	usdDraft := fin.do("POST", "/api/v1/invoices", invoiceIn("USD", "USD", 1, 100)).json(t)["id"].(string)
	usdClaim := claim(`{"category":"meals","amount":{"amount":100,"currency":"USD"},"spent_on":"2026-11-20"}`)
	if r := admin.do("PUT", "/api/v1/settings", `{"currencies":["EUR"],"currency_policies":{}}`); r.status != 200 {
		t.Fatalf("drop USD: %d %s", r.status, r.body)
	}
	if r := fin.do("POST", "/api/v1/invoices/"+usdDraft+"/issue", ""); problemCode(t, r, 422) != "currency_not_accepted" {
		t.Fatalf("issue a USD draft after USD was dropped: %s", r.body)
	}
	if r := emp.do("POST", "/api/v1/expenses/"+usdClaim+"/submit", ""); problemCode(t, r, 422) != "currency_not_accepted" {
		t.Fatalf("submit a USD claim after USD was dropped: %s", r.body)
	}
}

// TestAmountBounds: an amount beyond money.MaxAmount (10^15 minor units),
// or a product or sum of amounts beyond it, is 422 amount_out_of_range
// naming the field, and writes nothing.
func TestAmountBounds(t *testing.T) {
	app := newApp(t)
	_, rep := join(t, app, "acme", "sales") // the salesperson credited
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	emp := as(t, app, "acme", "u-emp", "employee")
	inv, _ := create(t, fin, 10_000)
	if r := fin.do("POST", "/api/v1/invoices/"+inv+"/issue", ""); r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	before := eventTypes(t, fin)
	const beyond = 1_000_000_000_000_001
	refused := []struct {
		name       string
		c          caller
		path, body string
		field      string
	}{
		{"a unit price beyond the bound", fin, "/api/v1/invoices", invoiceIn("EUR", "EUR", 1, beyond), "lines[0].unit_price.amount"},
		{"9e18 as a unit price", fin, "/api/v1/invoices", invoiceIn("EUR", "EUR", 1, 9_000_000_000_000_000_000), "lines[0].unit_price.amount"},
		{"quantity × price beyond the bound", fin, "/api/v1/invoices", invoiceIn("EUR", "EUR", 1_000, 1_000_000_000_001), "lines[0]"},
		{"quantity × price that wraps 64 bits", fin, "/api/v1/invoices", invoiceIn("EUR", "EUR", 1_000_000_000, 9_223_372_037), "lines[0]"},
		{"quantity × price that wraps to a small number", fin, "/api/v1/invoices", invoiceIn("EUR", "EUR", 1_000_000, 18_446_744_073_710), "lines[0]"},
		{"a total beyond the bound", fin, "/api/v1/invoices", `{"client":{"id":"C","name":"C"},"currency":"EUR","due_date":"2026-12-31",
			"lines":[{"description":"a","quantity":1,"unit_price":{"amount":1000000000000000,"currency":"EUR"}},
			{"description":"b","quantity":1,"unit_price":{"amount":1,"currency":"EUR"}}]}`, "lines"},
		{"a payment beyond the bound", fin, "/api/v1/invoices/" + inv + "/payments", fmt.Sprintf(`{"amount":{"amount":%d,"currency":"EUR"},"paid_at":"2026-11-20"}`, beyond), "amount.amount"},
		{"a claim beyond the bound", emp, "/api/v1/expenses", fmt.Sprintf(`{"category":"meals","amount":{"amount":%d,"currency":"EUR"},"spent_on":"2026-11-20"}`, beyond), "amount.amount"},
		{"a target beyond the bound", mgr, "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue","target":{"amount":%d,"currency":"EUR"}}`, rep, beyond), "target.amount"},
	}
	for _, tc := range refused {
		r := tc.c.do("POST", tc.path, tc.body)
		if code := problemCode(t, r, 422); code != "amount_out_of_range" || r.json(t)["field"] != tc.field {
			t.Errorf("%s: %s, want amount_out_of_range naming %s", tc.name, r.body, tc.field)
		}
	}
	if after := eventTypes(t, fin); !slices.Equal(after, before) {
		t.Fatalf("refused commands wrote %v", after[len(before):])
	}
	// At the bound, everything is taken.
	if r := fin.do("POST", "/api/v1/invoices", invoiceIn("EUR", "EUR", 1, 1_000_000_000_000_000)); r.status != 201 {
		t.Fatalf("an invoice at the bound: %d %s", r.status, r.body)
	}
	if r := fin.do("POST", "/api/v1/invoices", invoiceIn("EUR", "EUR", 1_000_000, 1_000_000_000)); r.status != 201 {
		t.Fatalf("a line at the bound: %d %s", r.status, r.body)
	}
}

// amountOf reads {"amount": n} at key of m.
func amountOf(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	a, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("no %s in %v", key, m)
	}
	return int64(a["amount"].(float64)) // exact: every amount answered is below 2^53
}

// TestReportsAtTheBound: two invoices at the bound, issued and paid in
// part, and two claims at the bound: every report answers 200 with exact,
// non-negative totals.
func TestReportsAtTheBound(t *testing.T) {
	app := newApp(t)
	_, rep := join(t, app, "acme", "sales") // the salesperson credited
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	emp := as(t, app, "acme", "u-emp", "employee")
	const bound = money.MaxAmount
	var last reply
	for _, paid := range []int64{1, bound - 1} {
		r := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(`{"client":{"id":"C-BIG","name":"Big"},"currency":"EUR","due_date":"2026-10-01","sales_rep":%q,
			"lines":[{"description":"Everything","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, rep, bound))
		if r.status != 201 {
			t.Fatalf("invoice at the bound: %d %s", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		for _, step := range []struct {
			c    caller
			path string
		}{{fin, "/issue"}, {mgr, "/approve"}} {
			if r := step.c.do("POST", "/api/v1/invoices/"+id+step.path, ""); r.status != 200 {
				t.Fatalf("%s: %d %s", step.path, r.status, r.body)
			}
		}
		last = fin.do("POST", "/api/v1/invoices/"+id+"/payments", fmt.Sprintf(`{"amount":{"amount":%d,"currency":"EUR"},"paid_at":"2026-11-20"}`, paid))
		if last.status != 200 {
			t.Fatalf("payment: %d %s", last.status, last.body)
		}
	}
	if r := mgr.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue","target":{"amount":%d,"currency":"EUR"}}`, rep, bound/2)); r.status != 201 {
		t.Fatalf("objective: %d %s", r.status, r.body)
	}
	for range 2 {
		r := emp.do("POST", "/api/v1/expenses", fmt.Sprintf(`{"category":"other","amount":{"amount":%d,"currency":"EUR"},"spent_on":"2026-11-20"}`, bound))
		if r.status != 201 {
			t.Fatalf("claim at the bound: %d %s", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		if r := emp.upload("/api/v1/expenses/"+id+"/receipt", "application/pdf", []byte("%PDF-1.7 receipt")); r.status != 200 {
			t.Fatalf("receipt: %d %s", r.status, r.body)
		}
		if r := emp.do("POST", "/api/v1/expenses/"+id+"/submit", ""); r.status != 200 {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		if last = mgr.do("POST", "/api/v1/expenses/"+id+"/approve", ""); last.status != 200 {
			t.Fatalf("approve: %d %s", last.status, last.body)
		}
	}
	pos := position(t, last)

	aging := fin.do("GET", "/api/v1/collections/aging", "", "X-Read-After", pos)
	items := aging.json(t)["items"].([]any)
	if aging.status != 200 || len(items) != 1 {
		t.Fatalf("aging: %d %s", aging.status, aging.body)
	}
	a := items[0].(map[string]any)
	if amountOf(t, a, "31_60") != bound || amountOf(t, a, "total") != bound || amountOf(t, a, "current") != 0 {
		t.Fatalf("aging %v", a)
	}
	clients := fin.do("GET", "/api/v1/collections/clients", "")
	items = clients.json(t)["items"].([]any)
	if clients.status != 200 || len(items) != 1 {
		t.Fatalf("clients: %d %s", clients.status, clients.body)
	}
	c := items[0].(map[string]any)
	if amountOf(t, c, "invoiced_90_days") != 2*bound || amountOf(t, c, "outstanding") != bound || amountOf(t, c, "overdue") != bound ||
		c["days_sales_outstanding"].(float64) != 45 {
		t.Fatalf("client risk %v", c)
	}
	objectives := mgr.do("GET", "/api/v1/objectives?period=2026-Q4", "")
	items = objectives.json(t)["items"].([]any)
	if objectives.status != 200 || len(items) != 1 {
		t.Fatalf("objectives: %d %s", objectives.status, objectives.body)
	}
	o := items[0].(map[string]any)
	if amountOf(t, o, "progress") != bound || o["achieved_ratio"].(float64) != 2 {
		t.Fatalf("objective %v", o)
	}
	totals := mgr.do("GET", "/api/v1/expenses/totals?by=category", "")
	items = totals.json(t)["items"].([]any)
	if totals.status != 200 || len(items) != 1 {
		t.Fatalf("expense totals: %d %s", totals.status, totals.body)
	}
	if e := items[0].(map[string]any); amountOf(t, e, "amount") != 2*bound || e["expenses"].(float64) != 2 || e["category"] != "other" {
		t.Fatalf("expense totals %v", e)
	}
}

// record appends evs to the stream of aggregate id in tenant tn directly,
// as commands recorded them before amounts were bounded; it returns the
// tenant's position after them.
func record(t *testing.T, st *assembly.Process, tn tenant.ID, aggregate, id string, evs ...domain.Event) string {
	t.Helper()
	ctx := tenant.With(context.Background(), tn)
	name, err := streams.NewName(tn, aggregate, id)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]streams.EventData, len(evs))
	for i, e := range evs {
		typ, b, err := st.Registry.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		data[i] = streams.EventData{ID: uuid.New(), Type: typ, Data: b, Metadata: streams.Metadata{Tenant: tn, UserID: "u-old"}}
	}
	res, err := st.Store.Append(ctx, name, streams.Any, data...)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(res.Position)
}

// TestAmountsRecordedBeforeTheBound: a tenant whose events hold amounts
// recorded before amounts were bounded (invoices and claims of 5e18 and
// 9e18) gets 422 total_out_of_range from the reports those amounts would
// overflow, never a wrapped, negative total nor a 500; the rest is served,
// and such a draft is not issued.
func TestAmountsRecordedBeforeTheBound(t *testing.T) {
	app, st := newStackApp(t)
	_, rep := join(t, app, "acme", "sales") // the salesperson credited
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	eur := func(n int64) money.Money { return money.New(n, "EUR") }
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	client := invoice.Client{ID: "C-OLD", Name: "Old"}
	if r := mgr.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue","target":{"amount":100000,"currency":"EUR"}}`, rep)); r.status != 201 {
		t.Fatalf("objective: %d %s", r.status, r.body)
	}
	for _, id := range []string{uuid.NewString(), uuid.NewString()} { // 9e18 each, outstanding: their sum wraps around
		record(t, st, "acme", "invoice", id,
			invoice.Drafted{InvoiceID: id, Client: client, Currency: "EUR", DueDate: "2026-10-01", SalesRep: rep, Total: eur(9_000_000_000_000_000_000), CreatedBy: "u-old", CreatedAt: at},
			invoice.Issued{InvoiceID: id, Number: "INV-OLD-" + id[:4], Total: eur(9_000_000_000_000_000_000), DueDate: "2026-10-01", IssuedBy: "u-old", IssuedAt: at})
	}
	for _, id := range []string{uuid.NewString(), uuid.NewString()} { // 5e18 each, paid: their SQL SUM overflows
		record(t, st, "acme", "invoice", id,
			invoice.Drafted{InvoiceID: id, Client: client, Currency: "EUR", DueDate: "2026-12-01", SalesRep: rep, Total: eur(5_000_000_000_000_000_000), CreatedBy: "u-old", CreatedAt: at},
			invoice.Issued{InvoiceID: id, Number: "INV-OLD-" + id[:4], Total: eur(5_000_000_000_000_000_000), DueDate: "2026-12-01", IssuedBy: "u-old", IssuedAt: at},
			invoice.PaymentRecorded{InvoiceID: id, PaymentID: "p", Amount: eur(5_000_000_000_000_000_000), PaidAt: at, Paid: eur(5_000_000_000_000_000_000), Due: eur(0), SalesRep: rep, RecordedBy: "u-old"})
		record(t, st, "acme", "expense", id,
			expense.Drafted{ExpenseID: id, Owner: "u-emp", Category: "meals", Amount: eur(5_000_000_000_000_000_000), SpentOn: "2026-11-01", At: at},
			expense.Submitted{ExpenseID: id, By: "u-emp", At: at},
			expense.Approved{ExpenseID: id, By: "u-mgr", At: at})
	}
	draft := uuid.NewString()
	pos := record(t, st, "acme", "invoice", draft, // the last: reads wait for it
		invoice.Drafted{InvoiceID: draft, Client: client, Currency: "EUR", DueDate: "2026-12-01", Total: eur(9_000_000_000_000_000_000), CreatedBy: "u-old", CreatedAt: at})

	for _, rt := range []struct {
		c    caller
		path string
	}{
		{fin, "/api/v1/collections/aging"},
		{fin, "/api/v1/collections/clients"},
		{mgr, "/api/v1/objectives"},
		{mgr, "/api/v1/expenses/totals?by=category"},
	} {
		if code := problemCode(t, rt.c.do("GET", rt.path, "", "X-Read-After", pos), 422); code != "total_out_of_range" {
			t.Errorf("%s: %s, want total_out_of_range", rt.path, code)
		}
	}
	if r := fin.do("GET", "/api/v1/invoices", ""); r.status != 200 || len(r.json(t)["items"].([]any)) != 5 {
		t.Fatalf("invoice list: %d %s", r.status, r.body)
	}
	if r := fin.do("POST", "/api/v1/invoices/"+draft+"/issue", ""); problemCode(t, r, 422) != "amount_out_of_range" {
		t.Fatalf("issuing a draft of 9e18: %s", r.body)
	}
	// Globex, whose amounts are all within the bound, is served as ever.
	if r := as(t, app, "globex", "u-g", "finance").do("GET", "/api/v1/collections/aging", ""); r.status != 200 {
		t.Fatalf("globex aging: %d %s", r.status, r.body)
	}
}
