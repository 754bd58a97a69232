package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
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
