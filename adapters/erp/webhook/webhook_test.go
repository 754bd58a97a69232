package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

func TestDeliverPostsSignedJSON(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	c := newConnector(t, rc.srv.URL+"/erp/hook", nil)
	m := testMessage("01943a8e-7c00-7d3a-9b1f-5e2a4c6d8f10")

	before := time.Now().Unix()
	checkOutcome(t, deliver(t, c, m), "delivered")

	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if r.verifyErr != nil {
		t.Fatalf("the Standard Webhooks library refuses the signature: %v", r.verifyErr)
	}
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if ua := r.header.Get("User-Agent"); !strings.Contains(ua, "Atrium") {
		t.Errorf("User-Agent %q does not name Atrium", ua)
	}
	if id := r.header.Get("webhook-id"); id != m.ID {
		t.Errorf("webhook-id %q, want the message id %q", id, m.ID)
	}
	ts, err := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
	if err != nil || ts < before || ts > time.Now().Unix() {
		t.Errorf("webhook-timestamp %q, want unix seconds of the delivery", r.header.Get("webhook-timestamp"))
	}
	if sig := r.header.Get("webhook-signature"); !strings.HasPrefix(sig, "v1,") {
		t.Errorf("webhook-signature %q, want v1,<base64>", sig)
	}
	var back erpsync.Message
	if err := json.Unmarshal(r.body, &back); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if !back.OccurredAt.Equal(m.OccurredAt) || string(back.Data) != string(m.Data) {
		t.Errorf("body %s does not carry the message", r.body)
	}
	back.OccurredAt, back.Data = m.OccurredAt, m.Data
	if !reflect.DeepEqual(back, m) {
		t.Errorf("body decodes to %+v, want %+v", back, m)
	}
	for _, k := range []string{`"id"`, `"tenant"`, `"type"`, `"aggregate"`, `"aggregate_id"`, `"version"`, `"position"`, `"occurred_at"`, `"data"`} {
		if !strings.Contains(string(r.body), k+":") {
			t.Errorf("body %s has no %s", r.body, k)
		}
	}
}

func TestDeliverOutcomeFollowsStatus(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, "answer %d\nsecond line", code)
	})
	for _, tc := range []struct {
		code int
		want string
	}{
		{200, "delivered"}, {201, "delivered"}, {202, "delivered"}, {204, "delivered"},
		{408, "retry"}, {429, "retry"}, {500, "retry"}, {502, "retry"}, {503, "retry"}, {504, "retry"},
		{400, "refused"}, {401, "refused"}, {403, "refused"}, {404, "refused"}, {409, "refused"},
		{410, "refused"}, {413, "refused"}, {422, "refused"},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			c := newConnector(t, rc.srv.URL+"/"+strconv.Itoa(tc.code), nil)
			o := deliver(t, c, testMessage(fmt.Sprintf("msg-%d", tc.code)))
			checkOutcome(t, o, tc.want)
			if o.Err != nil && !strings.Contains(o.Err.Error(), strconv.Itoa(tc.code)) {
				t.Errorf("error %q does not name the status", o.Err)
			}
			if o.Retry && o.RetryAfter != 0 {
				t.Errorf("RetryAfter %s without a Retry-After header", o.RetryAfter)
			}
		})
	}
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Retry-After", r.URL.Query().Get("after"))
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	})
	for _, tc := range []struct {
		name  string
		code  int
		after string
		want  time.Duration
	}{
		{"429 seconds", 429, "120", 120 * time.Second},
		{"429 http date", 429, now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"503 seconds", 503, "30", 30 * time.Second},
		{"503 http date", 503, now.Add(15 * time.Minute).Format(http.TimeFormat), 15 * time.Minute},
		{"capped seconds", 503, "86400", MaxRetryAfter},
		{"capped date", 429, now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{"date in the past", 429, now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"unreadable", 429, "soon", 0},
		{"negative", 429, "-5", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := "?code=" + strconv.Itoa(tc.code) + "&after=" + strings.ReplaceAll(tc.after, " ", "%20")
			c := newConnector(t, rc.srv.URL+"/"+q, func(cfg *Config) { cfg.Now = func() time.Time { return now } })
			o := deliver(t, c, testMessage("msg-retry-after"))
			checkOutcome(t, o, "retry")
			if o.RetryAfter != tc.want {
				t.Errorf("RetryAfter %s, want %s", o.RetryAfter, tc.want)
			}
		})
	}
}

func TestDeliverKeepsTheMessageIDAcrossRetries(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c := newConnector(t, rc.srv.URL, nil)
	m := testMessage("01943a8e-7c00-7d3a-9b1f-5e2a4c6d8f10")
	checkOutcome(t, deliver(t, c, m), "retry")
	checkOutcome(t, deliver(t, c, m), "retry")
	checkOutcome(t, deliver(t, c, m), "delivered")

	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, r := range got {
		if id := r.header.Get("webhook-id"); id != m.ID {
			t.Errorf("attempt %d: webhook-id %q, want %q", i+1, id, m.ID)
		}
		if r.verifyErr != nil {
			t.Errorf("attempt %d: signature refused by the library: %v", i+1, r.verifyErr)
		}
		if string(r.body) != string(got[0].body) {
			t.Errorf("attempt %d: body %s differs from the first %s", i+1, r.body, got[0].body)
		}
	}
}

