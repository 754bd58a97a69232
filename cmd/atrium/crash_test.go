package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildAtrium compiles this command once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "atrium-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "atrium")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// startServe runs `atrium serve` on dataDir and waits until /healthz answers.
func startServe(t *testing.T, bin, dataDir, addr string, demo bool, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ATRIUM_DATA_DIR="+dataDir, "ATRIUM_HTTP_ADDR="+addr, fmt.Sprintf("ATRIUM_DEMO=%t", demo), "ATRIUM_LOG_FORMAT=text")
	cmd.Env = append(cmd.Env, env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("atrium serve output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond) // polling a process we do not control; not synchronising our own code
	}
	t.Fatalf("atrium serve did not become healthy on %s:\n%s", addr, logs.String())
	return nil
}

type apiClient struct {
	base  string
	c     *http.Client
	token string
}

// createInvoice drafts an invoice of 25.00 EUR for a client of that name,
// as the finance member logged in, and returns its id and position.
func (a *apiClient) createInvoice(t *testing.T, client string) (id string, pos int64) {
	t.Helper()
	body := fmt.Sprintf(`{"client":{"id":"C-1","name":%q},"currency":"EUR","due_date":"2026-12-31","lines":[{"description":"x","quantity":2,"unit_price":{"amount":1250,"currency":"EUR"}}]}`, client)
	resp, b, err := a.do("POST", "/invoices", "finance", body, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %v %d %s", err, resp.StatusCode, b)
	}
	var created struct {
		ID       string `json:"id"`
		Position int64  `json:"position"`
	}
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatal(err)
	}
	return created.ID, created.Position
}

// readInvoiceAfter reads the invoice once the projections reach pos, and
// checks that it is the client's.
func (a *apiClient) readInvoiceAfter(t *testing.T, id string, pos int64, client string) {
	t.Helper()
	resp, b, err := a.do("GET", "/invoices/"+id, "finance", "", map[string]string{"X-Read-After": fmt.Sprint(pos)})
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), fmt.Sprintf("%q", client)) {
		t.Fatalf("read after write: %v %d %s", err, resp.StatusCode, b)
	}
}

// login logs the demo member with role in on acme.
func (a *apiClient) login(t *testing.T, role string) {
	t.Helper()
	for _, u := range demoUsers {
		if string(u.role) != role {
			continue
		}
		resp, b, err := a.do("POST", "/auth/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, u.email, DemoPassword), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("login %s: %v %s", u.email, err, b)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(b, &tok); err != nil {
			t.Fatal(err)
		}
		a.token = tok.AccessToken
		return
	}
	t.Fatalf("no demo member with role %s", role)
}

type apiResponse struct {
	StatusCode int
	Header     http.Header
}

// do sends a request as a well-behaved client does: a 429 is retried after
// its Retry-After, a few times.
func (a *apiClient) do(method, path, _, body string, hdr map[string]string) (apiResponse, []byte, error) {
	for attempt := 0; ; attempt++ {
		resp, b, err := a.send(method, path, body, hdr)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt == 20 {
			return resp, b, err
		}
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(max(wait, 1)) * time.Second)
	}
}

func (a *apiClient) send(method, path, body string, hdr map[string]string) (apiResponse, []byte, error) {
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		return apiResponse{}, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant", "acme")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return apiResponse{}, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apiResponse{resp.StatusCode, resp.Header}, b, err
}

// TestKillDashNine sends SIGKILL to `atrium serve` while commands are in
// flight, starts it again on the same data dir, and finds every acknowledged
// command's events and projected rows: with JetStream's default sync
// interval and with every append fsynced.
func TestKillDashNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	for _, sync := range []string{"default", "always"} {
		t.Run("sync="+sync, func(t *testing.T) { killDashNine(t, bin, "ATRIUM_NATS_SYNC="+sync) })
	}
}

func killDashNine(t *testing.T, bin string, env ...string) {
	dataDir := t.TempDir()
	addr := freeAddr(t)
	srv := startServe(t, bin, dataDir, addr, true, env...)
	api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	api.login(t, "finance")

	var (
		mu     sync.Mutex
		acked  = map[string]int{} // invoice id -> version acknowledged
		maxPos int64              // highest tenant position acknowledged
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf(`{"client":{"id":"C-K%d","name":"Kill Test"},"currency":"EUR","due_date":"2026-12-31","lines":[{"description":"x","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, w, 1000+i)
				resp, b, err := api.do("POST", "/invoices", "finance", body, nil)
				if err != nil {
					return // the server died under us: this one was never acknowledged
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
				acked[r.ID] = r.Version
				maxPos = max(maxPos, r.Position)
				n := len(acked)
				mu.Unlock()
				if n == 200 {
					_ = srv.Process.Signal(syscall.SIGKILL)
				}
			}
		}()
	}
	_ = srv.Wait() // returns once SIGKILL landed
	cancel()
	wg.Wait()
	if len(acked) < 200 {
		t.Fatalf("only %d commands acknowledged before the kill", len(acked))
	}

	startServe(t, bin, dataDir, addr, true, env...)
	api.login(t, "finance") // the login outlives the restart too, but a fresh one proves the demo users survived
	// Every acknowledged invoice is readable, projected, at its version: the
	// read waits until the projections reached the highest acknowledged position.
	readAfter := map[string]string{"X-Read-After": fmt.Sprint(maxPos)}
	for id, v := range acked {
		resp, b, err := api.do("GET", "/invoices/"+id, "finance", "", readAfter)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("acknowledged invoice %s lost after kill -9: %d %s", id, resp.StatusCode, b)
		}
		var inv struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(b, &inv); err != nil {
			t.Fatal(err)
		}
		if inv.Version < v {
			t.Fatalf("invoice %s at version %d, acknowledged %d", id, inv.Version, v)
		}
		resp, b, err = api.do("GET", "/invoices/"+id+"/history", "finance", "", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("history of %s: %v %s", id, err, b)
		}
	}
	t.Logf("%d acknowledged commands, all present after kill -9 and restart", len(acked))
}
