package http_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
)

func TestRoutingBeforeIdentity(t *testing.T) {
	app := newApp(t)
	anon := as(t, app, "", "", "")
	fin := as(t, app, "acme", "u-fin", "finance")
	tests := []struct {
		name   string
		c      caller
		method string
		path   string
		status int
		code   string
		allow  []string
	}{
		{"unknown API route, nobody", anon, "GET", "/api/v1/nothing-here", 404, "not_found", nil},
		{"unknown admin route, nobody", anon, "GET", "/admin/v1/nothing-here", 404, "not_found", nil},
		{"unknown route", anon, "GET", "/nothing-here", 404, "not_found", nil},
		{"wrong method on a list, nobody", anon, "DELETE", "/api/v1/invoices", 405, "method_not_allowed", []string{"GET", "POST"}},
		{"wrong method on a command", fin, "PUT", "/api/v1/invoices/x/issue", 405, "method_not_allowed", []string{"POST"}},
		{"wrong method on health", anon, "POST", "/healthz", 405, "method_not_allowed", []string{"GET"}},
		{"a known route still needs a tenant", anon, "GET", "/api/v1/invoices", 400, "tenant_required", nil},
		{"and a caller", as(t, app, "acme", "", ""), "GET", "/api/v1/invoices", 401, "unauthorized", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do(tc.method, tc.path, "")
			if code := problemCode(t, r, tc.status); code != tc.code {
				t.Fatalf("code %s, want %s", code, tc.code)
			}
			allow := r.header.Values("Allow")
			for _, m := range tc.allow {
				if !strings.Contains(strings.Join(allow, ","), m) {
					t.Fatalf("Allow %v without %s", allow, m)
				}
			}
		})
	}
	if r := anon.do("HEAD", "/healthz", ""); r.status != 200 {
		t.Fatalf("HEAD /healthz: %d", r.status)
	}
}

func TestIdempotencyKeyOnTheSameJSONWrittenOtherwise(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	first := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 1000), "Idempotency-Key", "create-1")
	// The same fields, in another order and spacing.
	again := fin.do("POST", "/api/v1/invoices", `{ "lines": [ { "unit_price": {"currency":"EUR","amount":1000}, "quantity": 3, "description": "Consulting" } ],
		"due_date": "2026-10-01", "currency": "EUR", "client": { "name": "Northwind", "id": "C-1" } }`, "Idempotency-Key", "create-1")
	if first.status != 201 || again.status != 201 || string(first.body) != string(again.body) {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.body, again.status, again.body)
	}
	id := first.json(t)["id"].(string)
	issue := func() reply { return fin.do("POST", "/api/v1/invoices/"+id+"/issue", "", "Idempotency-Key", "issue-1") }
	i1, i2 := issue(), issue()
	if i1.status != 200 || string(i1.body) != string(i2.body) || i2.header.Get("ETag") != `"2"` {
		t.Fatalf("issue replay: %d %s / %d %s %s", i1.status, i1.body, i2.status, i2.body, i2.header.Get("ETag"))
	}
	// A key belongs to one command: another route with it is another request.
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+id+"/cancel", `{"reason":"x"}`, "Idempotency-Key", "issue-1"), 422); code != "idempotency_key_reused" {
		t.Fatalf("key reused on another route: %s", code)
	}
	// A stale If-Match on a payment writes nothing.
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+id+"/payments", `{"amount":{"amount":1,"currency":"EUR"},"paid_at":"2026-11-01T10:00:00+01:00"}`, "If-Match", `"1"`), 412); code != "version_conflict" {
		t.Fatalf("stale payment: %s", code)
	}
	if hist := fin.do("GET", "/api/v1/invoices/"+id+"/history", "").json(t)["items"].([]any); len(hist) != 2 {
		t.Fatalf("%d events, want drafted and issued", len(hist))
	}
	list := fin.do("GET", "/api/v1/invoices", "", "X-Read-After", position(t, i1)).json(t)["items"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d invoices after replays, want 1", len(list))
	}
}