func TestDeliverRefusesRedirects(t *testing.T) {
	t.Parallel()
	elsewhere := newReceiver(t, nil)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		http.Redirect(w, r, elsewhere.srv.URL+"/landed", code)
	})
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			c := newConnector(t, rc.srv.URL+"/"+strconv.Itoa(code), nil)
			o := deliver(t, c, testMessage("msg-redirect"))
			checkOutcome(t, o, "refused")
			if !strings.Contains(o.Err.Error(), "redirect") {
				t.Errorf("error %q does not say a redirect was refused", o.Err)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(elsewhere.requests()); n != 0 {
			t.Errorf("a redirect was followed: %d requests reached its target", n)
		}
	})
}

func TestDeliverRetriesASlowAnswer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		w.WriteHeader(http.StatusOK)
	})
	t.Cleanup(func() { close(release) })
	c := newConnector(t, rc.srv.URL, func(cfg *Config) { cfg.Timeout = 300 * time.Millisecond })
	o := deliver(t, c, testMessage("msg-slow"))
	checkOutcome(t, o, "retry")
	if !strings.Contains(o.Err.Error(), "no answer within 300ms") {
		t.Errorf("error %q does not say the answer was late", o.Err)
	}
}

func TestDeliverRetriesAConnectionThatNeverAnswers(t *testing.T) {
	t.Parallel()
	addr, _ := silentListener(t)
	c := newConnector(t, "http://"+addr+"/", func(cfg *Config) { cfg.Timeout = 300 * time.Millisecond })
	checkOutcome(t, deliver(t, c, testMessage("msg-silent")), "retry")
}

func TestDeliverRetriesARefusedConnection(t *testing.T) {
	t.Parallel()
	c := newConnector(t, "http://"+closedPort(t)+"/", nil)
	o := deliver(t, c, testMessage("msg-refused"))
	checkOutcome(t, o, "retry")
	if !strings.Contains(o.Err.Error(), "refused") {
		t.Errorf("error %q does not say the connection was refused", o.Err)
	}
}

func TestDeliverRetriesAResetConnection(t *testing.T) {
	t.Parallel()
	c := newConnector(t, "http://"+resettingListener(t)+"/", nil)
	checkOutcome(t, deliver(t, c, testMessage("msg-reset")), "retry")
}

func TestDeliverRetriesAnUnresolvableHost(t *testing.T) {
	t.Parallel()
	// .invalid never resolves (RFC 6761); the resolver may fail fast or
	// not answer at all: either way the delivery is retried.
	c := newConnector(t, "http://erp.invalid/hook", func(cfg *Config) {
		cfg.AllowPrivate = false
		cfg.Timeout = 2 * time.Second
	})
	checkOutcome(t, deliver(t, c, testMessage("msg-dns")), "retry")
}

func TestDeliverReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	addr, accepted := silentListener(t)
	c := newConnector(t, "http://"+addr+"/", func(cfg *Config) { cfg.Timeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-accepted
		cancel()
	}()
	o := c.Deliver(ctx, testMessage("msg-cancelled"))
	checkOutcome(t, o, "retry")
}

func TestErrorsQuoteLittleOfTheAnswer(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte("field total: must be positive\r\n"))
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		_, _ = w.Write([]byte("END-OF-A-LONG-BODY"))
	})
	c := newConnector(t, rc.srv.URL, nil)
	o := deliver(t, c, testMessage("msg-long-answer"))
	checkOutcome(t, o, "refused")
	msg := o.Err.Error()
	if !strings.Contains(msg, "field total: must be positive") {
		t.Errorf("error %q does not quote the start of the answer", msg)
	}
	if strings.Contains(msg, "END-OF-A-LONG-BODY") {
		t.Errorf("error quotes the whole answer")
	}
}

func TestURLCredentialsStayOutOfErrors(t *testing.T) {
	t.Parallel()
	c := newConnector(t, "http://erp:hunter2-password@"+closedPort(t)+"/hook?token=tok-123456", nil)
	o := deliver(t, c, testMessage("msg-url-secret"))
	checkOutcome(t, o, "retry")
	for _, s := range []string{"hunter2-password", "tok-123456"} {
		if strings.Contains(o.Err.Error(), s) {
			t.Errorf("error %q quotes the URL's %s", o.Err, s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	err := Config{URL: "ftp://erp.example.com", Secret: "whsec_short", Timeout: -time.Second}.Validate()
	for _, want := range []error{ErrInvalidURL, ErrInvalidSecret} {
		if !errors.Is(err, want) {
			t.Errorf("Validate: %v, want it to report %v", err, want)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("Validate: %v, want it to report the Timeout", err)
	}
	if _, err := New(Config{URL: "https://erp.example.com/hook", Secret: testSecret}); err != nil {
		t.Errorf("New with a valid config: %v", err)
	}
}

func TestSignedWithTheDecodedSecret(t *testing.T) {
	t.Parallel()
	// A receiver holding the raw key (not the whsec_ string) verifies too.
	key, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, nil)
	c := newConnector(t, rc.srv.URL, nil)
	checkOutcome(t, deliver(t, c, testMessage("msg-raw-key")), "delivered")
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Errorf("verify with the decoded key: %v", err)
	}
}

// Verify accepts what Deliver sends: the two ends of the scheme agree.
func TestVerifyAcceptsADelivery(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	c := newConnector(t, rc.srv.URL, nil)
	checkOutcome(t, deliver(t, c, testMessage("msg-roundtrip")), "delivered")
	key, _ := ParseSecret(testSecret)
	r := rc.requests()[0]
	if err := Verify(key, r.header, r.body, time.Now(), 0); err != nil {
		t.Errorf("Verify of a delivery: %v", err)
	}
}
