package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// bare is the API's middleware and error handling with no dependency
// behind it, logging JSON into log; tests add their own routes.
func bare(t *testing.T, log *bytes.Buffer) (*api, *fiber.App) {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := &api{deps: Infra{Logger: slog.New(slog.NewJSONHandler(log, nil))}, metrics: m}
	a.cfg.setDefaults()
	return a, a.app()
}

type answer struct {
	status int
	header map[string]string
	body   string
}

func send(t *testing.T, app *fiber.App, method, path, body string, hdr ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k := range resp.Header {
		h[k] = resp.Header.Get(k)
	}
	return answer{resp.StatusCode, h, string(b)}
}

func (r answer) NewProblem(t *testing.T) Problem {
	t.Helper()
	if ct := r.header["Content-Type"]; ct != "application/problem+json" {
		t.Fatalf("content type %q: %s", ct, r.body)
	}
	var p Problem
	dec := json.NewDecoder(strings.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem %s: %v", r.body, err)
	}
	if p.Status != r.status || p.Type == "" || p.Title == "" || p.Code == "" {
		t.Fatalf("problem %s answered with status %d", r.body, r.status)
	}
	return p
}

func TestProblemOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		field  string
		known  bool
	}{
		{"invalid", domain.Invalidf("lines[0].quantity", "invalid_quantity", "quantity must be positive"), 400, "invalid_quantity", "lines[0].quantity", true},
		{"wrapped rejection", fmt.Errorf("decide: %w", domain.Rejectf("overpayment", "too much")), 422, "overpayment", "", true},
		{"wrong state", domain.WrongStatef("invalid_state", "paid"), 409, "invalid_state", "", true},
		{"not found", domain.NotFoundf("invoice_not_found", "no such invoice"), 404, "invoice_not_found", "", true},
		{"forbidden", domain.Forbiddenf("no"), 403, "forbidden", "", true},
		{"domain error without a code", &domain.Error{Kind: domain.Rejected}, 422, "rejected", "", true},
		{"version conflict", fmt.Errorf("issue: %w", commands.ErrVersionConflict), 412, "version_conflict", "", true},
		{"key reused", commands.ErrIdempotencyKeyReused, 422, "idempotency_key_reused", "", true},
		{"bad cursor", fmt.Errorf("list: %w", projections.ErrBadCursor), 400, "invalid_cursor", "", true},
		{"lagging", projections.ErrLagging, 503, "projection_lagging", "", true},
		{"no tenant", tenant.ErrNoTenant, 400, "tenant_required", "", true},
		{"no principal", user.ErrNoPrincipal, 401, "unauthorized", "", true},
		{"store unavailable", fmt.Errorf("read: %w", streams.ErrUnavailable), 503, "unavailable", "", true},
		{"append too large", fmt.Errorf("append: %w", streams.ErrTooLarge), 413, "payload_too_large", "", true},
		{"no event there", fmt.Errorf("read: %w", streams.ErrUnknownPosition), 400, "invalid_position", "", true},
		{"no route", fiber.ErrNotFound, 404, "not_found", "", true},
		{"wrong method", fiber.ErrMethodNotAllowed, 405, "method_not_allowed", "", true},
		{"too large", fiber.ErrRequestEntityTooLarge, 413, "payload_too_large", "", true},
		{"unexpected", errors.New("sqlite: disk I/O error at /var/lib/secret.db"), 500, "internal", "", false},
		{"a fiber 500", fiber.ErrInternalServerError, 500, "internal", "", false},
	}
	for _, tc := range tests {
		p, known := problemOf(tc.err)
		if p.Status != tc.status || p.Code != tc.code || p.Field != tc.field || known != tc.known {
			t.Errorf("%s: %d %s %q known=%v, want %d %s %q known=%v", tc.name, p.Status, p.Code, p.Field, known, tc.status, tc.code, tc.field, tc.known)
		}
		if !known && strings.Contains(p.Detail, "secret") {
			t.Errorf("%s: internals in the answer: %q", tc.name, p.Detail)
		}
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	type line struct {
		Quantity  int64       `json:"quantity"`
		UnitPrice money.Money `json:"unit_price"`
	}
	type body struct {
		Reason string `json:"reason"`
		Lines  []line `json:"lines"`
	}
	_, app := bare(t, &bytes.Buffer{})
	app.Post("/strict", func(c *fiber.Ctx) error {
		var b body
		if err := Decode(c, &b, false); err != nil {
			return err
		}
		return WriteJSON(c, 200, b)
	})
	app.Post("/lenient", func(c *fiber.Ctx) error {
		var b body
		if err := Decode(c, &b, true); err != nil {
			return err
		}
		return WriteJSON(c, 200, b)
	})
	tests := []struct {
		name, path, body, contentType string
		status                        int
		code, field                   string
	}{
		{"ok", "/strict", `{"reason":"ü✓ 日本","lines":[{"quantity":2}]}`, "application/json", 200, "", ""},
		{"json with charset", "/strict", `{"reason":"x"}`, "application/json; charset=utf-8", 200, "", ""},
		{"no content type", "/strict", `{"reason":"x"}`, "", 200, "", ""},
		{"empty where a body is needed", "/strict", ``, "application/json", 400, "invalid_request", ""},
		{"empty where none is", "/lenient", `  `, "application/json", 200, "", ""},
		{"malformed", "/strict", `{"reason":`, "application/json", 400, "invalid_request", ""},
		{"syntax error", "/strict", `{"reason" "x"}`, "application/json", 400, "invalid_request", ""},
		{"unknown top-level field", "/strict", `{"reasons":"x"}`, "application/json", 400, "invalid_request", "reasons"},
		{"unknown nested field", "/strict", `{"lines":[{"qty":1}]}`, "application/json", 400, "invalid_request", "qty"},
		{"wrong type nested", "/strict", `{"lines":[{"quantity":"2"}]}`, "application/json", 400, "invalid_request", "lines.quantity"},
		{"fraction for an integer", "/strict", `{"lines":[{"quantity":1.5}]}`, "application/json", 400, "invalid_request", "lines.quantity"},
		{"huge number", "/strict", `{"lines":[{"quantity":1e400}]}`, "application/json", 400, "invalid_request", "lines.quantity"},
		{"wrong type at the top", "/strict", `"reason"`, "application/json", 400, "invalid_request", "(body)"},
		{"trailing value", "/strict", `{"reason":"a"} {"reason":"b"}`, "application/json", 400, "invalid_request", ""},
		{"trailing garbage", "/strict", `{"reason":"a"}]`, "application/json", 400, "invalid_request", ""},
		{"not json", "/strict", `reason=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"invalid utf-8 is replaced, not refused", "/strict", "{\"reason\":\"\xff\xfe\"}", "application/json", 200, "", ""},
		{"a key twice", "/strict", `{"reason":"a","reason":"b"}`, "application/json", 400, "invalid_request", "reason"},
		{"a nested key twice", "/strict", `{"lines":[{"unit_price":{"amount":1,"currency":"EUR","currency":"USD"}}]}`, "application/json", 400, "invalid_request", "currency"},
		{"a key twice in other cases", "/strict", `{"lines":[{"unit_price":{"currency":"EUR","Currency":"USD"}}]}`, "application/json", 400, "invalid_request", "Currency"},
		{"a key twice through Unicode folding", "/strict", `{"reason":"a","rea\u017fon":"b"}`, "application/json", 400, "invalid_request", "rea\u017fon"},
		{"the same key in two objects", "/strict", `{"lines":[{"quantity":1},{"quantity":2}],"reason":"r"}`, "application/json", 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			r := send(t, app, "POST", tc.path, tc.body, hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 200 {
				return
			}
			if p := r.NewProblem(t); p.Code != tc.code || p.Field != tc.field {
				t.Fatalf("code %q field %q, want %q %q", p.Code, p.Field, tc.code, tc.field)
			}
		})
	}
}

func TestRequestHash(t *testing.T) {
	t.Parallel()
	base := requestHash("acme", "POST", "/api/v1/invoices/:id/cancel", "id-1", []byte(`{"reason":"late","extra":{"b":1,"a":[1,2]}}`))
	same := []struct {
		name string
		body string
	}{
		{"spacing", "{ \"reason\" : \"late\",\n \"extra\" : { \"b\" : 1, \"a\" : [ 1 , 2 ] } }\n"},
		{"key order", `{"extra":{"a":[1,2],"b":1},"reason":"late"}`},
		{"escaped the same string", `{"reason":"l\u0061te","extra":{"b":1,"a":[1,2]}}`},
	}
	for _, tc := range same {
		if h := requestHash("acme", "POST", "/api/v1/invoices/:id/cancel", "id-1", []byte(tc.body)); h != base {
			t.Errorf("%s: another hash for the same request", tc.name)
		}
	}
	other := []struct {
		name                    string
		tenant                  tenant.ID
		method, route, id, body string
	}{
		{"value", "acme", "POST", "/api/v1/invoices/:id/cancel", "id-1", `{"reason":"early","extra":{"b":1,"a":[1,2]}}`},
		{"array order", "acme", "POST", "/api/v1/invoices/:id/cancel", "id-1", `{"reason":"late","extra":{"b":1,"a":[2,1]}}`},
		{"number as written", "acme", "POST", "/api/v1/invoices/:id/cancel", "id-1", `{"reason":"late","extra":{"b":1.0,"a":[1,2]}}`},
		{"route", "acme", "POST", "/api/v1/invoices/:id/reject", "id-1", `{"reason":"late","extra":{"b":1,"a":[1,2]}}`},
		{"aggregate", "acme", "POST", "/api/v1/invoices/:id/cancel", "id-2", `{"reason":"late","extra":{"b":1,"a":[1,2]}}`},
		{"tenant", "globex", "POST", "/api/v1/invoices/:id/cancel", "id-1", `{"reason":"late","extra":{"b":1,"a":[1,2]}}`},
		{"method", "acme", "PUT", "/api/v1/invoices/:id/cancel", "id-1", `{"reason":"late","extra":{"b":1,"a":[1,2]}}`},
	}
	for _, tc := range other {
		if h := requestHash(tc.tenant, tc.method, tc.route, tc.id, []byte(tc.body)); h == base {
			t.Errorf("%s: the same hash for another request", tc.name)
		}
	}
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Errorf("hash %q is not hex SHA-256", base)
	}
	// Bodies that are not one JSON value are hashed as sent.
	if requestHash("acme", "POST", "/r", "", []byte(`{"a":1}{"a":1}`)) == requestHash("acme", "POST", "/r", "", []byte(`{"a":1}`)) {
		t.Error("two values hashed as one")
	}
	if requestHash("acme", "POST", "/r", "", nil) != requestHash("acme", "POST", "/r", "", []byte(" \n")) {
		t.Error("blank bodies hash differently")
	}
}

func TestCommandHeaders(t *testing.T) {
	t.Parallel()
	_, app := bare(t, &bytes.Buffer{})
	app.Post("/invoices/:id/issue", func(c *fiber.Ctx) error {
		c.SetUserContext(tenant.With(c.UserContext(), "acme"))
		r, err := Options(c)
		if err != nil {
			return err
		}
		out := map[string]any{"command_id": r.CommandID, "request_hash": r.RequestHash}
		if r.IfMatch != nil {
			out["if_match"] = uint64(*r.IfMatch)
		}
		return WriteJSON(c, 200, out)
	})
	tests := []struct {
		name    string
		hdr     []string
		status  int
		ifMatch any
		keyed   bool
	}{
		{"nothing", nil, 200, nil, false},
		{"strong etag", []string{"If-Match", `"3"`}, 200, float64(3), false},
		{"weak etag", []string{"If-Match", `W/"3"`}, 200, float64(3), false},
		{"bare version", []string{"If-Match", `3`}, 200, float64(3), false},
		{"not a version", []string{"If-Match", `"three"`}, 400, nil, false},
		{"negative", []string{"If-Match", `"-1"`}, 400, nil, false},
		{"over 64 bits", []string{"If-Match", `"99999999999999999999"`}, 400, nil, false},
		{"a list", []string{"If-Match", `"1", "2"`}, 400, nil, false},
		{"idempotency key", []string{"Idempotency-Key", "k-1"}, 200, nil, true},
		{"long idempotency key", []string{"Idempotency-Key", strings.Repeat("k", 201)}, 400, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, app, "POST", "/invoices/i-1/issue", `{}`, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if r.status != 200 {
				if code := r.NewProblem(t).Code; code != "invalid_if_match" && code != "invalid_idempotency_key" {
					t.Fatalf("code %s", code)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			if got["if_match"] != tc.ifMatch {
				t.Fatalf("if_match %v, want %v", got["if_match"], tc.ifMatch)
			}
			if tc.keyed != (got["request_hash"] != "") || (tc.keyed && got["command_id"] != "k-1") {
				t.Fatalf("keyed: %v", got)
			}
			if !tc.keyed && len(got["command_id"].(string)) != 36 {
				t.Fatalf("unkeyed command id %v is not a fresh UUID", got["command_id"])
			}
		})
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	_, app := bare(t, &bytes.Buffer{})
	app.Get("/list", func(c *fiber.Ctx) error {
		n, err := Limit(c)
		if err != nil {
			return err
		}
		return WriteJSON(c, 200, n)
	})
	tests := []struct {
		query  string
		status int
		want   string
	}{
		{"", 200, "50"}, {"limit=1", 200, "1"}, {"limit=500", 200, "500"},
		{"limit=501", 400, ""}, {"limit=0", 400, ""}, {"limit=-1", 400, ""}, {"limit=ten", 400, ""},
		{"limit=1e2", 400, ""}, {"limit=99999999999999999999999", 400, ""}, {"limit=%20", 400, ""},
	}
	for _, tc := range tests {
		r := send(t, app, "GET", "/list?"+tc.query, "")
		if r.status != tc.status {
			t.Errorf("%q: %d, want %d", tc.query, r.status, tc.status)
			continue
		}
		if r.status == 200 && r.body != tc.want {
			t.Errorf("%q: %s, want %s", tc.query, r.body, tc.want)
		}
		if r.status == 400 {
			if p := r.NewProblem(t); p.Code != "invalid_request" || p.Field != "limit" {
				t.Errorf("%q: %+v", tc.query, p)
			}
		}
	}
}

// logLines decodes the JSON log written to b.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(b)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestPanicIsA500WithNothingOfIt(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	_, app := bare(t, &log)
	app.Get("/boom", func(c *fiber.Ctx) error {
		c.SetUserContext(tenant.With(c.UserContext(), "acme"))
		panic("secret: connection string postgres://u:p@db")
	})
	r := send(t, app, "GET", "/boom", "", "X-Correlation-ID", "corr-42")
	if r.status != 500 {
		t.Fatalf("status %d", r.status)
	}
	if p := r.NewProblem(t); p.Code != "internal" || strings.Contains(r.body, "secret") || strings.Contains(r.body, "panic") {
		t.Fatalf("answer %s", r.body)
	}
	if r.header["X-Correlation-Id"] != "corr-42" {
		t.Fatalf("correlation id not echoed: %v", r.header)
	}
	var failures, requests int
	for _, l := range logLines(t, &log) {
		switch l["msg"] {
		case "request failed":
			failures++
			if l["tenant"] != "acme" || l["correlation_id"] != "corr-42" || !strings.Contains(fmt.Sprint(l["err"]), "secret") || l["stack"] == nil {
				t.Errorf("failure logged as %v", l)
			}
		case "request":
			requests++
			if l["status"] != float64(500) || l["tenant"] != "acme" || l["correlation_id"] != "corr-42" || l["path"] != "/boom" {
				t.Errorf("request logged as %v", l)
			}
		}
	}
	if failures != 1 || requests != 1 {
		t.Fatalf("%d failure and %d request lines, want one of each", failures, requests)
	}
}

func TestUnexpectedErrorIsLoggedOnce(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	_, app := bare(t, &log)
	app.Get("/fail", func(c *fiber.Ctx) error {
		return fmt.Errorf("read model: %w", context.Canceled)
	})
	r := send(t, app, "GET", "/fail", "")
	if p := r.NewProblem(t); p.Status != 500 || p.Code != "internal" || strings.Contains(r.body, "read model") {
		t.Fatalf("answer %s", r.body)
	}
	n := 0
	for _, l := range logLines(t, &log) {
		if l["msg"] == "request failed" {
			n++
			if id, _ := l["correlation_id"].(string); len(id) != 36 {
				t.Errorf("no generated correlation id in %v", l)
			}
		}
	}
	if n != 1 {
		t.Fatalf("logged %d times", n)
	}
}

func TestBodyOverTheLimit(t *testing.T) {
	t.Parallel()
	a, app := bare(t, &bytes.Buffer{})
	app.Post("/json", func(c *fiber.Ctx) error { return c.SendStatus(204) })
	app.Put("/expenses/:id/receipt", func(c *fiber.Ctx) error { return c.SendStatus(204) })
	big := strings.Repeat("x", a.cfg.BodyLimit+1)
	if p := send(t, app, "POST", "/json", big).NewProblem(t); p.Status != 413 || p.Code != "payload_too_large" {
		t.Fatalf("%+v", p)
	}
	if r := send(t, app, "POST", "/json", big[1:]); r.status != 204 {
		t.Fatalf("a body at the limit: %d %s", r.status, r.body)
	}
	if r := send(t, app, "PUT", "/expenses/e-1/receipt", big); r.status != 204 {
		t.Fatalf("an upload over the JSON limit: %d %s", r.status, r.body)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := New(Config{BodyLimit: -1, ReadAfterMax: -time.Second}, Infra{})
	for _, want := range []string{"BodyLimit", "ReadAfterMax", "missing Progress", "missing Tenants", "missing Auth", "missing Catalog", "missing Security", "missing Logger", "missing Metrics"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not report %s", err, want)
		}
	}
}
