package http_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	_ "github.com/jackc/pgx/v5/stdlib"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/adapters/assembly"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/postgres/pgtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections/erpsync"
)

const (
	acmeSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	globexSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// fastERP delivers to loopback receivers with short pauses, so failures
// and recoveries happen within a test.
func fastERP(c *assembly.Config) {
	c.ERP = assembly.ERPConfig{AllowPrivateTargets: true, Timeout: 1500 * time.Millisecond, AckWait: 6 * time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, BreakerOpen: 200 * time.Millisecond}
}

func newERPApp(t *testing.T, mods ...func(*assembly.Config)) (*fiber.App, *assembly.Process) {
	t.Helper()
	return newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 2 * time.Second}, append([]func(*assembly.Config){fastERP}, mods...)...)
}

// receiver is a real HTTP receiver, as an ERP's: it verifies every
// message with the Standard Webhooks library, and answers as answer says
// (the nth call, from 0; status 0 answers 204).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	wh     *standardwebhooks.Webhook
	mu     sync.Mutex
	calls  int
	got    []erpsync.Message // verified and answered 2xx, in order
	seen   []string          // every verified call's id, in order
	bad    int
	answer func(n int, m erpsync.Message) (status int, header map[string]string, delay time.Duration)
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, wh: wh}
	r.srv = httptest.NewServer(nethttp.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w nethttp.ResponseWriter, req *nethttp.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	if req.Method != "POST" || req.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(405)
		return
	}
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(401)
		return
	}
	var m erpsync.Message
	if err := json.Unmarshal(body, &m); err != nil || m.ID != req.Header.Get("webhook-id") {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(400)
		return
	}
	r.mu.Lock()
	n := r.calls
	r.calls++
	r.seen = append(r.seen, m.ID)
	answer := r.answer
	r.mu.Unlock()
	status, header, delay := 0, map[string]string(nil), time.Duration(0)
	if answer != nil {
		status, header, delay = answer(n, m)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if status == 0 {
		status = 204
	}
	for k, v := range header {
		w.Header().Set(k, v)
	}
	if status < 300 {
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (r *receiver) url() string { return r.srv.URL + "/erp" }

func (r *receiver) messages() []erpsync.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]erpsync.Message(nil), r.got...)
}

// eventually polls cond until it holds, failing the test after 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connectWebhook(t *testing.T, admin caller, url, secret string, events ...string) reply {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"kind": "webhook", "url": url, "secret": secret, "events": events})
	return admin.do("PUT", "/api/v1/erp/connection", string(b))
}

