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
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atrium-platform/atrium/commands"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
)

// fuzzAPI is the API's middleware and error handling with deps behind it
// (a logger writing into log is added), for routes a fuzz target mounts.
// One is made per fuzz target, before its inputs run.
func fuzzAPI(f *testing.F, deps Infra) (*api, *fiber.App, *bytes.Buffer) {
	f.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	log := &bytes.Buffer{}
	deps.Logger = slog.New(slog.NewJSONHandler(log, nil))
	a := &api{deps: deps, metrics: m}
	a.cfg.setDefaults()
	return a, a.app(), log
}

// fuzzReply is an answer as a client reads it.
type fuzzReply struct {
	status int
	header map[string]string
	body   []byte
}

// fuzzDo sends one request. The second result is false when the request
// never reached the API: fasthttp refused its bytes (a header over the
// read buffer, a malformed request line) before any handler ran.
func fuzzDo(t *testing.T, app *fiber.App, method, target string, body []byte, host string, hdr ...string) (fuzzReply, bool) {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		if strings.HasPrefix(err.Error(), "failed to read response") {
			t.Fatalf("the answer to %s %s is not HTTP: %v", method, target, err)
		}
		return fuzzReply{}, false
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
	return fuzzReply{resp.StatusCode, h, b}, true
}

// clientError checks that r is not a server error (but for the problem
// codes given) and that an error is a problem document with a code, and
// returns that code ("" for a success).
func (r fuzzReply) clientError(t *testing.T, log *bytes.Buffer, serverCodes ...string) string {
	t.Helper()
	if r.status < 400 {
		return ""
	}
	var p Problem
	if ct := r.header["Content-Type"]; ct != "application/problem+json" {
		t.Fatalf("status %d with content type %q: %s\nlog: %s", r.status, ct, r.body, log)
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != r.status || p.Code == "" || p.Type == "" || p.Title == "" {
		t.Fatalf("status %d with the problem %s: %v\nlog: %s", r.status, r.body, err, log)
	}
	if r.status >= 500 && !slices.Contains(serverCodes, p.Code) {
		t.Fatalf("status %d: %s\nlog: %s", r.status, r.body, log)
	}
	return p.Code
}

// echoed is what an echo command last decoded, with its options cleared,
// for the fuzz target to check against the body it sent.
type echoed struct {
	value any
}

// echoCommand is a command that runs nothing: it checks that what the
// route decoded of the body is what the body means (it encodes and decodes
// to itself), keeps it in last, and answers the request hash as the id.
func echoCommand[C any, P interface {
	*C
	commands.Command
}](last *echoed) commands.Handler[C] {
	return func(_ context.Context, cmd C) (commands.Result, error) {
		hash := P(&cmd).Options().RequestHash
		P(&cmd).SetOptions(commands.Request{})
		*last = echoed{value: cmd}
		enc, err := json.Marshal(cmd)
		if err != nil {
			return commands.Result{}, fmt.Errorf("decoded %+v does not encode: %w", cmd, err)
		}
		again, err := strictDecode[C](enc)
		if err != nil {
			return commands.Result{}, fmt.Errorf("decoded %+v encodes as %s, which does not decode: %w", cmd, enc, err)
		}
		if !reflect.DeepEqual(again, cmd) {
			return commands.Result{}, fmt.Errorf("decoded %+v encodes as %s, which decodes to %+v", cmd, enc, again)
		}
		return commands.Result{ID: hash, Version: 1, Position: 1}, nil
	}
}

// canonicalMeansTheSame checks that the canonical form of body, which its
// request hash is of, decodes to what the route decoded.
func canonicalMeansTheSame[C any](t *testing.T, body []byte, decoded any) {
	t.Helper()
	canon := canonicalJSON(body)
	if len(canon) == 0 {
		return
	}
	fromCanon, err := strictDecode[C](canon)
	if err != nil {
		t.Fatalf("the body %q decodes to %+v, but its canonical form %s, which its request hash is of, does not: %v", body, decoded, canon, err)
	}
	if !reflect.DeepEqual(any(fromCanon), decoded) {
		t.Fatalf("the body %q decodes to %+v, but its canonical form %s, which its request hash is of, to %+v", body, decoded, canon, fromCanon)
	}
}

func strictDecode[B any](data []byte) (B, error) {
	var v B
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return v, errors.New("more than one value")
	}
	return v, nil
}

// bodyRoute is a command route decoding into one of the API's body types.
type bodyRoute struct {
	method, pattern, id string
	allowEmpty          bool
}

func (r bodyRoute) path() string { return strings.Replace(r.pattern, ":id", r.id, 1) }

