package sandbox_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The receiver docs/erp.md gives integrators, from "receiver begins" to
// "receiver ends", word for word (TestDocReceiverIsTheExample checks).

// receiver begins

// verify checks a Standard Webhooks signature: key is the base64-decoded
// part of the secret after "whsec_", now the receiver's clock.
func verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp is more than 5 minutes away")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(fmt.Appendf(nil, "%s.%d.%s", id, sec, body))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// receive answers 204 once a verified message is stored, 401 when it is not
// signed with secret. store keeps one row per id: storing an id it already
// has is a success, not an error.
func receive(secret string, store func(id string, body []byte) error) (http.HandlerFunc, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, errors.New("the secret is not whsec_ and base64")
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body unreadable or over 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		if err := verify(key, r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if err := store(r.Header.Get("webhook-id"), body); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable) // Atrium retries
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}, nil
}

// receiver ends

// A receiver written with the standard library only takes what Atrium
// sends, signed here by the Standard Webhooks library as Atrium's
// connector signs it: the message once (the repeat is 204 and stores
// nothing new), and refuses it altered.
func Example_receiver() {
	const secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	var mu sync.Mutex
	rows := map[string][]byte{} // the ERP's staging table, keyed by id
	handler, err := receive(secret, func(id string, body []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := rows[id]; !ok {
			rows[id] = body
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		fmt.Println(err)
		return
	}
	send := func(id string, ts time.Time, body, signedBody []byte) {
		sig, err := wh.Sign(id, ts, signedBody)
		if err != nil {
			fmt.Println(err)
			return
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = res.Body.Close()
		fmt.Println(id, res.Status)
	}
	now := time.Now()
	msg := []byte(`{"id":"msg-1","tenant":"acme","type":"invoice.issued","position":42}`)
	send("msg-1", now, msg, msg)
	send("msg-1", now, msg, msg)
	send("msg-2", now, bytes.Replace(msg, []byte("42"), []byte("43"), 1), msg)
	send("msg-3", now.Add(-10*time.Minute), msg, msg)
	fmt.Println(len(rows), "row")
	// Output:
	// msg-1 204 No Content
	// msg-1 204 No Content
	// msg-2 401 Unauthorized
	// msg-3 401 Unauthorized
	// 1 row
}