// firstArrivals is ms without the repeats of a message already there.
func firstArrivals(ms []erpsync.Message) []erpsync.Message {
	seen := map[string]bool{}
	var out []erpsync.Message
	for _, m := range ms {
		if !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	return out
}

// inOrder reports whether ms are in position order.
func inOrder(ms []erpsync.Message) bool {
	last := uint64(0)
	for _, m := range ms {
		if m.Position < last {
			return false
		}
		last = m.Position
	}
	return true
}

func TestERPWebhookDeliversEveryEventInOrderSigned(t *testing.T) {
	// Delivery is at least once: a receiver slower than the connector's
	// time-out (a loaded machine) gets a message again. This test counts
	// exact deliveries, so it gives the receiver ample time.
	app, _ := newERPApp(t, func(c *assembly.Config) { c.ERP.Timeout = 5 * time.Second })
	admin := as(t, app, "acme", "u-admin", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	rcv := newReceiver(t, acmeSecret)

	// Not configured until an admin sets it.
	r := admin.do("GET", "/api/v1/erp/connection", "")
	if r.status != 200 || r.json(t)["status"] != "not_configured" {
		t.Fatalf("before: %d %s", r.status, r.body)
	}
	if s := fin.do("GET", "/api/v1/erp/status", "").json(t); s["state"] != "not_configured" {
		t.Fatalf("status before: %v", s)
	}
	r = connectWebhook(t, admin, rcv.url(), acmeSecret, "invoice", "expense")
	if r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	view := r.json(t)
	if view["kind"] != "webhook" || view["url"] != rcv.url() || view["secret_set"] != true || view["status"] != "active" {
		t.Fatalf("connection answer %s", r.body)
	}
	if strings.Contains(string(r.body), acmeSecret) || strings.Contains(string(r.body), acmeSecret[6:]) {
		t.Fatalf("the secret is answered: %s", r.body)
	}
	var ids []string
	for i := range 6 {
		id, _ := create(t, fin, 100+i)
		ids = append(ids, id)
	}
	if r := fin.do("POST", "/api/v1/invoices/"+ids[0]+"/issue", ""); r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	// At least once (CONTRACT.md): a message may come again, with its id;
	// the first arrivals are every message, once each, in order.
	eventually(t, "7 messages", func() bool { return len(firstArrivals(rcv.messages())) >= 7 })
	got := firstArrivals(rcv.messages())
	if len(got) != 7 {
		t.Fatalf("%d messages delivered, want 7", len(got))
	}
	if !inOrder(got) {
		t.Fatalf("messages out of order: %+v", got)
	}
	for i, m := range got[:6] {
		if m.Type != "invoice.drafted" || m.Aggregate != "invoice" || m.AggregateID != ids[i] || m.Tenant != "acme" || m.Version != 1 {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if got[6].Type != "invoice.issued" || got[6].AggregateID != ids[0] {
		t.Fatalf("last message %+v", got[6])
	}
	// The message id is the event's: the audit log shows the same ids.
	audit := admin.do("GET", "/api/v1/audit/events?limit=500", "")
	for _, m := range got {
		if audit.status != 200 || !strings.Contains(string(audit.body), `"id":"`+m.ID+`"`) {
			t.Fatalf("the audit log does not hold message id %s: %s", m.ID, audit.body)
		}
	}
	// Numbering events are not a kind the tenant chose.
	for _, m := range got {
		if m.Aggregate != "invoice" {
			t.Fatalf("a message of a kind not chosen: %+v", m)
		}
	}
	eventually(t, "status delivered 7", func() bool {
		s := fin.do("GET", "/api/v1/erp/status", "").json(t)
		return s["delivered"] == float64(7) && s["pending"] == float64(0)
	})
	s := fin.do("GET", "/api/v1/erp/status", "").json(t)
	if s["state"] != "ok" || s["failed"] != float64(0) || s["last_delivered_position"] != float64(got[6].Position) {
		t.Fatalf("status %v", s)
	}
	list := fin.do("GET", "/api/v1/erp/messages?status=delivered&limit=3", "").json(t)
	items := list["items"].([]any)
	if len(items) != 3 || list["next_cursor"] == nil {
		t.Fatalf("page: %v", list)
	}
	first := items[0].(map[string]any)
	if first["id"] != got[6].ID || first["status"] != "delivered" || first["attempts"].(float64) < 1 || first["delivered_at"] == nil {
		t.Fatalf("newest message %v", first)
	}
	next := fin.do("GET", "/api/v1/erp/messages?status=delivered&limit=3&cursor="+list["next_cursor"].(string), "").json(t)
	if n := len(next["items"].([]any)); n != 3 {
		t.Fatalf("second page has %d", n)
	}
	if rcv.bad != 0 {
		t.Fatalf("%d calls failed verification", rcv.bad)
	}
	// The counter counts the deliveries the receiver confirmed in time: each
	// message at least once, and never more than the receiver recorded (it
	// records a message before its answer, which may come too late).
	eventually(t, "atrium_erp_pending 0 and every message counted delivered", func() bool {
		m := string(as(t, app, "", "", "").do("GET", "/metrics", "").body)
		var n int
		i := strings.Index(m, `atrium_erp_delivered_total{tenant="acme"} `)
		if i < 0 || !strings.Contains(m, `atrium_erp_pending{tenant="acme"} 0`) {
			return false
		}
		if _, err := fmt.Sscan(m[i+len(`atrium_erp_delivered_total{tenant="acme"} `):], &n); err != nil {
			t.Fatalf("delivered counter: %v", err)
		}
		if n > len(rcv.messages()) {
			t.Fatalf("%d deliveries counted, %d recorded by the receiver", n, len(rcv.messages()))
		}
		return n >= 7
	})
	// Roles: finance reads the status, only an admin manages the connection.
	if code := problemCode(t, fin.do("GET", "/api/v1/erp/connection", ""), 403); code != "forbidden" {
		t.Fatalf("finance reads the connection: %s", code)
	}
	if code := problemCode(t, connectWebhook(t, fin, rcv.url(), acmeSecret, "invoice"), 403); code != "forbidden" {
		t.Fatalf("finance sets the connection: %s", code)
	}
	emp := as(t, app, "acme", "u-emp", "employee")
	problemCode(t, emp.do("GET", "/api/v1/erp/status", ""), 403)
	problemCode(t, emp.do("GET", "/api/v1/erp/messages", ""), 403)
}

func TestERPFailingReceiverRetriesParksAndResyncs(t *testing.T) {
	app, _ := newERPApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	rcv := newReceiver(t, acmeSecret)
	var mu sync.Mutex
	refuse := ""
	var firstTry, afterRetryAfter time.Time
	rcv.answer = func(n int, m erpsync.Message) (int, map[string]string, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case n < 3:
			return 503, nil, 0 // down for a while
		case n == 3:
			firstTry = time.Now()
			return 429, map[string]string{"Retry-After": "1"}, 0
		case n == 4:
			afterRetryAfter = time.Now()
			return 0, nil, 3 * time.Second // slower than the connector's time-out
		case m.AggregateID == refuse:
			return 422, nil, 0 // refused for good
		}
		return 0, nil, 0
	}
	if r := connectWebhook(t, admin, rcv.url(), acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	id1, _ := create(t, fin, 100)
	eventually(t, "first message through 503s, a 429 and a time-out", func() bool { return len(rcv.messages()) == 1 })
	mu.Lock()
	if afterRetryAfter.Sub(firstTry) < 900*time.Millisecond {
		t.Fatalf("Retry-After: 1 not honoured: next attempt %s after", afterRetryAfter.Sub(firstTry))
	}
	mu.Unlock()
	// The receiver counts a message before it answers: the outbox records
	// the delivery once the answer is back.
	var rows []any
	eventually(t, "the first message recorded delivered", func() bool {
		rows = fin.do("GET", "/api/v1/erp/messages", "").json(t)["items"].([]any)
		return len(rows) == 1 && rows[0].(map[string]any)["status"] == "delivered"
	})
	if a := rows[0].(map[string]any)["attempts"].(float64); a < 6 {
		t.Fatalf("attempts %v, want 6 or more (3 × 503, 429, time-out, success)", a)
	}

	// A 4xx parks the message; the queue moves on.
	id2, _ := create(t, fin, 200)
	mu.Lock()
	refuse = id2
	mu.Unlock()
	id3, _ := create(t, fin, 300)
	eventually(t, "third message past the refused one", func() bool {
		ms := rcv.messages()
		return len(ms) == 2 && ms[1].AggregateID == id3
	})
	eventually(t, "parked", func() bool {
		s := fin.do("GET", "/api/v1/erp/status", "").json(t)
		return s["failed"] == float64(1)
	})
	failed := fin.do("GET", "/api/v1/erp/messages?status=failed", "").json(t)["items"].([]any)
	if len(failed) != 1 {
		t.Fatalf("failed: %v", failed)
	}
	parked := failed[0].(map[string]any)
	if parked["aggregate_id"] != id2 || parked["status"] != "failed" || !strings.Contains(fmt.Sprint(parked["last_error"]), "422") {
		t.Fatalf("parked message %v", parked)
	}
	// Retry: only an admin, only a failed message.
	problemCode(t, fin.do("POST", "/api/v1/erp/messages/"+parked["id"].(string)+"/retry", ""), 403)
	delivered := fin.do("GET", "/api/v1/erp/messages?status=delivered", "").json(t)["items"].([]any)[0].(map[string]any)
	if code := problemCode(t, admin.do("POST", "/api/v1/erp/messages/"+delivered["id"].(string)+"/retry", ""), 409); code != "invalid_state" {
		t.Fatalf("retry of a delivered message: %s", code)
	}
	if code := problemCode(t, admin.do("POST", "/api/v1/erp/messages/00000000-0000-4000-8000-000000000000/retry", ""), 404); code != "erp_message_not_found" {
		t.Fatalf("retry of no message: %s", code)
	}
	mu.Lock()
	refuse = ""
	mu.Unlock()
	if r := admin.do("POST", "/api/v1/erp/messages/"+parked["id"].(string)+"/retry", ""); r.status != 202 {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	eventually(t, "the retried message", func() bool {
		ms := rcv.messages()
		return len(ms) == 3 && ms[2].ID == parked["id"]
	})

	// Resync from the first invoice's position: every message again, same
	// ids, in order.
	first := rcv.messages()[0]
	before := len(rcv.messages())
	if code := problemCode(t, admin.do("POST", "/api/v1/erp/resync", `{"from_position":-1}`), 400); code != "invalid_request" {
		t.Fatalf("resync from -1: %s", code)
	}
	if r := admin.do("POST", "/api/v1/erp/resync", fmt.Sprintf(`{"from_position":%d}`, first.Position)); r.status != 202 {
		t.Fatalf("resync: %d %s", r.status, r.body)
	}
	eventually(t, "the resent messages", func() bool { return len(rcv.messages()) == before+3 })
	again := rcv.messages()[before:]
	if !inOrder(again) || again[0].ID != first.ID {
		t.Fatalf("resync sent %+v", again)
	}
	seen := map[string]bool{}
	for _, m := range again {
		seen[m.AggregateID] = true
	}
	if !seen[id1] || !seen[id2] || !seen[id3] {
		t.Fatalf("resync missed some: %+v", again)
	}
}

func TestERPConnectionIsCheckedBeforeAnythingIsKept(t *testing.T) {
	app, st := newStackApp(t) // private targets not allowed
	admin := as(t, app, "acme", "u-admin", "admin")
	rcv := newReceiver(t, acmeSecret)
	cases := []struct {
		body, field, code string
	}{
		{`{"kind":"webhook","url":"` + rcv.url() + `","secret":"` + acmeSecret + `","events":["invoice"]}`, "url", "erp_target_forbidden"},
		{`{"kind":"webhook","url":"http://169.254.169.254/latest","secret":"` + acmeSecret + `","events":["invoice"]}`, "url", "erp_target_forbidden"},
		{`{"kind":"webhook","url":"http://[::1]:9/x","secret":"` + acmeSecret + `","events":["invoice"]}`, "url", "erp_target_forbidden"},
		{`{"kind":"webhook","url":"https://erp.example/hook","secret":"whsec_c2hvcnQ=","events":["invoice"]}`, "secret", "invalid_secret"},
		{`{"kind":"webhook","url":"https://erp.example/hook","secret":"s3cret","events":["invoice"]}`, "secret", "invalid_secret"},
		{`{"kind":"webhook","url":"ftp://erp.example/hook","secret":"` + acmeSecret + `","events":["invoice"]}`, "url", "invalid_url"},
		{`{"kind":"webhook","url":"https://user:pw@erp.example/hook","secret":"` + acmeSecret + `","events":["invoice"]}`, "url", "invalid_url"},
		{`{"kind":"webhook","url":"https://erp.example/hook","secret":"` + acmeSecret + `","events":["payroll"]}`, "events", "invalid_events"},
		{`{"kind":"webhook","url":"https://erp.example/hook","secret":"` + acmeSecret + `","events":[]}`, "events", "invalid_events"},
		{`{"kind":"ftp","url":"https://erp.example/hook","secret":"` + acmeSecret + `","events":["invoice"]}`, "kind", "invalid_kind"},
		{`{"kind":"postgres","dsn":"host=db password=x","table":"erp_in","events":["invoice"]}`, "dsn", "invalid_dsn"},
		{`{"kind":"postgres","dsn":"postgres://u:p@127.0.0.1:5432/erp","table":"erp_in","events":["invoice"]}`, "dsn", "erp_target_forbidden"},
		{`{"kind":"sqlserver","dsn":"sqlserver://u:p@erp.example:1433?database=erp","table":"x;drop table y","events":["invoice"]}`, "table", "invalid_table"},
		{`{"kind":"webhook","url":"https://erp.example/hook","secret":"` + acmeSecret + `","events":["invoice"],"mappings":{"bad key":"x"}}`, "mappings", "invalid_mappings"},
	}
	for _, c := range cases {
		r := admin.do("PUT", "/api/v1/erp/connection", c.body)
		code := problemCode(t, r, 400)
		if code != c.code || r.json(t)["field"] != c.field {
			t.Fatalf("%s: %s field %v, want %s on %s", c.body, code, r.json(t)["field"], c.code, c.field)
		}
		if strings.Contains(string(r.body), "p@") || strings.Contains(string(r.body), acmeSecret) {
			t.Fatalf("a refusal quotes a secret: %s", r.body)
		}
	}
	// Nothing was written: no event, no sealed secret.
	if r := admin.do("GET", "/api/v1/erp/connection", ""); r.json(t)["status"] != "not_configured" || r.header.Get("ETag") != `"0"` {
		t.Fatalf("after refusals: %s etag %s", r.body, r.header.Get("ETag"))
	}
	keys, err := st.Secrets.SealedKeys(context.Background())
	if err != nil || len(keys) != 0 {
		t.Fatalf("sealed secrets after refusals: %v %v", keys, err)
	}
}

func TestERPSecretsAreNeverAnsweredNorInEvents(t *testing.T) {
	app, st := newERPApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	rcv := newReceiver(t, acmeSecret)
	if r := connectWebhook(t, admin, rcv.url(), acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	dsn := "postgres://erpuser:Tr0ub4dor-and-3@127.0.0.1:5432/erp?sslmode=disable"
	r := admin.do("PUT", "/api/v1/erp/connection", `{"kind":"postgres","dsn":"`+dsn+`","table":"atrium_messages","events":["invoice"]}`)
	if r.status != 200 {
		t.Fatalf("postgres connection: %d %s", r.status, r.body)
	}
	v := r.json(t)
	if v["target"] != "postgres://erpuser@127.0.0.1:5432/erp?sslmode=disable" || v["table"] != "atrium_messages" || v["secret_set"] != true {
		t.Fatalf("view %s", r.body)
	}
	audit := admin.do("GET", "/api/v1/audit/events?limit=500", "")
	if audit.status != 200 {
		t.Fatalf("audit: %d %s", audit.status, audit.body)
	}
	for _, secret := range []string{acmeSecret, acmeSecret[6:], "Tr0ub4dor-and-3"} {
		for what, body := range map[string][]byte{"answer": r.body, "audit": audit.body} {
			if strings.Contains(string(body), secret) {
				t.Fatalf("the %s holds a secret: %s", what, body)
			}
		}
	}
	if !strings.Contains(string(audit.body), "secret_fingerprint") {
		t.Fatalf("the event records no fingerprint: %s", audit.body)
	}
	// At rest, sealed: the stored bytes hold neither secret.
	keys, err := st.Secrets.SealedKeys(context.Background())
	if err != nil || len(keys) != 2 {
		t.Fatalf("sealed keys %v %v", keys, err)
	}
	for _, k := range keys {
		b, err := st.Secrets.Sealed(context.Background(), "acme", k[1])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "Tr0ub4dor") || strings.Contains(string(b), acmeSecret[6:]) {
			t.Fatalf("a secret is stored in the clear: %s", b)
		}
	}
	// Removing stops sending; DELETE again changes nothing.
	if r := admin.do("DELETE", "/api/v1/erp/connection", ""); r.status != 200 || r.json(t)["status"] != "stopped" {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := admin.do("DELETE", "/api/v1/erp/connection", ""); r.status != 200 || r.header.Get("ETag") != `"3"` {
		t.Fatalf("delete again: %d %s %s", r.status, r.body, r.header.Get("ETag"))
	}
}

func TestERPOneTenantDownNeverDelaysAnother(t *testing.T) {
	app, _ := newERPApp(t)
	acmeAdmin := as(t, app, "acme", "u-admin", "admin")
	acmeFin := as(t, app, "acme", "u-fin", "finance")
	globexAdmin := as(t, app, "globex", "g-admin", "admin")
	globexFin := as(t, app, "globex", "g-fin", "finance")
	// acme's ERP is a closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/erp"
	_ = l.Close()
	globex := newReceiver(t, globexSecret)
	if r := connectWebhook(t, acmeAdmin, closed, acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("acme connect: %d %s", r.status, r.body)
	}
	if r := connectWebhook(t, globexAdmin, globex.url(), globexSecret, "invoice"); r.status != 200 {
		t.Fatalf("globex connect: %d %s", r.status, r.body)
	}
	for i := range 5 {
		create(t, acmeFin, 100+i)
	}
	eventually(t, "acme retrying", func() bool {
		return acmeFin.do("GET", "/api/v1/erp/status", "").json(t)["state"] == "retrying"
	})
	start := time.Now()
	for i := range 10 {
		create(t, globexFin, 100+i)
	}
	eventually(t, "globex's messages", func() bool { return len(globex.messages()) == 10 })
	took := time.Since(start)
	for _, m := range globex.messages() {
		if m.Tenant != "globex" {
			t.Fatalf("globex's receiver got %+v", m)
		}
	}
	s := acmeFin.do("GET", "/api/v1/erp/status", "").json(t)
	if s["state"] != "retrying" || s["pending"] != float64(5) || s["delivered"] != float64(0) || s["last_error"] == nil {
		t.Fatalf("acme status %v", s)
	}
	t.Logf("globex's 10 messages delivered in %s while acme's ERP is down", took)
	// A tenant's admin reads its own status only.
	if code := problemCode(t, as(t, app, "globex", "", "").do("GET", "/api/v1/erp/status", "", "Authorization", "Bearer "+acmeAdmin.token), 403); code != "tenant_mismatch" {
		t.Fatalf("acme's token on globex: %s", code)
	}
	if r := acmeAdmin.do("GET", "/api/v1/erp/messages", "", "X-Tenant", "globex"); r.status == 200 {
		t.Fatalf("acme's admin lists globex's messages: %s", r.body)
	}
}

// sign signs body as an ERP does, at ts.
func sign(secret, id string, ts time.Time, body string) map[string]string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac.Write([]byte(id + "." + stamp + "." + body))
	return map[string]string{"webhook-id": id, "webhook-timestamp": stamp, "webhook-signature": "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))}
}

func inbound(t *testing.T, app *fiber.App, tn, secret string, ts time.Time, body string) reply {
	t.Helper()
	var hdr []string
	for k, v := range sign(secret, "msg_"+strconv.FormatInt(time.Now().UnixNano(), 36), ts, body) {
		hdr = append(hdr, k, v)
	}
	return as(t, app, tn, "", "").do("POST", "/api/v1/erp/inbound", body, hdr...)
}

func TestERPInboundPaymentsAreSignedAndIdempotent(t *testing.T) {
	app, _ := newERPApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	rcv := newReceiver(t, acmeSecret)
	// Before any connection, no call verifies.
	payment := `{"type":"payment.received","invoice_number":"%s","amount":{"amount":%d,"currency":"EUR"},"paid_at":"2026-11-20","reference":"%s"}`
	if code := problemCode(t, inbound(t, app, "acme", acmeSecret, clock(), fmt.Sprintf(payment, "X", 1, "r")), 401); code != "invalid_signature" {
		t.Fatalf("before a connection: %s", code)
	}
	if r := connectWebhook(t, admin, rcv.url(), acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	if r := connectWebhook(t, as(t, app, "globex", "g-admin", "admin"), rcv.url(), globexSecret, "invoice"); r.status != 200 {
		t.Fatalf("globex connect: %d %s", r.status, r.body)
	}
	id, _ := create(t, fin, 100) // 3 × 100 = 300.00 EUR... in minor units
	r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
	if r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	got := fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, r)).json(t)
	number := got["number"].(string)
	body := fmt.Sprintf(payment, number, 120, "BANK-2026-0001")

	// Refused: no signature, a bad one, another tenant's secret, a stale
	// or future timestamp, no tenant.
	if code := problemCode(t, as(t, app, "acme", "", "").do("POST", "/api/v1/erp/inbound", body), 401); code != "invalid_signature" {
		t.Fatalf("unsigned: %s", code)
	}
	problemCode(t, inbound(t, app, "acme", globexSecret, clock(), body), 401)
	problemCode(t, inbound(t, app, "acme", acmeSecret, clock().Add(-6*time.Minute), body), 401)
	problemCode(t, inbound(t, app, "acme", acmeSecret, clock().Add(6*time.Minute), body), 401)
	problemCode(t, inbound(t, app, "", acmeSecret, clock(), body), 400)
	hdr := sign(acmeSecret, "msg_1", clock(), body)
	tampered := as(t, app, "acme", "", "").do("POST", "/api/v1/erp/inbound", strings.Replace(body, "120", "999", 1),
		"webhook-id", hdr["webhook-id"], "webhook-timestamp", hdr["webhook-timestamp"], "webhook-signature", hdr["webhook-signature"])
	problemCode(t, tampered, 401)
	inv := fin.do("GET", "/api/v1/invoices/"+id, "").json(t)
	if inv["version"] != float64(2) {
		t.Fatalf("a refused call wrote: %v", inv)
	}

	// Recorded once, whatever the repeats.
	first := inbound(t, app, "acme", acmeSecret, clock().Add(-4*time.Minute), body)
	if first.status != 200 {
		t.Fatalf("payment: %d %s", first.status, first.body)
	}
	again := inbound(t, app, "acme", acmeSecret, clock(), body)
	if again.status != 200 || again.json(t)["version"] != first.json(t)["version"] {
		t.Fatalf("again: %d %s (first %s)", again.status, again.body, first.body)
	}
	paid := fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, first)).json(t)
	if paid["version"] != float64(3) || paid["paid"].(map[string]any)["amount"] != float64(120) {
		t.Fatalf("after the payment: %v", paid)
	}
	// The same reference for another payment is refused; a payment on
	// another tenant's invoice number is not found there.
	if r := inbound(t, app, "acme", acmeSecret, clock(), fmt.Sprintf(payment, number, 50, "BANK-2026-0001")); r.status < 400 {
		t.Fatalf("a reference reused for another payment: %d %s", r.status, r.body)
	}
	if code := problemCode(t, inbound(t, app, "globex", globexSecret, clock(), body), 404); code != "invoice_not_found" {
		t.Fatalf("acme's invoice number in globex: %s", code)
	}
	if code := problemCode(t, inbound(t, app, "acme", acmeSecret, clock(), `{"type":"payroll.run"}`), 400); code != "invalid_request" {
		t.Fatalf("an unknown type: %s", code)
	}
	if code := problemCode(t, inbound(t, app, "acme", acmeSecret, clock(), fmt.Sprintf(payment, number, 10, "")), 400); code != "invalid_request" {
		t.Fatalf("no reference: %s", code)
	}
}

func TestERPInboundResistsFloods(t *testing.T) {
	app, _ := newERPApp(t)
	anon := as(t, app, "acme", "", "")
	// A body over the small limit is refused before it is read.
	big := `{"type":"payment.received","reference":"` + strings.Repeat("x", 64<<10) + `"}`
	if r := anon.do("POST", "/api/v1/erp/inbound", big); r.status != 413 {
		t.Fatalf("a large inbound body: %d", r.status)
	}
	// Bad signatures from one address: after a few, it waits.
	limited := false
	for range 20 {
		r := inbound(t, app, "acme", globexSecret, clock(), `{"type":"payment.received"}`)
		if r.status == 429 {
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited = true
			break
		}
		problemCode(t, r, 401)
	}
	if !limited {
		t.Fatal("20 bad signatures in a row were all checked")
	}
	// The message list's page is bounded whatever is asked.
	admin := as(t, app, "acme", "u-admin", "admin")
	if code := problemCode(t, admin.do("GET", "/api/v1/erp/messages?limit=100000000000000000000", ""), 400); code != "invalid_request" {
		t.Fatalf("a huge limit: %s", code)
	}
	if code := problemCode(t, admin.do("GET", "/api/v1/erp/messages?status=everything", ""), 400); code != "invalid_request" {
		t.Fatalf("a bad status: %s", code)
	}
	if code := problemCode(t, admin.do("GET", "/api/v1/erp/messages?cursor=%%%", ""), 400); code == "" {
		t.Fatal("a bad cursor")
	}
}

func TestERPStagingTableOnPostgreSQL(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pgtest.Database(t, pg)
	app, _ := newERPApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	b, _ := json.Marshal(map[string]any{"kind": "postgres", "dsn": dsn, "table": "erp.atrium_inbox", "events": []string{"invoice"},
		"mappings": map[string]string{"account.sales": "706000", "tax.standard": "FR20"}})
	if _, err := pg.Admin.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec("CREATE SCHEMA erp"); err != nil {
		t.Fatal(err)
	}
	r := admin.do("PUT", "/api/v1/erp/connection", string(b))
	if r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	v := r.json(t)
	if v["kind"] != "postgres" || v["table"] != "erp.atrium_inbox" || strings.Contains(string(r.body), pgPassword(dsn)) {
		t.Fatalf("view %s", r.body)
	}
	var ids []string
	for i := range 3 {
		id, _ := create(t, fin, 100+i)
		ids = append(ids, id)
	}
	count := func() int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM erp.atrium_inbox").Scan(&n); err != nil {
			return -1
		}
		return n
	}
	eventually(t, "3 rows in the staging table", func() bool { return count() == 3 })
	rows, err := db.Query("SELECT id, tenant, type, aggregate_id FROM erp.atrium_inbox ORDER BY position")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var id, tn, typ, agg string
		if err := rows.Scan(&id, &tn, &typ, &agg); err != nil {
			t.Fatal(err)
		}
		if tn != "acme" || typ != "invoice.drafted" || agg != ids[i] {
			t.Fatalf("row %d: %s %s %s %s", i, id, tn, typ, agg)
		}
		i++
	}
	if err := rows.Err(); err != nil || i != 3 {
		t.Fatalf("%d rows read: %v", i, err)
	}
	// A resync writes nothing new: rows are keyed by the message id.
	if r := admin.do("POST", "/api/v1/erp/resync", `{"from_position":0}`); r.status != 202 {
		t.Fatalf("resync: %d %s", r.status, r.body)
	}
	eventually(t, "the resync delivered", func() bool {
		s := fin.do("GET", "/api/v1/erp/status", "").json(t)
		return s["pending"] == float64(0) && s["delivered"] == float64(3)
	})
	if n := count(); n != 3 {
		t.Fatalf("%d rows after a resync, want 3", n)
	}
}

func pgPassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	p, _ := u.User.Password()
	if p == "" {
		return "\x00no password"
	}
	return p
}

// An ERP's calls back are commands of the tenant's: its plan's commands a
// minute count them, and past them they are refused (429 quota_exceeded)
// with nothing written.
func TestERPInboundCountsAgainstThePlan(t *testing.T) {
	app, st := newERPApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	admin := as(t, app, "acme", "u-admin", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	rcv := newReceiver(t, acmeSecret)
	if r := connectWebhook(t, admin, rcv.url(), acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	var numbers []string
	for i := range 3 {
		id, _ := create(t, fin, 100+i)
		r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", "")
		got := fin.do("GET", "/api/v1/invoices/"+id, "", "X-Read-After", position(t, r)).json(t)
		numbers = append(numbers, got["number"].(string))
	}
	if r := root.do("PUT", "/admin/v1/plans/tiny", `{"commands_per_minute":1}`); r.status != 200 {
		t.Fatalf("define: %d %s", r.status, r.body)
	}
	if r := root.do("PUT", "/admin/v1/tenants/acme/plan", `{"plan":"tiny"}`); r.status != 200 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	payment := `{"type":"payment.received","invoice_number":"%s","amount":{"amount":%d,"currency":"EUR"},"paid_at":"2026-11-20","reference":"%s"}`
	if r := inbound(t, app, "acme", acmeSecret, clock(), fmt.Sprintf(payment, numbers[0], 10, "REF-0")); r.status != 200 {
		t.Fatalf("the minute's one command: %d %s", r.status, r.body)
	}
	before, err := st.Store.Head(tenant.With(context.Background(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	for i, num := range numbers[1:] {
		r := inbound(t, app, "acme", acmeSecret, clock(), fmt.Sprintf(payment, num, 10, fmt.Sprintf("REF-%d", i+1)))
		if problemCode(t, r, 429) != "quota_exceeded" {
			t.Fatalf("a call back past the plan: %d %s", r.status, r.body)
		}
	}
	if r := fin.do("POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 1)); problemCode(t, r, 429) != "quota_exceeded" {
		t.Fatalf("a command after the ERP's: %d %s", r.status, r.body)
	}
	if after, _ := st.Store.Head(tenant.With(context.Background(), "acme")); after != before {
		t.Fatalf("refused calls wrote: head %d, was %d", after, before)
	}
}
