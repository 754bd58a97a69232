package http_test

import (
	"fmt"
	"testing"
)

func TestObjectiveCycle(t *testing.T) {
	app := newApp(t) // the clock stands at 2026-11-23
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")
	rep, repID := join(t, app, "acme", "sales")
	otherRep := as(t, app, "acme", "u-rep2", "sales")

	set := func(period string) string {
		t.Helper()
		r := mgr.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":%q,"metric":"revenue","target":{"amount":100000,"currency":"EUR"}}`, repID, period))
		if r.status != 201 {
			t.Fatalf("set %s: %d %s", period, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	q3, q4 := set("2026-Q3"), set("2026-Q4")
	for _, tc := range []struct{ body, code string }{
		{`{"assignee":%q,"period":"2026-Q5","metric":"revenue","target":{"amount":1,"currency":"EUR"}}`, "invalid_period"},
		{`{"assignee":%q,"period":"2026-Q1","metric":"smiles","target":{"amount":1,"currency":"EUR"}}`, "invalid_metric"},
		{`{"assignee":%q,"period":"2026-Q1","metric":"revenue","target":{"amount":0,"currency":"EUR"}}`, "invalid_amount"},
	} {
		if code := problemCode(t, mgr.do("POST", "/api/v1/objectives", fmt.Sprintf(tc.body, repID)), 400); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.body, code, tc.code)
		}
	}
	if code := problemCode(t, rep.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q1","metric":"revenue","target":{"amount":1,"currency":"EUR"}}`, repID)), 403); code != "forbidden" {
		t.Fatalf("a salesperson setting objectives: %s", code)
	}

	// Revenue credited to the salesperson: 300.00 paid in Q3 counts for Q3, 200.00 paid in Q4 for Q4.
	sell := func(paidAt string, amount int) string {
		t.Helper()
		r := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(`{"client":{"id":"C","name":"C"},"currency":"EUR","due_date":"2026-12-31","sales_rep":%q,
			"lines":[{"description":"x","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, repID, amount))
		id := r.json(t)["id"].(string)
		fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
		r = fin.do("POST", "/api/v1/invoices/"+id+"/payments", fmt.Sprintf(`{"amount":{"amount":%d,"currency":"EUR"},"paid_at":%q}`, amount, paidAt))
		if r.status != 200 {
			t.Fatalf("pay: %d %s", r.status, r.body)
		}
		return position(t, r)
	}
	sell("2026-08-15", 30000)
	pos := sell("2026-10-02", 20000)
	list := mgr.do("GET", "/api/v1/objectives?period=2026-Q3", "", "X-Read-After", pos).json(t)["items"].([]any)
	if len(list) != 1 {
		t.Fatalf("Q3 objectives %v", list)
	}
	o := list[0].(map[string]any)
	if o["progress"].(map[string]any)["amount"].(float64) != 30000 || o["achieved_ratio"].(float64) != 0.3 || o["status"] != "open" {
		t.Fatalf("Q3 objective %v", o)
	}
	if got := rep.do("GET", "/api/v1/objectives?period=2026-Q4", "").json(t)["items"].([]any); len(got) != 1 ||
		got[0].(map[string]any)["progress"].(map[string]any)["amount"].(float64) != 20000 {
		t.Fatalf("the assignee's Q4 view %v", got)
	}
	if got := otherRep.do("GET", "/api/v1/objectives", "").json(t)["items"].([]any); len(got) != 0 {
		t.Fatalf("another salesperson sees %v", got)
	}

	// The cycle: not before the period ends; only the assignee submits; never self-validated.
	if code := problemCode(t, rep.do("POST", "/api/v1/objectives/"+q4+"/submit", ""), 422); code != "period_not_ended" {
		t.Fatalf("submit before the end: %s", code)
	}
	if code := problemCode(t, otherRep.do("POST", "/api/v1/objectives/"+q3+"/submit", ""), 403); code != "forbidden" {
		t.Fatalf("someone else submitting: %s", code)
	}
	if r := rep.do("POST", "/api/v1/objectives/"+q3+"/submit", ""); r.status != 200 {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	if code := problemCode(t, mgr.do("POST", "/api/v1/objectives/"+q3+"/reject", `{"reason":""}`), 400); code != "required" {
		t.Fatalf("reject without reason: %s", code)
	}
	if r := mgr.do("POST", "/api/v1/objectives/"+q3+"/reject", `{"reason":"count the renewals"}`); r.status != 200 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if r := rep.do("POST", "/api/v1/objectives/"+q3+"/submit", ""); r.status != 200 {
		t.Fatalf("submit again after rejection: %d %s", r.status, r.body)
	}
	r := mgr.do("POST", "/api/v1/objectives/"+q3+"/validate", "")
	if r.status != 200 {
		t.Fatalf("validate: %d %s", r.status, r.body)
	}
	if code := problemCode(t, mgr.do("POST", "/api/v1/objectives/"+q3+"/validate", ""), 409); code != "invalid_state" {
		t.Fatalf("validate twice: %s", code)
	}
	if got := mgr.do("GET", "/api/v1/objectives?period=2026-Q3", "", "X-Read-After", position(t, r)).json(t)["items"].([]any); got[0].(map[string]any)["status"] != "validated" {
		t.Fatalf("after validation %v", got)
	}
	// Another tenant's manager reaches nothing.
	g := as(t, app, "globex", "u-g", "manager,admin")
	for _, path := range []string{"/submit", "/validate"} {
		if r := g.do("POST", "/api/v1/objectives/"+q4+path, ""); r.status != 404 {
			t.Errorf("globex %s: %d", path, r.status)
		}
	}
	if got := g.do("GET", "/api/v1/objectives", "").json(t)["items"].([]any); len(got) != 0 {
		t.Fatalf("globex lists %v", got)
	}
}
