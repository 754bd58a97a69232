package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// testSecret is 32 bytes, 0x00 to 0x1f, in the whsec_ form.
const testSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// lockedBuffer is an io.Writer the test reads while handlers write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newReceiver(t *testing.T, cfg Config) (*Receiver, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	if cfg.Secret == nil {
		cfg.Secret = []byte(testSecret)
	}
	cfg.Out = out
	rc, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rc, out
}

func message(id string, position uint64) []byte {
	b, err := json.Marshal(erpsync.Message{
		ID: id, Tenant: "acme", Type: "invoice.issued", Aggregate: "invoice",
		AggregateID: "inv-" + id, Version: 2, Position: position,
		OccurredAt: time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC),
		Data:       json.RawMessage(`{"number":"INV-2026-000042"}`),
	})
	if err != nil {
		panic(err)
	}
	return b
}

// signed returns a request as Atrium sends it, signed by the Standard
// Webhooks library with secret at ts.
func signed(t *testing.T, secret, id string, ts time.Time, body []byte) *http.Request {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/erp", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(standardwebhooks.HeaderWebhookID, id)
	r.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return r
}

func serve(rc http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, r)
	return w
}

var lineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ id=(\S+) type=(\S+) aggregate_id=(\S+) position=(\S+) (.+)$`)

func lines(out string) []string { return strings.Split(strings.TrimSuffix(out, "\n"), "\n") }

// fields returns the parts of out's first line; nil when it is not a
// message line.
func fields(out string) []string { return lineRE.FindStringSubmatch(lines(out)[0]) }

func TestReceiverSignedMessage(t *testing.T) {
	t.Parallel()
	rc, out := newReceiver(t, Config{})
	w := serve(rc, signed(t, testSecret, "evt-1", time.Now(), message("evt-1", 42)))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d %q, want 204", w.Code, w.Body)
	}
	m := fields(out.String())
	if m == nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("printed %q, want one line", out)
	}
	if got := strings.Join(m[1:], "|"); got != "evt-1|invoice.issued|inv-evt-1|42|signature ok" {
		t.Fatalf("line fields %s", got)
	}
}

func TestReceiverRefuses(t *testing.T) {
	t.Parallel()
	now := time.Now()
	body := message("evt-1", 42)
	other := "whsec_" + strings.Repeat("QUJD", 8) // 24 other bytes
	tests := []struct {
		name    string
		req     func(t *testing.T) *http.Request
		status  int
		printed string
	}{
		{"tampered body", func(t *testing.T) *http.Request {
			r := signed(t, testSecret, "evt-1", now, body)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte(`"position":42`), []byte(`"position":43`), 1)))
			return r
		}, http.StatusUnauthorized, "BAD SIGNATURE (no signature matches the body under the secret)"},
		{"wrong secret", func(t *testing.T) *http.Request { return signed(t, other, "evt-1", now, body) },
			http.StatusUnauthorized, "BAD SIGNATURE (no signature matches"},
		{"other id", func(t *testing.T) *http.Request {
			r := signed(t, testSecret, "evt-1", now, body)
			r.Header.Set(standardwebhooks.HeaderWebhookID, "evt-2")
			return r
		}, http.StatusUnauthorized, "BAD SIGNATURE (no signature matches"},
		{"old timestamp", func(t *testing.T) *http.Request { return signed(t, testSecret, "evt-1", now.Add(-6*time.Minute), body) },
			http.StatusUnauthorized, "BAD SIGNATURE (webhook-timestamp more than 5 minutes ago)"},
		{"future timestamp", func(t *testing.T) *http.Request { return signed(t, testSecret, "evt-1", now.Add(6*time.Minute), body) },
			http.StatusUnauthorized, "BAD SIGNATURE (webhook-timestamp more than 5 minutes ahead)"},
		{"timestamp changed after signing", func(t *testing.T) *http.Request {
			r := signed(t, testSecret, "evt-1", now, body)
			r.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return r
		}, http.StatusUnauthorized, "BAD SIGNATURE (no signature matches"},
		{"no signature", func(t *testing.T) *http.Request {
			r := signed(t, testSecret, "evt-1", now, body)
			r.Header.Del(standardwebhooks.HeaderWebhookSignature)
			return r
		}, http.StatusUnauthorized, "BAD SIGNATURE (missing webhook-id, webhook-timestamp or webhook-signature)"},
		{"timestamp not a number", func(t *testing.T) *http.Request {
			r := signed(t, testSecret, "evt-1", now, body)
			r.Header.Set(standardwebhooks.HeaderWebhookTimestamp, "yesterday")
			return r
		}, http.StatusUnauthorized, "BAD SIGNATURE (webhook-timestamp is not unix seconds)"},
		{"oversized body", func(t *testing.T) *http.Request {
			return signed(t, testSecret, "evt-1", now, append(bytes.Repeat([]byte(" "), DefaultMaxBodyBytes), body...))
		}, http.StatusRequestEntityTooLarge, "REFUSED: body over 1048576 bytes"},
		{"GET", func(t *testing.T) *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) },
			http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc, out := newReceiver(t, Config{})
			w := serve(rc, tc.req(t))
			if w.Code != tc.status {
				t.Fatalf("status %d %q, want %d", w.Code, w.Body, tc.status)
			}
			if tc.printed == "" {
				if out.String() != "" {
					t.Fatalf("printed %q, want nothing", out)
				}
				return
			}
			if m := fields(out.String()); m == nil || !strings.HasPrefix(m[5], tc.printed) {
				t.Fatalf("printed %q, want a line ending %q", out, tc.printed)
			}
			// A refused message is not remembered: the genuine one after it
			// is not "again".
			good := signed(t, testSecret, "evt-1", time.Now(), body)
			if w := serve(rc, good); w.Code != http.StatusNoContent || strings.Contains(out.String(), "again") {
				t.Fatalf("the genuine message after a refused one: %d, printed %q", w.Code, out)
			}
		})
	}
}

func TestReceiverRepeat(t *testing.T) {
	t.Parallel()
	rc, out := newReceiver(t, Config{RememberIDs: 2})
	send := func(id string) int {
		return serve(rc, signed(t, testSecret, id, time.Now(), message(id, 1))).Code
	}
	for _, id := range []string{"evt-1", "evt-1", "evt-2", "evt-3", "evt-1"} {
		if code := send(id); code != http.StatusNoContent {
			t.Fatalf("%s: status %d, want 204", id, code)
		}
	}
	var verdicts []string
	for _, l := range lines(out.String()) {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q", l)
		}
		verdicts = append(verdicts, m[1]+": "+m[5])
	}
	// With room for two ids, evt-1 is forgotten once evt-2 and evt-3 came.
	want := []string{"evt-1: signature ok", "evt-1: signature ok, again", "evt-2: signature ok", "evt-3: signature ok", "evt-1: signature ok"}
	if strings.Join(verdicts, "\n") != strings.Join(want, "\n") {
		t.Fatalf("verdicts:\n%s\nwant:\n%s", strings.Join(verdicts, "\n"), strings.Join(want, "\n"))
	}
}

func TestReceiverShowBodies(t *testing.T) {
	t.Parallel()
	rc, out := newReceiver(t, Config{ShowBodies: true})
	body := message("evt-1", 7)
	if w := serve(rc, signed(t, testSecret, "evt-1", time.Now(), body)); w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
	ls := lines(out.String())
	if len(ls) < 3 || lineRE.FindString(ls[0]) == "" || ls[1] != "    {" || ls[2] != `      "id": "evt-1",` {
		t.Fatalf("printed %q, want the line then the body indented", out)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ls[1:], "\n"); got != "    "+strings.ReplaceAll(indented.String(), "\n", "\n    ") {
		t.Fatalf("body printed as\n%s", got)
	}
}

// Nothing a sender puts in a message can forge a line or reach the
// terminal as a control sequence.
func TestReceiverPrintsSafely(t *testing.T) {
	t.Parallel()
	rc, out := newReceiver(t, Config{ShowBodies: true})
	id := "evt-1 signature ok\x1b[2J"
	body := []byte(`{"id":"x","type":"invoice.issued\n2026-01-01T00:00:00Z id=forged","aggregate_id":"` + "\u009b" + `31m","position":"1 2"}`)
	r := signed(t, testSecret, "evt-1", time.Now(), body)
	r.Header.Set(standardwebhooks.HeaderWebhookID, id) // the signature no longer holds
	if w := serve(rc, r); w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", w.Code)
	}
	got := out.String()
	if strings.ContainsAny(got, "\x1b\u009b") {
		t.Fatalf("printed control characters: %q", got)
	}
	ls := lines(got)
	for _, l := range ls[1:] {
		if !strings.HasPrefix(l, "    ") {
			t.Fatalf("a body line %q is not indented: it could pass for a message line", l)
		}
	}
	for _, want := range []string{`id="evt-1 signature ok\x1b[2J"`, `type="invoice.issued\n2026`, `aggregate_id="\u009b31m"`, `position="\"1 2\""`, "BAD SIGNATURE", "(body id x differs)"} {
		if !strings.Contains(ls[0], want) {
			t.Fatalf("line %q does not show %s", ls[0], want)
		}
	}
}

func TestNewRefusesSecret(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{
		"", "whsec_", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "whsec_not base64!",
		"whsec_" + strings.Repeat("QUJD", 7) + "QQ==", // 22 bytes
		"whsec_" + strings.Repeat("QUJD", 22),         // 66 bytes
	} {
		_, err := New(Config{Secret: []byte(secret), Out: io.Discard})
		if !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("secret %.12q: err = %v, want ErrInvalidSecret", secret, err)
			continue
		}
		if len(secret) > 6 && strings.Contains(err.Error(), secret[6:]) {
			t.Errorf("the error %q shows the secret", err)
		}
	}
	if _, err := New(Config{Secret: []byte(testSecret)}); err == nil {
		t.Error("New without Out: no error")
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, "127.0.0.1:0", []byte(testSecret), out) }()

	deadline := time.Now().Add(10 * time.Second)
	var addr string
	for addr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("Run printed no address: %q", out)
		}
		if m := regexp.MustCompile(`listening on http://(\S+) `).FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	r := signed(t, testSecret, "evt-1", time.Now(), message("evt-1", 42))
	r.RequestURI = ""
	r.URL.Scheme, r.URL.Host = "http", addr
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after ctx ended: %v", err)
	}
	if ls := lines(out.String()); len(ls) != 2 || !strings.HasSuffix(ls[1], "position=42 signature ok") {
		t.Fatalf("printed %q", out)
	}
	if strings.Contains(out.String(), testSecret[6:]) {
		t.Fatal("Run printed the secret")
	}
}

func TestRunAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	err = Run(t.Context(), ln.Addr().String(), []byte(testSecret), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
	if err := Run(t.Context(), "127.0.0.1:0", []byte("whsec_x"), io.Discard); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("bad secret: err = %v", err)
	}
}

func TestReceiverConcurrentLinesDoNotInterleave(t *testing.T) {
	t.Parallel()
	rc, out := newReceiver(t, Config{ShowBodies: true})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprintf("evt-%d", i)
			serve(rc, signed(t, testSecret, id, time.Now(), message(id, uint64(i))))
		})
	}
	wg.Wait()
	ls := lines(out.String())
	for i := 0; i < len(ls); {
		m := lineRE.FindStringSubmatch(ls[i])
		if m == nil {
			t.Fatalf("line %d %q is not a message line", i, ls[i])
		}
		i++
		for i < len(ls) && strings.HasPrefix(ls[i], "    ") {
			if strings.Contains(ls[i], `"id": "evt-`) && !strings.Contains(ls[i], `"id": "`+m[1]+`"`) {
				t.Fatalf("the body of another message under %s", m[1])
			}
			i++
		}
	}
}
