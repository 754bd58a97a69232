package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// The worked example the documentation quotes: a receiver holding this
// secret, given these headers and this body, must compute this signature.
const (
	exampleSecret    = "whsec_YXRyaXVtLWVycC1leGFtcGxlLWtleS0x" // the key is the 24 bytes "atrium-erp-example-key-1"
	exampleID        = "01943a8e-7c00-7d3a-9b1f-5e2a4c6d8f10"
	exampleTimestamp = 1767605405 // 2026-01-05T09:30:05Z
	exampleBody      = `{"id":"01943a8e-7c00-7d3a-9b1f-5e2a4c6d8f10","tenant":"acme","type":"invoice.issued","aggregate":"invoice","aggregate_id":"6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b","version":3,"position":1042,"occurred_at":"2026-01-05T09:30:00Z","data":{"invoice_id":"6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b","number":"INV-2026-000001","due_date":"2026-02-04"}}`
	exampleSignature = "v1,Jj9wlkmlcV0Nfqs1JimWgyfvo/Ztdm2GZByA6hc3/qw="
)

func exampleMessage() erpsync.Message {
	return erpsync.Message{
		ID:          exampleID,
		Tenant:      "acme",
		Type:        "invoice.issued",
		Aggregate:   "invoice",
		AggregateID: "6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b",
		Version:     3,
		Position:    1042,
		OccurredAt:  time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC),
		Data:        json.RawMessage(`{"invoice_id": "6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b", "number": "INV-2026-000001", "due_date": "2026-02-04"}`),
	}
}

func TestWorkedExample(t *testing.T) {
	t.Parallel()
	at := time.Unix(exampleTimestamp, 0)

	// The Standard Webhooks library computes the documented signature...
	wh, err := standardwebhooks.NewWebhook(exampleSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(exampleID, at, []byte(exampleBody))
	if err != nil || sig != exampleSignature {
		t.Fatalf("library signature %q (%v), documented %q", sig, err, exampleSignature)
	}
	// ...and so does the specification's recipe, done by hand.
	key, err := base64.StdEncoding.DecodeString(exampleSecret[len("whsec_"):])
	if err != nil || string(key) != "atrium-erp-example-key-1" {
		t.Fatalf("example key %q (%v)", key, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(exampleID + ".1767605405." + exampleBody))
	if got := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != exampleSignature {
		t.Fatalf("HMAC by hand %q, documented %q", got, exampleSignature)
	}

	// A delivery of the example message at the example time sends exactly
	// the documented body and headers.
	rc := newReceiver(t, nil)
	c, err := New(Config{URL: rc.srv.URL, Secret: exampleSecret, AllowPrivate: true, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkOutcome(t, deliver(t, c, exampleMessage()), "delivered")
	r := rc.requests()[0]
	if string(r.body) != exampleBody {
		t.Errorf("body\n%s\ndocumented\n%s", r.body, exampleBody)
	}
	want := http.Header{}
	want.Set("webhook-id", exampleID)
	want.Set("webhook-timestamp", "1767605405")
	want.Set("webhook-signature", exampleSignature)
	for k := range want {
		if r.header.Get(k) != want.Get(k) {
			t.Errorf("%s: %q, documented %q", k, r.header.Get(k), want.Get(k))
		}
	}
	if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
		t.Errorf("the library refuses the example delivery: %v", err)
	}
	if err := Verify(key, r.header, r.body, at.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify refuses the example delivery: %v", err)
	}
}