// FuzzDecodeBody sends arbitrary bytes, with an arbitrary Content-Type, to
// command routes that decode into the API's own body types (an invoice, a
// payment, settings, an empty body) through the API's middleware, with an
// Idempotency-Key. Every answer is a success or a problem document with a
// code, never a server error; a body is accepted only when it is one JSON
// value (or blank, where allowed) sent as JSON; what is accepted means what
// it says (see echoBody); and the request hash is that of the body sent.
func FuzzDecodeBody(f *testing.F) {
	a, app, log := fuzzAPI(f, Infra{})
	routes := []bodyRoute{
		{"POST", "/fuzz/invoices", "", false},
		{"POST", "/fuzz/invoices/:id/payments", "i-1", false},
		{"PUT", "/fuzz/settings", "", false},
		{"POST", "/fuzz/invoices/:id/issue", "i-1", true},
	}
	// The routes as a module mounts them, with no guard in front.
	g := Group{a: a, prefix: "/fuzz", router: app.Group("/fuzz"), guard: func(c *fiber.Ctx) error { return c.Next() }}
	var last echoed
	Command(g, fiber.MethodPost, "/invoices", fiber.StatusCreated, echoCommand[invoicecmd.CreateInvoice](&last), nil)
	Command(g, fiber.MethodPost, "/invoices/:id/payments", fiber.StatusOK, echoCommand[invoicecmd.RecordPayment](&last),
		func(c *fiber.Ctx, cmd *invoicecmd.RecordPayment) { cmd.InvoiceID = "" })
	app.Put(routes[2].pattern, func(c *fiber.Ctx) error { // decoded by hand, as the settings route does
		req, err := Options(c)
		if err != nil {
			return err
		}
		var b settingsBody
		if err := Decode(c, &b, false); err != nil {
			return err
		}
		last = echoed{value: b}
		return Answer(c, fiber.StatusOK, commands.Result{ID: req.RequestHash, Version: 1, Position: 1})
	})
	Action(g, fiber.MethodPost, "/invoices/:id/issue", fiber.StatusOK, echoCommand[invoicecmd.IssueInvoice](&last),
		func(c *fiber.Ctx, cmd *invoicecmd.IssueInvoice) { cmd.InvoiceID = "" })
	checkCanonical := []func(*testing.T, []byte, any){
		canonicalMeansTheSame[invoicecmd.CreateInvoice], canonicalMeansTheSame[invoicecmd.RecordPayment],
		canonicalMeansTheSame[settingsBody], canonicalMeansTheSame[invoicecmd.IssueInvoice],
	}

	seeds := []struct {
		route       uint8
		contentType string
		body        string
	}{
		{0, "application/json", `{"client":{"id":"C-1001","name":"Northwind"},"currency":"EUR","due_date":"2026-12-31","lines":[{"description":"Consulting days","quantity":12,"unit_price":{"amount":95000,"currency":"EUR"}}]}`},
		{0, "application/json; charset=utf-8", `{"lines":[{"quantity":9e18,"unit_price":{"amount":9223372036854775808,"currency":"ZZZ"}}]}`},
		{0, "", `{"client":{"id":"C\u0000","name":"\ud800"},"lines":null,"sales_rep":"` + strings.Repeat("x", 12<<10) + `"}`},
		{1, "application/json", `{"amount":{"amount":400000,"currency":"EUR"},"paid_at":"2026-11-20","reference":"wire 118"}`},
		{1, "application/json", `{"amount":{"amount":1,"currency":"EUR"},"reference":"a","reference":"b"} `},
		{1, "application/json", `{"amount":{"amount":-9223372036854775808,"currency":"EUR","extra":1}}`},
		{2, "application/json", `{"currency":"USD","expense_policy":{"category_ceilings":{"meals":{"amount":5000,"currency":"USD"}},"max_receipt_bytes":1e3}}`},
		{2, "APPLICATION/JSON", `{"invoice_validation_threshold":{"amount":1000000,"currency":"EUR"}}{"currency":"USD"}`},
		{2, "text/plain", `{"currency":"USD"}`},
		{3, "application/json", ``},
		{3, "application/json", " \t\r\n"},
		{3, "application/json", `{}`},
		{3, "application/json", `{"reason":"x"}`},
		{0, "application/json", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
		{0, "application/json", "{\"client\":{\"id\":\"\xff\xfe\"}}"},
		{0, "application/json", "\x00{}"},
		{1, "application/json", `{"amount":{"amount":"100","currency":"EUR"}}`},
		{2, "application/json", `[{"currency":"USD"}]`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		log.Reset()
		last = echoed{}
		ri := int(route) % len(routes)
		rt := routes[ri]
		r, ok := fuzzDo(t, app, rt.method, rt.path(), body, "", "Content-Type", contentType, "Idempotency-Key", "fuzz-key")
		if !ok {
			return
		}
		code := r.clientError(t, log)
		if code != "" {
			return
		}
		blankAllowed := rt.allowEmpty && len(bytes.TrimSpace(body)) == 0
		if !blankAllowed && !json.Valid(body) {
			t.Fatalf("%s %s accepted a body that is not JSON: %q", rt.method, rt.path(), body)
		}
		var answer commandAnswer
		if err := json.Unmarshal(r.body, &answer); err != nil {
			t.Fatalf("answer %s: %v", r.body, err)
		}
		params := ""
		if rt.id != "" {
			params = "id=" + rt.id + "\x00"
		}
		if want := requestHash("", rt.method, rt.pattern, params, body); answer.ID != want {
			t.Fatalf("request hash %s, want %s for the body %q", answer.ID, want, body)
		}
		checkCanonical[ri](t, body, last.value)
	})
}

// FuzzCanonicalJSON checks the canonical form the Idempotency-Key hash is
// taken of: the same body always gives the same form and hash; a body that
// is one JSON value gives valid JSON that is its own canonical form, the
// same whatever the spacing and the order of the keys; a body that is not
// is hashed as sent.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{
		`{"reason":"late","extra":{"b":1,"a":[1,2]}}`,
		"{ \"b\" : 1.50 ,\n \"a\" : [ 1e400 , -0, 9223372036854775808 ] }",
		`{"a":1,"a":2}`,
		`{"Currency":"USD","currency":"EUR"}`,
		`{"s":"\u00e9\u2028<>&\ud800"}`,
		"{\"s\":\"\xff\xfe\x00\"}",
		`"just a string"`,
		`null`,
		`{"a":1}{"a":1}`,
		`{"a":1} x`,
		``,
		" \n\t",
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500),
		`[` + strings.Repeat(`"`+strings.Repeat("x", 1000)+`",`, 12) + `0]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		canon := canonicalJSON(body)
		if again := canonicalJSON(body); !bytes.Equal(canon, again) {
			t.Fatalf("canonicalJSON(%q) is %s, then %s", body, canon, again)
		}
		h := requestHash("acme", "POST", "/r/:id", "i-1", body)
		if again := requestHash("acme", "POST", "/r/:id", "i-1", slices.Clone(body)); again != h {
			t.Fatalf("requestHash of %q is %s, then %s", body, h, again)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if canon != nil {
				t.Fatalf("canonicalJSON(%q) = %q, want nothing for a blank body", body, canon)
			}
			return
		}
		v, err := oneValue(body)
		if err != nil {
			if !bytes.Equal(canon, body) {
				t.Fatalf("canonicalJSON(%q) = %q for a body that is not one JSON value (%v), want it as sent", body, canon, err)
			}
			return
		}
		if !json.Valid(canon) {
			t.Fatalf("canonicalJSON(%q) = %q, not JSON", body, canon)
		}
		if again := canonicalJSON(canon); !bytes.Equal(again, canon) {
			t.Fatalf("canonicalJSON(%q) = %s, whose canonical form is %s", body, canon, again)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, body, "\n", " \t"); err != nil {
			t.Fatalf("%q decodes but does not indent: %v", body, err)
		}
		var reversed bytes.Buffer
		writeReversed(&reversed, v)
		for _, other := range [][]byte{indented.Bytes(), reversed.Bytes()} {
			if got := requestHash("acme", "POST", "/r/:id", "i-1", other); got != h {
				t.Fatalf("%q and %q hash differently: %s and %s", body, other, canonicalJSON(body), canonicalJSON(other))
			}
		}
	})
}

// oneValue decodes body as canonicalJSON does: one JSON value, numbers as
// written.
func oneValue(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one value")
	}
	return v, nil
}

// writeReversed writes v as JSON with every object's keys in reverse order
// and a space after each separator.
func writeReversed(w *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Reverse(keys)
		w.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				w.WriteString(", ")
			}
			kb, _ := json.Marshal(k)
			w.Write(kb)
			w.WriteString(": ")
			writeReversed(w, v[k])
		}
		w.WriteString("}")
	case []any:
		w.WriteString("[")
		for i, e := range v {
			if i > 0 {
				w.WriteString(", ")
			}
			writeReversed(w, e)
		}
		w.WriteString("]")
	case json.Number:
		w.WriteString(v.String())
	default:
		b, _ := json.Marshal(v)
		w.Write(b)
	}
}
