package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

// TestTakeoverOnPostgres runs two `atrium serve` on one NATS and one
// PostgreSQL read server, each projecting one of the two demo tenants
// under its lease, with commands flowing to both tenants through both;
// then kills one with SIGKILL. The other takes its tenant over: every
// acknowledged command is projected, once, with the right values, read
// through the survivor.
func TestTakeoverOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	env := postgresEnv(t)
	nats, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	// Instances sharing a read server share the key its logins are sealed with.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env = append(env, "ATRIUM_NATS_URL="+nats.ClientURL(), "ATRIUM_SECRET_KEY=k1:"+base64.StdEncoding.EncodeToString(key))
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startServe(t, bin, t.TempDir(), addrA, true, env...)
	startServe(t, bin, t.TempDir(), addrB, true, env...)

	tenants := []string{"acme", "globex"}
	type ack struct {
		version int
		total   int64
	}
	var (
		mu     sync.Mutex
		acked  = map[string]map[string]ack{"acme": {}, "globex": {}}
		maxPos = map[string]int64{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	killed := make(chan time.Time, 1)
	type client struct {
		i    int
		addr string
		tn   string
		api  *apiClient
	}
	var clients []client
	for i, addr := range []string{addrA, addrB, addrA, addrB} {
		for _, tn := range tenants {
			api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
			loginTo(t, api, tn, "finance@demo.example")
			clients = append(clients, client{i, addr, tn, api})
		}
	}
	for _, cl := range clients {
		i, addr, tn, api := cl.i, cl.addr, cl.tn, cl.api
		{
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					amount := int64(1000 + 7*n + i)
					body := fmt.Sprintf(`{"client":{"id":"C-T%d","name":"Takeover"},"currency":"EUR","due_date":"2026-12-31","lines":[{"description":"x","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, i, amount)
					resp, b, err := api.do("POST", "/invoices", "", body, map[string]string{"X-Tenant": tn})
					if err != nil || resp.StatusCode >= 500 {
						if addr == addrA {
							return // A died under us: this one was never acknowledged
						}
						t.Errorf("create on the survivor: %v %d %s", err, resp.StatusCode, b)
						return
					}
					if resp.StatusCode != http.StatusCreated {
						t.Errorf("create: %d %s", resp.StatusCode, b)
						return
					}
					var r struct {
						ID       string `json:"id"`
						Version  int    `json:"version"`
						Position int64  `json:"position"`
					}
					if err := json.Unmarshal(b, &r); err != nil {
						t.Errorf("create answer %s: %v", b, err)
						return
					}
					mu.Lock()
					acked[tn][r.ID] = ack{r.Version, amount}
					maxPos[tn] = max(maxPos[tn], r.Position)
					total := len(acked["acme"]) + len(acked["globex"])
					mu.Unlock()
					if total == 300 {
						_ = a.Process.Signal(syscall.SIGKILL)
						killed <- time.Now()
					}
				}
			}()
		}
	}
	var at time.Time
	select {
	case at = <-killed:
	case <-time.After(3 * time.Minute):
		t.Fatal("300 commands were not acknowledged in 3 minutes")
	}
	// Commands go on through the survivor for a few seconds after the kill.
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()

	// Each tenant is waited for on its own, at once: when is everything
	// acknowledged readable through the survivor?
	survivor := map[string]*apiClient{}
	for _, tn := range tenants {
		survivor[tn] = &apiClient{base: "http://" + addrB + "/api/v1", c: &http.Client{Timeout: 30 * time.Second}}
		loginTo(t, survivor[tn], tn, "finance@demo.example")
	}
	readable := map[string]time.Duration{}
	var rg sync.WaitGroup
	for _, tn := range tenants {
		rg.Add(1)
		go func() {
			defer rg.Done()
			hdr := map[string]string{"X-Tenant": tn, "X-Read-After": fmt.Sprint(maxPos[tn])}
			for {
				resp, body, err := survivor[tn].do("GET", "/invoices?limit=1", "", "", hdr)
				if err == nil && resp.StatusCode == http.StatusOK {
					break
				}
				if time.Since(at) > 60*time.Second {
					t.Errorf("%s: the survivor has not projected up to %d a minute after the kill: %v %s", tn, maxPos[tn], err, body)
					return
				}
			}
			mu.Lock()
			readable[tn] = time.Since(at)
			mu.Unlock()
		}()
	}
	rg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, tn := range tenants {
		b := survivor[tn]
		t.Logf("%s: every acknowledged command readable through the survivor %s after the kill", tn, readable[tn].Round(100*time.Millisecond))
		for id, want := range acked[tn] {
			resp, body, err := b.do("GET", "/invoices/"+id, "", "", map[string]string{"X-Tenant": tn})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: acknowledged invoice %s: %v %d %s", tn, id, err, resp.StatusCode, body)
			}
			var inv struct {
				Version int `json:"version"`
				Total   struct {
					Amount int64 `json:"amount"`
				} `json:"total"`
			}
			if err := json.Unmarshal(body, &inv); err != nil {
				t.Fatal(err)
			}
			if inv.Version != want.version || inv.Total.Amount != want.total {
				t.Fatalf("%s: invoice %s at version %d total %d, acknowledged version %d total %d", tn, id, inv.Version, inv.Total.Amount, want.version, want.total)
			}
		}
	}
	t.Logf("%d + %d acknowledged commands, all projected once with their values", len(acked["acme"]), len(acked["globex"]))

	// Maintenance from any machine with the configuration: every tenant's
	// database on the server is migrated (here, already up to date).
	out, err := runAtrium(t, bin, append(env, "ATRIUM_DATA_DIR="+t.TempDir()), "migrate", "--parallel", "2")
	if err != nil || !strings.Contains(out, "2 tenants migrated") || !strings.Contains(out, "globex") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
}

// loginTo signs email in to tenant tn with the demo password.
func loginTo(t *testing.T, api *apiClient, tn, email string) {
	t.Helper()
	resp, b, err := api.do("POST", "/auth/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, email, DemoPassword), map[string]string{"X-Tenant": tn})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s on %s: %v %s", email, tn, err, b)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	api.token = tok.AccessToken
}
