package http_test

import (
	"context"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

func TestAnOpenLoginIsRememberedWhileTheSessionsStoreIsAway(t *testing.T) {
	app, st := newStackApp(t)
	out := as(t, app, "acme", "u-out", "finance")
	stay := as(t, app, "acme", "u-stay", "finance")
	fresh := as(t, app, "acme", "u-fresh", "finance") // never checked
	for _, c := range []caller{out, stay} {
		if r := c.do("GET", "/api/v1/invoices", ""); r.status != 200 {
			t.Fatalf("read: %d %s", r.status, r.body)
		}
	}
	// Logging out refuses the login at once on this instance, though it
	// was found open a moment ago.
	if r := out.do("POST", "/api/v1/auth/logout", ""); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := out.do("GET", "/api/v1/invoices", ""); r.status != 401 {
		t.Fatalf("read after logout: %d %s", r.status, r.body)
	}

	// The sessions bucket goes away (as while its stream elects a
	// leader): a login found open is still let through, for a while; one
	// never checked, or logged out, is not: 503, the store did not answer.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, err := natsjs.New(st.NC)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, "ATRIUM_SESSIONS"); err != nil {
		t.Fatal(err)
	}
	if r := stay.do("GET", "/api/v1/invoices", ""); r.status != 200 {
		t.Fatalf("read with a login found open, the sessions store away: %d %s", r.status, r.body)
	}
	for _, c := range []caller{fresh, out} {
		if r := c.do("GET", "/api/v1/invoices", ""); r.status != 503 {
			t.Fatalf("read with a login not remembered open, the sessions store away: %d %s", r.status, r.body)
		}
	}
}
