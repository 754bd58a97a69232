package http_test

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
)

// upload sends raw bytes as a receipt.
func (c caller) upload(path, contentType string, body []byte) reply {
	c.t.Helper()
	req := httptest.NewRequest("PUT", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Tenant", c.tenant)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.app.Test(req, 30_000)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func TestExpenseWorkflow(t *testing.T) {
	app := newApp(t)
	emp := as(t, app, "acme", "u-emp", "employee")
	other := as(t, app, "acme", "u-emp2", "employee")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	fin := as(t, app, "acme", "u-fin", "finance")

	draft := func(c caller, body string) string {
		t.Helper()
		r := c.do("POST", "/api/v1/expenses", body)
		if r.status != 201 {
			t.Fatalf("draft: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	// 80.00 of meals: above the 25.00 receipt threshold.
	id := draft(emp, `{"category":"meals","amount":{"amount":8000,"currency":"EUR"},"spent_on":"2026-11-20","description":"Client lunch"}`)
	if code := problemCode(t, emp.do("POST", "/api/v1/expenses/"+id+"/submit", ""), 422); code != "receipt_required" {
		t.Fatalf("submit without receipt: %s", code)
	}
	pdf := []byte("%PDF-1.7\nreceipt for lunch")
	for _, tc := range []struct {
		ct   string
		body []byte
		code string
	}{
		{"text/plain", []byte("hello"), "unsupported_receipt_type"},
		{"image/png", pdf, "receipt_type_mismatch"},
		{"application/pdf", nil, "required"},
	} {
		r := emp.upload("/api/v1/expenses/"+id+"/receipt", tc.ct, tc.body)
		if r.status < 400 || r.json(t)["code"] != tc.code {
			t.Errorf("%s receipt: %d %s, want %s", tc.ct, r.status, r.body, tc.code)
		}
	}
	if r := other.upload("/api/v1/expenses/"+id+"/receipt", "application/pdf", pdf); r.status != 403 {
		t.Fatalf("another employee attaching: %d %s", r.status, r.body)
	}
	if r := emp.upload("/api/v1/expenses/"+id+"/receipt", "application/pdf", pdf); r.status != 200 {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	// The same bytes and type come back, to the owner and to a manager, not to another employee.
	for _, c := range []caller{emp, mgr} {
		r := c.do("GET", "/api/v1/expenses/"+id+"/receipt", "")
		if r.status != 200 || !bytes.Equal(r.body, pdf) || r.header.Get("Content-Type") != "application/pdf" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("receipt: %d %q %s", r.status, r.body, r.header.Get("Content-Type"))
		}
	}
	if r := other.do("GET", "/api/v1/expenses/"+id+"/receipt", ""); r.status != 404 {
		t.Fatalf("another employee reading the receipt: %d", r.status)
	}
	r := emp.do("POST", "/api/v1/expenses/"+id+"/submit", "")
	if r.status != 200 {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	if code := problemCode(t, emp.do("POST", "/api/v1/expenses/"+id+"/approve", ""), 403); code != "forbidden" {
		t.Fatalf("employee approving: %s", code)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/expenses/"+id+"/reimburse", ""), 409); code != "invalid_state" {
		t.Fatalf("reimburse before approval: %s", code)
	}
	if r := mgr.do("POST", "/api/v1/expenses/"+id+"/approve", ""); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	r = fin.do("POST", "/api/v1/expenses/"+id+"/reimburse", "")
	if r.status != 200 {
		t.Fatalf("reimburse: %d %s", r.status, r.body)
	}
	got := emp.do("GET", "/api/v1/expenses/"+id, "", "X-Read-After", position(t, r)).json(t)
	if got["status"] != "reimbursed" || got["has_receipt"] != true {
		t.Fatalf("expense %v", got)
	}

	// Its state at a time: before anything (404), and now.
	if r := emp.do("GET", "/api/v1/expenses/"+id+"?as_of=2026-11-01T00:00:00Z", ""); r.status != 404 {
		t.Fatalf("as_of before the claim: %d %s", r.status, r.body)
	}
	if r := emp.do("GET", "/api/v1/expenses/"+id+"?as_of=2026-11-24T00:00:00Z", ""); r.status != 200 || r.json(t)["status"] != "reimbursed" {
		t.Fatalf("as_of now: %d %s", r.status, r.body)
	}
	if r := other.do("GET", "/api/v1/expenses/"+id+"?as_of=2026-11-24T00:00:00Z", ""); r.status != 404 {
		t.Fatalf("another employee reading a claim as of a time: %d", r.status)
	}
	// Monthly totals of accepted spend, by category and by employee.
	byCat := mgr.do("GET", "/api/v1/expenses/totals?by=category", "").json(t)["items"].([]any)
	if len(byCat) != 1 || byCat[0].(map[string]any)["category"] != "meals" || byCat[0].(map[string]any)["month"] != "2026-11" ||
		byCat[0].(map[string]any)["amount"].(map[string]any)["amount"].(float64) != 8000 {
		t.Fatalf("totals by category %v", byCat)
	}
	if byEmp := fin.do("GET", "/api/v1/expenses/totals?by=employee", "").json(t)["items"].([]any); len(byEmp) != 1 || byEmp[0].(map[string]any)["employee"] != "u-emp" {
		t.Fatalf("totals by employee %v", byEmp)
	}
	if code := problemCode(t, emp.do("GET", "/api/v1/expenses/totals", ""), 403); code != "forbidden" {
		t.Fatalf("an employee reading totals: %s", code)
	}
	if code := problemCode(t, mgr.do("GET", "/api/v1/expenses/totals?by=weather", ""), 400); code != "invalid_request" {
		t.Fatalf("bad by: %s", code)
	}
	// A manager's own claim is decided by another manager only.
	mine := draft(mgr, `{"category":"travel","amount":{"amount":1000,"currency":"EUR"},"spent_on":"2026-11-20"}`)
	mgr.do("POST", "/api/v1/expenses/"+mine+"/submit", "")
	if code := problemCode(t, mgr.do("POST", "/api/v1/expenses/"+mine+"/approve", ""), 422); code != "self_approval" {
		t.Fatalf("self approval: %s", code)
	}
	if code := problemCode(t, as(t, app, "acme", "u-mgr2", "manager").do("POST", "/api/v1/expenses/"+mine+"/reject", `{"reason":" "}`), 400); code != "required" {
		t.Fatalf("reject without reason: %s", code)
	}
	// Policy: an unknown category is refused at submit.
	odd := draft(emp, `{"category":"yachts","amount":{"amount":100,"currency":"EUR"},"spent_on":"2026-11-20"}`)
	if code := problemCode(t, emp.do("POST", "/api/v1/expenses/"+odd+"/submit", ""), 422); code != "category_not_allowed" {
		t.Fatalf("unknown category: %s", code)
	}
	// A category ceiling set by the admin applies at submit.
	admin := as(t, app, "acme", "u-adm", "admin")
	if r := admin.do("PUT", "/api/v1/settings", `{"expense_policy":{"category_ceilings":{"travel":{"amount":500,"currency":"EUR"}}}}`); r.status != 200 {
		t.Fatalf("set ceiling: %d %s", r.status, r.body)
	}
	trip := draft(emp, `{"category":"travel","amount":{"amount":900,"currency":"EUR"},"spent_on":"2026-11-20"}`)
	if code := problemCode(t, emp.do("POST", "/api/v1/expenses/"+trip+"/submit", ""), 422); code != "category_ceiling_exceeded" {
		t.Fatalf("ceiling: %s", code)
	}

	// An employee lists only their own claims, whatever the filter says.
	own := emp.do("GET", "/api/v1/expenses?owner=u-mgr", "", "X-Read-After", position(t, r)).json(t)["items"].([]any)
	for _, e := range own {
		if e.(map[string]any)["owner"] != "u-emp" {
			t.Fatalf("an employee sees %v", e)
		}
	}
	queue := mgr.do("GET", "/api/v1/expenses?status=submitted", "").json(t)["items"].([]any)
	if len(queue) != 1 || queue[0].(map[string]any)["id"] != mine {
		t.Fatalf("approval queue %v", queue)
	}
	if r := other.do("GET", "/api/v1/expenses/"+id, ""); r.status != 404 {
		t.Fatalf("another employee reading a claim: %d", r.status)
	}

	// Nothing of acme's is reachable from globex, by id or by key.
	g := as(t, app, "globex", "u-g", "manager,finance,admin,auditor")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/api/v1/expenses/" + id},
		{"GET", "/api/v1/expenses/" + id + "/receipt"},
		{"POST", "/api/v1/expenses/" + id + "/approve"},
		{"POST", "/api/v1/expenses/" + id + "/reimburse"},
	} {
		if r := g.do(rt.method, rt.path, ""); r.status != 404 {
			t.Errorf("globex %s %s: %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	if r := g.upload("/api/v1/expenses/"+id+"/receipt", "application/pdf", pdf); r.status != 404 {
		t.Errorf("globex attaching to acme's claim: %d", r.status)
	}
	if items := g.do("GET", "/api/v1/expenses", "").json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("globex lists %d of acme's claims", len(items))
	}
}
