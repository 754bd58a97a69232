package assembly_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/auth"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/modules"
)

// TestUsageAcrossInstancesAndRestarts: two instances on one NATS serve
// one tenant's requests, one of them stops and starts again; the day's
// requests are every one served, counted once, and each instance (with
// read databases of its own) reads the same figures.
func TestUsageAcrossInstancesAndRestarts(t *testing.T) {
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	open := func(dir string) *assembly.Process {
		p, err := assembly.Open(ctx, assembly.Config{DataDir: dir, NATSURL: srv.ClientURL(), Now: now,
			SecretKey:  "k1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			Usage:      assembly.UsageConfig{FlushEvery: 50 * time.Millisecond, SweepEvery: time.Hour},
			BaseDomain: "atrium.test", Modules: modules.All(), Passwords: auth.Argon2{MemoryKiB: 1024, Passes: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	// serve sends n requests of acme's admin to p.
	serve := func(p *assembly.Process, n int) {
		t.Helper()
		do := func(method, path, body, token string) (int, []byte) {
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Tenant", "acme")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := p.HTTP.Test(req, 30_000)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, b
		}
		status, body := do("POST", "/api/v1/auth/login", `{"email":"admin@acme.example","password":"first admin password"}`, "")
		var tok struct {
			Access string `json:"access_token"`
		}
		if status != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("login: %d %s", status, body)
		}
		for range n {
			if status, body := do("GET", "/api/v1/users", "", tok.Access); status != 200 {
				t.Fatalf("list: %d %s", status, body)
			}
		}
	}
	dirA := t.TempDir()
	a := open(dirA)
	provision(t, a, "acme")
	b := open(t.TempDir())
	serve(a, 7)
	serve(b, 5)
	if err := a.Close(); err != nil { // a normal stop writes what it counted
		t.Fatal(err)
	}
	a = open(dirA)
	serve(a, 3)

	acme := tenant.With(ctx, "acme")
	day := usage.Day(now())
	for name, p := range map[string]*assembly.Process{"a": a, "b": b} {
		var got int64
		for deadline := time.Now().Add(30 * time.Second); ; {
			days, err := p.Usage(acme, day, day)
			if err != nil {
				t.Fatal(err)
			}
			if len(days) == 1 {
				got = days[0].APIRequests
			}
			if got >= 15 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // four more writes: none may add to it
		days, err := p.Usage(acme, day, day)
		if err != nil || len(days) != 1 || days[0].APIRequests != 15 || got != 15 {
			t.Fatalf("instance %s reads %+v (%v); 15 requests were served", name, days, err)
		}
	}
}
