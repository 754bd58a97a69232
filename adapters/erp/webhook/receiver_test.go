package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// received is one request as a receiver saw it, with what the Standard
// Webhooks library made of its signature.
type received struct {
	method    string
	header    http.Header
	body      []byte
	verifyErr error
}

// receiver is a real HTTP server that verifies every request as an ERP
// would, with the Standard Webhooks library, and answers as told.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(w http.ResponseWriter, r *http.Request, n int) // n: the request's index
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// newReceiverOn is newReceiver listening on address (as "[::1]:0").
func newReceiverOn(t *testing.T, address string, answer func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	l, err := net.Listen("tcp", address)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", address, err)
	}
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	_ = rc.srv.Listener.Close()
	rc.srv.Listener = l
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err == nil {
		err = wh.Verify(body, r.Header)
	}
	rc.mu.Lock()
	n := len(rc.got)
	rc.got = append(rc.got, received{method: r.Method, header: r.Header.Clone(), body: body, verifyErr: err})
	rc.mu.Unlock()
	if rc.answer == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rc.answer(w, r, n)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func newConnector(t *testing.T, url string, configure func(*Config)) *Connector {
	t.Helper()
	cfg := Config{URL: url, Secret: testSecret, AllowPrivate: true}
	if configure != nil {
		configure(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testMessage(id string) erpsync.Message {
	return erpsync.Message{
		ID:          id,
		Tenant:      "acme",
		Type:        "invoice.issued",
		Aggregate:   "invoice",
		AggregateID: "6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b",
		Version:     3,
		Position:    1042,
		OccurredAt:  time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC),
		Data:        json.RawMessage(`{"number":"INV-2026-000001"}`),
	}
}

func deliver(t *testing.T, c *Connector, m erpsync.Message) erpsync.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Deliver(ctx, m)
}

// kind names an outcome, for comparisons and messages.
func kind(o erpsync.Outcome) string {
	switch {
	case o.Delivered:
		return "delivered"
	case o.Retry:
		return "retry"
	default:
		return "refused"
	}
}

// checkOutcome fails t unless o is of kind want, with an error (when not
// delivered) that is one short line and quotes no secret.
func checkOutcome(t *testing.T, o erpsync.Outcome, want string) {
	t.Helper()
	if got := kind(o); got != want {
		t.Fatalf("outcome %s (%v), want %s", got, o.Err, want)
	}
	if want == "delivered" {
		if o.Err != nil {
			t.Fatalf("delivered with an error: %v", o.Err)
		}
		return
	}
	if o.Err == nil {
		t.Fatalf("%s outcome without an error", want)
	}
	msg := o.Err.Error()
	secret := strings.TrimPrefix(testSecret, SecretPrefix)
	if strings.Contains(msg, secret) || strings.Contains(msg, secret[:12]) {
		t.Fatalf("error quotes the secret: %s", msg)
	}
	if strings.ContainsAny(msg, "\r\n") || len(msg) > 400 {
		t.Fatalf("error is not one short line (%d bytes): %q", len(msg), msg)
	}
}

// silentListener accepts connections and reads them without ever
// answering. accepted receives one value per connection.
func silentListener(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	return rawListener(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// resettingListener reads the start of each request, then resets the
// connection (an RST, not a FIN).
func resettingListener(t *testing.T) string {
	t.Helper()
	addr, _ := rawListener(t, func(c net.Conn) {
		buf := make([]byte, 1)
		_, _ = c.Read(buf)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	})
	return addr
}

// rawListener serves each connection with handle on a TCP listener on
// loopback, closes the connection after it, and closes everything when
// t ends.
func rawListener(t *testing.T, handle func(net.Conn)) (string, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String(), accepted
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
