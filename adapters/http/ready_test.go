package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/assembly"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
)

func TestReadyzNamesATenantWhoseSubscriptionIsDown(t *testing.T) {
	jetStreamOnly(t, "it deletes the tenant's JetStream consumer")
	app, st := newStackAppWith(t, atriumhttp.Config{Now: clock}, func(c *assembly.Config) {
		c.Ready.Unsubscribed = 200 * time.Millisecond
	})
	anon := as(t, app, "", "", "")
	readyz := func() (int, map[string]any) {
		t.Helper()
		r := anon.do("GET", "/readyz", "")
		checks, _ := r.json(t)["checks"].(map[string]any)
		return r.status, checks
	}
	eventually := func(what string, cond func(status int, checks map[string]any) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, checks := readyz()
			if cond(status, checks) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not before the deadline: readyz %d %v", what, status, checks)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	eventually("ready", func(status int, checks map[string]any) bool { return status == 200 && checks["projections"] == "ok" })

	// acme's stream goes away, its consumer with it, and acme cannot be
	// subscribed again until it is back.
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
	defer cancel()
	js, err := natsjs.New(st.NC)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, jetstream.StreamName("acme")); err != nil {
		t.Fatal(err)
	}
	eventually("acme reported", func(status int, checks map[string]any) bool {
		p, _ := checks["projections"].(string)
		return status == 503 && strings.Contains(p, "acme unsubscribed") && !strings.Contains(p, "globex") &&
			checks["read_store"] == "ok" && checks["event_store"] == "ok"
	})

	if err := st.Store.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	eventually("ready again once acme is subscribed", func(status int, checks map[string]any) bool {
		return status == 200 && checks["projections"] == "ok"
	})
}
