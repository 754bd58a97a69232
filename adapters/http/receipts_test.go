package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/assembly"
	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// These tests hold the receipt to its events: the file a claim serves is
// the one its last ReceiptAttached records (key and SHA-256), a request
// that is refused leaves no event and no object, and a replaced file does
// not stay behind.

// objectKeys lists every document key of tenant tn.
func objectKeys(t *testing.T, st *assembly.Process, tn string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), tenant.ID(tn)), 30*time.Second)
	defer cancel()
	objs, err := st.Documents.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// head is tenant tn's event position.
func head(t *testing.T, st *assembly.Process, tn string) streams.Position {
	t.Helper()
	p, err := st.Store.Head(tenant.With(context.Background(), tenant.ID(tn)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type attached struct{ Key, SHA256 string }

// receiptEvents reads the claim's ReceiptAttached events, oldest first,
// through the audit log.
func receiptEvents(t *testing.T, aud caller, id string) []attached {
	t.Helper()
	var out []attached
	after := "0"
	for {
		page := aud.do("GET", "/api/v1/audit/events?limit=500&after="+after, "").json(t)
		for _, it := range page["items"].([]any) {
			e := it.(map[string]any)
			if e["stream"] != "acme.expense-"+id || e["type"] != "expense.receipt_attached.v1" {
				continue
			}
			d := e["data"].(map[string]any)
			sum, _ := d["sha256"].(string)
			out = append(out, attached{Key: d["key"].(string), SHA256: sum})
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return out
		}
		after = next
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pdf is a distinct receipt for n.
func pdf(n int) []byte { return fmt.Appendf(nil, "%%PDF-1.7\nreceipt number %d\n", n) }

// uploadWith sends a receipt with extra headers.
func (c caller) uploadWith(path, contentType string, body []byte, hdr ...string) reply {
	c.t.Helper()
	r, err := c.send("PUT", path, contentType, body, hdr...)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// send is a request that may run outside the test's goroutine: it reports
// its failure instead of ending the test.
func (c caller) send(method, path, contentType string, body []byte, hdr ...string) (reply, error) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Tenant", c.tenant)
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.app.Test(req, 60_000)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}, err
}

func draftClaim(t *testing.T, c caller, amount int) string {
	t.Helper()
	r := c.do("POST", "/api/v1/expenses", fmt.Sprintf(`{"category":"meals","amount":{"amount":%d,"currency":"EUR"},"spent_on":"2026-11-20"}`, amount))
	if r.status != 201 {
		t.Fatalf("draft: %d %s", r.status, r.body)
	}
	return r.json(t)["id"].(string)
}

func getReceipt(t *testing.T, c caller, id string) []byte {
	t.Helper()
	r := c.do("GET", "/api/v1/expenses/"+id+"/receipt", "")
	if r.status != 200 {
		t.Fatalf("get receipt: %d %s", r.status, r.body)
	}
	return r.body
}

func TestReceiptChangesOnlyWhenItsCommandCommits(t *testing.T) {
	app, st := newStackApp(t)
	emp := as(t, app, "acme", "u-emp", "employee")
	aud := as(t, app, "acme", "u-aud", "auditor")
	id := draftClaim(t, emp, 8000)
	path := "/api/v1/expenses/" + id + "/receipt"

	first := emp.upload(path, "application/pdf", pdf(1))
	if first.status != 200 || first.header.Get("ETag") != `"2"` {
		t.Fatalf("attach: %d %s", first.status, first.body)
	}
	before, pos := objectKeys(t, st, "acme"), head(t, st, "acme")
	if len(before) != 1 || !strings.HasPrefix(before[0], expensecmd.ReceiptPrefix(id)) {
		t.Fatalf("objects after one attach: %v", before)
	}

	// A stale If-Match is refused and changes nothing: same file, same objects, no event.
	if code := problemCode(t, emp.uploadWith(path, "application/pdf", pdf(2), "If-Match", `"1"`), 412); code != "version_conflict" {
		t.Fatalf("stale If-Match: %s", code)
	}
	if got := getReceipt(t, emp, id); !bytes.Equal(got, pdf(1)) {
		t.Fatalf("after a refused attach the receipt is %q", got)
	}
	if after := objectKeys(t, st, "acme"); !slices.Equal(after, before) || head(t, st, "acme") != pos {
		t.Fatalf("a refused attach left objects %v (before %v) or events", after, before)
	}

	// The current If-Match replaces it; the replaced file is gone.
	if r := emp.uploadWith(path, "application/pdf", pdf(2), "If-Match", `"2"`); r.status != 200 {
		t.Fatalf("attach with If-Match: %d %s", r.status, r.body)
	}
	if got := getReceipt(t, emp, id); !bytes.Equal(got, pdf(2)) {
		t.Fatalf("receipt %q, want the second", got)
	}
	evs := receiptEvents(t, aud, id)
	if len(evs) != 2 || evs[1].SHA256 != sha(pdf(2)) {
		t.Fatalf("receipt events %v", evs)
	}
	if keys := objectKeys(t, st, "acme"); !slices.Equal(keys, []string{evs[1].Key}) {
		t.Fatalf("objects %v, want only %s", keys, evs[1].Key)
	}

	// A retry with the same Idempotency-Key answers the first attach and stores nothing more.
	keyed := func(b []byte) reply {
		return emp.uploadWith(path, "application/pdf", b, "Idempotency-Key", "receipt-3")
	}
	r3 := keyed(pdf(3))
	again := keyed(pdf(3))
	if r3.status != 200 || again.status != 200 || string(r3.body) != string(again.body) {
		t.Fatalf("keyed attach and retry: %d %s / %d %s", r3.status, r3.body, again.status, again.body)
	}
	if code := problemCode(t, keyed(pdf(4)), 422); code != "idempotency_key_reused" {
		t.Fatalf("key reused for other bytes: %s", code)
	}
	evs = receiptEvents(t, aud, id)
	if len(evs) != 3 || evs[2].SHA256 != sha(pdf(3)) {
		t.Fatalf("receipt events after the keyed attach %v", evs)
	}
	if got := getReceipt(t, emp, id); !bytes.Equal(got, pdf(3)) {
		t.Fatalf("receipt %q, want the third", got)
	}
	if keys := objectKeys(t, st, "acme"); !slices.Equal(keys, []string{evs[2].Key}) {
		t.Fatalf("objects %v, want only %s", keys, evs[2].Key)
	}
}

func TestRefusedAttachWritesNothing(t *testing.T) {
	app, st := newStackApp(t)
	emp := as(t, app, "acme", "u-emp", "employee")
	other := as(t, app, "acme", "u-emp2", "employee")
	admin := as(t, app, "acme", "u-adm", "admin")
	globex := as(t, app, "globex", "u-g", "employee,manager,admin")
	if r := admin.do("PUT", "/api/v1/settings", `{"expense_policy":{"max_receipt_bytes":1024}}`); r.status != 200 {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	draft := draftClaim(t, emp, 1000)
	if r := emp.upload("/api/v1/expenses/"+draft+"/receipt", "application/pdf", pdf(0)); r.status != 200 {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	submitted := draftClaim(t, emp, 1000)
	if r := emp.do("POST", "/api/v1/expenses/"+submitted+"/submit", ""); r.status != 200 {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	large := append(pdf(9), bytes.Repeat([]byte{' '}, 1024)...)

	tests := []struct {
		name     string
		c        caller
		id, ct   string
		body     []byte
		hdr      []string
		status   int
		code     string
		previous []byte // the receipt the claim still serves, if any
	}{
		{"unsupported type", emp, draft, "text/plain", []byte("hello"), nil, 422, "unsupported_receipt_type", pdf(0)},
		{"bytes of another type", emp, draft, "image/png", pdf(1), nil, 422, "receipt_type_mismatch", pdf(0)},
		{"empty", emp, draft, "application/pdf", nil, nil, 400, "required", pdf(0)},
		{"over the policy's size", emp, draft, "application/pdf", large, nil, 422, "receipt_too_large", pdf(0)},
		{"not the owner", other, draft, "application/pdf", pdf(1), nil, 403, "forbidden", pdf(0)},
		{"stale If-Match", emp, draft, "application/pdf", pdf(1), []string{"If-Match", `"1"`}, 412, "version_conflict", pdf(0)},
		{"submitted claim", emp, submitted, "application/pdf", pdf(1), nil, 409, "invalid_state", nil},
		{"unknown claim", emp, uuid.NewString(), "application/pdf", pdf(1), nil, 404, "expense_not_found", nil},
		{"another tenant's claim", globex, draft, "application/pdf", pdf(1), nil, 404, "expense_not_found", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acme, gx := objectKeys(t, st, "acme"), objectKeys(t, st, "globex")
			acmePos, gxPos := head(t, st, "acme"), head(t, st, "globex")
			r := tc.c.uploadWith("/api/v1/expenses/"+tc.id+"/receipt", tc.ct, tc.body, tc.hdr...)
			if code := problemCode(t, r, tc.status); code != tc.code {
				t.Fatalf("code %s, want %s: %s", code, tc.code, r.body)
			}
			if got := objectKeys(t, st, "acme"); !slices.Equal(got, acme) {
				t.Fatalf("acme's objects %v, before %v", got, acme)
			}
			if got := objectKeys(t, st, "globex"); !slices.Equal(got, gx) {
				t.Fatalf("globex's objects %v, before %v", got, gx)
			}
			if head(t, st, "acme") != acmePos || head(t, st, "globex") != gxPos {
				t.Fatal("a refused attach appended events")
			}
			if tc.previous != nil {
				if got := getReceipt(t, emp, tc.id); !bytes.Equal(got, tc.previous) {
					t.Fatalf("receipt %q after a refused attach", got)
				}
			}
		})
	}
}

// TestAttachesRacingASubmit keeps attaches of different files going from
// several clients while the claim is submitted (once one of them has
// committed, so that others are in flight): whichever win, the claim serves
// the bytes its last ReceiptAttached records, and that file is the only one
// left.
func TestAttachesRacingASubmit(t *testing.T) {
	app, st := newStackApp(t)
	emp := as(t, app, "acme", "u-emp", "employee")
	aud := as(t, app, "acme", "u-aud", "auditor")
	const racers, tries = 6, 40
	for round := range 3 {
		id := draftClaim(t, emp, 1000) // under the receipt threshold: the submit needs none
		path := "/api/v1/expenses/" + id + "/receipt"
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			won, lost int
			failures  []string
			n         = round * 1000
			firstWin  = make(chan struct{})
			once      sync.Once
		)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range tries {
					mu.Lock()
					n++
					body := pdf(n)
					mu.Unlock()
					r, err := emp.send("PUT", path, "application/pdf", body)
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, err.Error())
					case r.status == 200:
						won++
						once.Do(func() { close(firstWin) })
					case r.status == 409:
						lost++
					default:
						failures = append(failures, fmt.Sprintf("%d %s", r.status, r.body))
					}
					mu.Unlock()
					if err != nil || r.status != 200 {
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-firstWin:
		case <-done:
			t.Fatalf("round %d: no attach committed: %v", round, failures)
		}
		submit := emp.do("POST", "/api/v1/expenses/"+id+"/submit", "")
		<-done
		if submit.status != 200 || len(failures) > 0 {
			t.Fatalf("round %d: submit %d %s; attaches failing otherwise than 409: %v", round, submit.status, submit.body, failures)
		}
		t.Logf("round %d: %d attaches committed, %d refused", round, won, lost)

		evs := receiptEvents(t, aud, id)
		if len(evs) != won {
			t.Fatalf("round %d: %d receipt events for %d successful attaches", round, len(evs), won)
		}
		last := evs[len(evs)-1]
		if got := getReceipt(t, emp, id); sha(got) != last.SHA256 {
			t.Fatalf("round %d: the claim serves %q, its events record %s", round, got, last.SHA256)
		}
		var left []string
		for _, k := range objectKeys(t, st, "acme") {
			if strings.Contains(k, id) {
				left = append(left, k)
			}
		}
		if !slices.Equal(left, []string{last.Key}) {
			t.Fatalf("round %d: objects %v, want only %s", round, left, last.Key)
		}
	}
}

// TestReceiptUnderTheEarlierKey: claims whose receipt was stored under the
// single key receipts/<id> still serve it, and a new attach replaces it.
func TestReceiptUnderTheEarlierKey(t *testing.T) {
	app, st := newStackApp(t)
	emp := as(t, app, "acme", "u-emp", "employee")
	id := draftClaim(t, emp, 8000)
	ctx := tenant.With(context.Background(), "acme")
	old, key := pdf(7), "receipts/"+id
	if _, err := st.Documents.Put(ctx, key, "application/pdf", bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	typ, data, err := st.Registry.Encode(expense.ReceiptAttached{ExpenseID: id, Key: key, ContentType: "application/pdf",
		Size: int64(len(old)), At: clock()})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := streams.NewName("acme", "expense", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Store.Append(ctx, stream, streams.Exactly(1), streams.EventData{ID: uuid.New(), Type: typ, Data: data,
		Metadata: streams.Metadata{Tenant: "acme", UserID: "u-emp", CommandID: uuid.NewString()}}); err != nil {
		t.Fatal(err)
	}
	if got := getReceipt(t, emp, id); !bytes.Equal(got, old) {
		t.Fatalf("receipt under the earlier key: %q", got)
	}
	if r := emp.upload("/api/v1/expenses/"+id+"/receipt", "application/pdf", pdf(8)); r.status != 200 {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	if got := getReceipt(t, emp, id); !bytes.Equal(got, pdf(8)) {
		t.Fatalf("receipt %q, want the new one", got)
	}
	keys := objectKeys(t, st, "acme")
	if len(keys) != 1 || !strings.HasPrefix(keys[0], expensecmd.ReceiptPrefix(id)) {
		t.Fatalf("objects %v, want only the new receipt", keys)
	}
}