func TestAuditCursor(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	for range 4 {
		create(t, fin, 1000)
	}
	aud := as(t, app, "acme", "u-aud", "auditor")
	var seen []float64
	path := "/api/v1/audit/events?limit=2"
	for range 10 {
		page := aud.do("GET", path, "").json(t)
		for _, e := range page["items"].([]any) {
			seen = append(seen, e.(map[string]any)["position"].(float64))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/v1/audit/events?limit=2&cursor=" + url.QueryEscape(next)
	}
	if len(seen) != 5 {
		t.Fatalf("positions %v, want the admin joining and four invoices", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("positions %v", seen)
		}
	}
	if code := problemCode(t, aud.do("GET", "/api/v1/audit/events?cursor=abc", ""), 400); code != "invalid_cursor" {
		t.Fatalf("bad cursor: %s", code)
	}
	if code := problemCode(t, aud.do("GET", "/api/v1/audit/events?cursor=2&after=3", ""), 400); code != "invalid_request" {
		t.Fatalf("two starts: %s", code)
	}
	third := num(seen[2])
	if n := len(aud.do("GET", "/api/v1/audit/events?cursor="+third+"&after="+third, "").json(t)["items"].([]any)); n != 2 {
		t.Fatalf("the same start twice: %d events", n)
	}
}

// hostile values put in place of any part of a valid body.
var hostile = []any{
	nil, true, false, 0, -1, 1.5, json.Number("-0"), 1e308, -9223372036854775808, 9223372036854775807,
	json.Number("18446744073709551616"), json.Number("1e400"), json.Number("-1e-400"),
	"", " ", "\u0000", json.RawMessage(`"\ud800"`), json.RawMessage(`"\udfff\ud800"`), "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ 日本 \u202e", strings.Repeat("ü", 40_000), "2026-02-30", "9999-99-99",
	"0000-01-01", "2026-11-20T25:61:00Z", "-1", "EUR", "eur", "XXXX", "../../etc/passwd", "<script>",
	[]any{}, []any{nil}, map[string]any{}, map[string]any{"amount": -1, "currency": "EUR"},
	map[string]any{"amount": 9223372036854775807, "currency": "EUR"}, map[string]any{"amount": 1, "currency": "JPY"},
}

// mutate replaces, with probability p, each part of v with a hostile value.
func mutate(r *rand.Rand, v any, p float64) any {
	if r.Float64() < p {
		return hostile[r.IntN(len(hostile))]
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if r.Float64() < p/4 {
				continue // drop a field
			}
			out[k] = mutate(r, e, p)
		}
		if r.Float64() < p/4 {
			out["unexpected"] = 1
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, mutate(r, e, p))
		}
		if r.Float64() < p/4 {
			out = append(out, out...)
		}
		return out
	}
	return v
}

