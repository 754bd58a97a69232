package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// signed is a request as an ERP would sign it with the Standard Webhooks
// library: its headers and body.
func signed(t *testing.T, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	otherSecret := "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"payment.received","invoice_number":"INV-2026-000001","amount":"1200.00","paid_at":"2026-03-02","reference":"BANK-778"}`)

	for _, tc := range []struct {
		name    string
		headers func() http.Header
		body    []byte
		valid   bool
	}{
		{"signed now", func() http.Header { return signed(t, testSecret, "pay_1", now, body) }, body, true},
		{"4 minutes old", func() http.Header { return signed(t, testSecret, "pay_1", now.Add(-4*time.Minute), body) }, body, true},
		{"4 minutes ahead", func() http.Header { return signed(t, testSecret, "pay_1", now.Add(4*time.Minute), body) }, body, true},
		{"exactly 5 minutes old", func() http.Header { return signed(t, testSecret, "pay_1", now.Add(-5*time.Minute), body) }, body, true},
		{"5 minutes 1 second old", func() http.Header { return signed(t, testSecret, "pay_1", now.Add(-5*time.Minute-time.Second), body) }, body, false},
		{"6 minutes ahead", func() http.Header { return signed(t, testSecret, "pay_1", now.Add(6*time.Minute), body) }, body, false},
		{"a day old", func() http.Header { return signed(t, testSecret, "pay_1", now.Add(-24*time.Hour), body) }, body, false},
		{"body changed", func() http.Header { return signed(t, testSecret, "pay_1", now, body) }, []byte(strings.Replace(string(body), "1200.00", "9200.00", 1)), false},
		{"other secret", func() http.Header { return signed(t, otherSecret, "pay_1", now, body) }, body, false},
		{"id changed", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Set("webhook-id", "pay_2")
			return h
		}, body, false},
		{"timestamp changed within tolerance", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Set("webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10))
			return h
		}, body, false},
		{"one of several signatures", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Set("webhook-signature", "v1,bm90IHRoaXMgb25l "+h.Get("webhook-signature"))
			return h
		}, body, true},
		{"no signature", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Del("webhook-signature")
			return h
		}, body, false},
		{"no id", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Del("webhook-id")
			return h
		}, body, false},
		{"no timestamp", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Del("webhook-timestamp")
			return h
		}, body, false},
		{"timestamp in milliseconds", func() http.Header {
			h := signed(t, testSecret, "pay_1", now, body)
			h.Set("webhook-timestamp", strconv.FormatInt(now.UnixMilli(), 10))
			return h
		}, body, false},
		{"no headers", func() http.Header { return http.Header{} }, body, false},
	} {
		err := Verify(key, tc.headers(), tc.body, now, 0)
		if tc.valid && err != nil {
			t.Errorf("%s: %v, want valid", tc.name, err)
		}
		if !tc.valid && !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%s: %v, want ErrInvalidSignature", tc.name, err)
		}
	}

	if err := Verify(nil, signed(t, testSecret, "pay_1", now, body), body, now, 0); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("no secret: %v, want ErrInvalidSignature", err)
	}
	h := signed(t, testSecret, "pay_1", now.Add(-90*time.Second), body)
	if err := Verify(key, h, body, now, time.Minute); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("90 s old with a tolerance of 1 minute: %v, want ErrInvalidSignature", err)
	}
}
