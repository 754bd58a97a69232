package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadyChecksHaveTheirOwnBudgets(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a, app := bare(t, &bytes.Buffer{})
	app.Get("/readyz", a.readyz)
	answer := func() (int, map[string]string) {
		t.Helper()
		r := send(t, app, "GET", "/readyz", "")
		var body struct {
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("readyz %d %s: %v", r.status, r.body, err)
		}
		return r.status, body.Checks
	}
	quick := func(ctx context.Context) error {
		select {
		case <-time.After(50 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	// A dependency that answers only when its budget is spent, then one
	// that never answers at all, whatever its context says, before two
	// that answer at once: asked one after the other within one shared
	// budget, those two would have found it spent.
	a.deps.Ready = []ReadyCheck{
		{Name: "event_store", Timeout: 300 * time.Millisecond, Check: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		{Name: "hung", Timeout: 300 * time.Millisecond, Check: func(context.Context) error {
			<-release
			return errors.New("released")
		}},
		{Name: "nats", Check: quick},
		{Name: "read_store", Check: quick},
	}
	start := time.Now()
	status, checks := answer()
	if status != 503 || checks["nats"] != "ok" || checks["read_store"] != "ok" ||
		!strings.Contains(checks["event_store"], "deadline exceeded") || !strings.Contains(checks["hung"], "timed out") {
		t.Fatalf("readyz %d %v", status, checks)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("readyz answered after %s", took)
	}

	a.deps.Ready = []ReadyCheck{{Name: "nats", Check: quick}, {Name: "read_store", Check: quick}}
	if status, checks := answer(); status != 200 || len(checks) != 2 || checks["nats"] != "ok" {
		t.Fatalf("readyz %d %v", status, checks)
	}
}

// TestReadyzTellsWhyOnlyToTheOperator: with a metrics token set, an
// anonymous /readyz says which checks fail, not why (a reason may name
// tenants); the token's bearer reads the reasons. Requests arriving
// together share one round of checks.
func TestReadyzTellsWhyOnlyToTheOperator(t *testing.T) {
	a, app := bare(t, &bytes.Buffer{})
	a.cfg.MetricsToken = "operator-token"
	app.Get("/readyz", a.readyz)
	var rounds atomic.Int32
	a.deps.Ready = []ReadyCheck{
		{Name: "projections", Check: func(context.Context) error {
			rounds.Add(1)
			time.Sleep(100 * time.Millisecond)
			return errors.New("acme unsubscribed for 12s")
		}},
		{Name: "nats", Check: func(context.Context) error { return nil }},
	}
	checks := func(r answer) map[string]string {
		t.Helper()
		var body struct {
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("readyz %d %s: %v", r.status, r.body, err)
		}
		return body.Checks
	}
	var wg sync.WaitGroup
	answers := make([]answer, 8)
	errs := make([]error, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := app.Test(httptest.NewRequest("GET", "/readyz", nil), -1)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers[i], errs[i] = answer{status: resp.StatusCode, body: string(b)}, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, r := range answers {
		if c := checks(r); r.status != 503 || c["projections"] != "failing" || c["nats"] != "ok" || strings.Contains(r.body, "acme") {
			t.Fatalf("anonymous readyz %d %s", r.status, r.body)
		}
	}
	if n := rounds.Load(); n > 2 {
		t.Fatalf("8 requests at once ran %d rounds of checks", n)
	}
	time.Sleep(2 * readyReuse)
	r := send(t, app, "GET", "/readyz", "", "Authorization", "Bearer operator-token")
	if c := checks(r); r.status != 503 || c["projections"] != "acme unsubscribed for 12s" {
		t.Fatalf("the operator's readyz %d %s", r.status, r.body)
	}
}