// garble damages the bytes of a body.
func garble(r *rand.Rand, b []byte) []byte {
	if len(b) == 0 {
		return []byte{byte(r.IntN(256))}
	}
	out := append([]byte(nil), b...)
	switch r.IntN(4) {
	case 0:
		return out[:r.IntN(len(out))]
	case 1:
		out[r.IntN(len(out))] = byte(r.IntN(256))
	case 2:
		i := r.IntN(len(out))
		return append(out[:i], append([]byte(`"}]{[,:\`), out[i:]...)...)
	default:
		return append(out, out...)
	}
	return out
}

// TestHostileInputIsNeverA500 sends thousands of damaged requests to every
// invoice and audit route and expects a client error or a success, never a
// server error, and every error as problem+json.
func TestHostileInputIsNeverA500(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance,manager,admin,auditor")
	id, _ := create(t, fin, 1000)
	ids := []string{id, "0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", "not-an-id", "%00", "..%2F..", "%E2%9C%93",
		strings.Repeat("a", 3000), "acme.invoice-" + id, "%F0%9F%98%80", "%ff%fe"}
	queries := []string{"", "-1", "0", "1", "501", "99999999999999999999999", "abc", "%00", "%ff", "✓", "2026-11-20T10:00:00Z",
		"2026-11-20", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-11-20T10:00:00+25:00", strings.Repeat("x", 2000)}
	var createBody, paymentBody, reasonBody any
	must := func(s string, v *any) {
		if err := json.Unmarshal([]byte(s), v); err != nil {
			t.Fatal(err)
		}
	}
	must(fmt.Sprintf(invoiceBody, 1000), &createBody)
	must(`{"amount":{"amount":100,"currency":"EUR"},"paid_at":"2026-11-20","reference":"wire"}`, &paymentBody)
	must(`{"reason":"late"}`, &reasonBody)
	type route struct {
		method, path string
		body         any
	}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	routes := func() []route {
		inv := "/api/v1/invoices/" + pick(ids)
		return []route{
			{"POST", "/api/v1/invoices", createBody},
			{"POST", inv + "/issue", nil},
			{"POST", inv + "/approve", map[string]any{}},
			{"POST", inv + "/reject", reasonBody},
			{"POST", inv + "/cancel", reasonBody},
			{"POST", inv + "/payments", paymentBody},
			{"GET", "/api/v1/invoices?status=" + url.QueryEscape(pick(queries)) + "&client_id=" + url.QueryEscape(pick(queries)) +
				"&limit=" + url.QueryEscape(pick(queries)) + "&cursor=" + url.QueryEscape(pick(queries)), nil},
			{"GET", inv + "?as_of=" + url.QueryEscape(pick(queries)), nil},
			{"GET", inv, nil},
			{"GET", inv + "/history", nil},
			{"GET", "/api/v1/collections/aging", nil},
			{"GET", "/api/v1/audit/events?after=" + url.QueryEscape(pick(queries)) + "&limit=" + url.QueryEscape(pick(queries)), nil},
		}
	}
	headers := [][]string{
		nil,
		{"If-Match", `"` + pick(queries) + `"`},
		{"If-Match", pick(queries)},
		{"Idempotency-Key", pick(queries)},
		{"X-Read-After", pick([]string{"", "0", "1", "-1", "abc", "%00", "1.5", "99999999999999999999999"})},
		{"Content-Type", "text/plain"},
		{"X-Correlation-ID", strings.Repeat("c", 500)},
		{"Accept", "application/x-ndjson"},
	}
	statuses := map[int]int{}
	for i := range 150 {
		for _, rt := range routes() {
			var body []byte
			if rt.body != nil {
				b, err := json.Marshal(mutate(r, rt.body, []float64{0.03, 0.15}[i%2]))
				if err != nil {
					t.Fatal(err)
				}
				body = b
			}
			if i%3 == 0 {
				body = garble(r, body)
			}
			hdr := headers[r.IntN(len(headers))]
			res := fin.do(rt.method, rt.path, string(body), hdr...)
			statuses[res.status]++
			if res.status >= 500 {
				t.Fatalf("%s %s %v %q: %d %s", rt.method, rt.path, hdr, body, res.status, res.body)
			}
			if res.status >= 400 {
				if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("%s %s: %d with %q: %s", rt.method, rt.path, res.status, ct, res.body)
				}
			}
		}
	}
	t.Logf("statuses: %v", statuses)
	if statuses[200]+statuses[201] == 0 || statuses[400] == 0 {
		t.Fatalf("the mutations were all refused or all accepted: %v", statuses)
	}
}

func TestReadAfterAPositionNotReached(t *testing.T) {
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 50 * time.Millisecond})
	fin := as(t, app, "acme", "u-fin", "finance")
	_, pos := create(t, fin, 1000)
	r := fin.do("GET", "/api/v1/invoices", "", "X-Read-After", pos)
	if r.status != 200 {
		t.Fatalf("read after the create: %d %s", r.status, r.body)
	}
	got, err := strconv.ParseUint(r.header.Get("X-Projection-Position"), 10, 64)
	if want, _ := strconv.ParseUint(pos, 10, 64); err != nil || got < want {
		t.Fatalf("X-Projection-Position %q after waiting for %s", r.header.Get("X-Projection-Position"), pos)
	}
	want, _ := strconv.ParseUint(pos, 10, 64)
	if code := problemCode(t, fin.do("GET", "/api/v1/invoices", "", "X-Read-After", strconv.FormatUint(want+1_000_000, 10)), 503); code != "projection_lagging" {
		t.Fatalf("a position never reached: %s", code)
	}
}

func TestRejectPartialPaymentAndCancel(t *testing.T) {
	app := newApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	status := func(id string, after reply) string {
		t.Helper()
		return fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, after)).json(t)["status"].(string)
	}

	big, _ := create(t, fin, 500_000)
	fin.do("POST", "/api/v1/invoices/"+big+"/issue", "")
	if code := problemCode(t, mgr.do("POST", "/api/v1/invoices/"+big+"/reject", `{}`), 400); code == "" {
		t.Fatal("reject without a reason")
	}
	r := mgr.do("POST", "/api/v1/invoices/"+big+"/reject", `{"reason":"price not agreed ✗"}`)
	if r.status != 200 || status(big, r) != "rejected" {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}

	small, _ := create(t, fin, 10_000) // 300.00
	fin.do("POST", "/api/v1/invoices/"+small+"/issue", "")
	r = fin.do("POST", "/api/v1/invoices/"+small+"/payments", `{"amount":{"amount":10000,"currency":"EUR"},"paid_at":"2026-11-20T09:30:00Z","reference":"wire"}`)
	if r.status != 200 || status(small, r) != "partially_paid" {
		t.Fatalf("partial payment: %d %s", r.status, r.body)
	}
	inv := fin.do("GET", "/api/v1/invoices/"+small, "").json(t)
	if inv["paid"].(map[string]any)["amount"].(float64) != 10_000 || inv["due"].(map[string]any)["amount"].(float64) != 20_000 {
		t.Fatalf("after a partial payment: %v", inv)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+small+"/payments", `{"amount":{"amount":10,"currency":"USD"},"paid_at":"2026-11-20"}`), 422); code != "currency_not_accepted" {
		t.Fatalf("a payment in a currency the tenant does not accept: %s", code)
	}

	draft, _ := create(t, fin, 1000)
	r = fin.do("POST", "/api/v1/invoices/"+draft+"/cancel", `{"reason":"duplicate"}`)
	if r.status != 200 || r.header.Get("ETag") != `"2"` || status(draft, r) != "cancelled" {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if code := problemCode(t, fin.do("POST", "/api/v1/invoices/"+draft+"/issue", ""), 409); code != "invalid_state" {
		t.Fatalf("issuing a cancelled invoice: %s", code)
	}
	cancelled := fin.do("GET", "/api/v1/invoices?status=cancelled", "").json(t)["items"].([]any)
	if len(cancelled) != 1 || cancelled[0].(map[string]any)["id"] != draft {
		t.Fatalf("cancelled list %v", cancelled)
	}
}
