package main

import (
	"bytes"
	"errors"

	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

func runAtrium(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestOnboardingAcrossInstances runs two `atrium serve` on one external
// NATS server (run by the test, on loopback): a tenant created through the first with
// `atrium tenant create` is served by the second at once, without a
// restart; its first admin logs in there. Then `atrium migrate` reports
// every tenant.
func TestOnboardingAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	nats, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	natsURL := "ATRIUM_NATS_URL=" + nats.ClientURL()
	dirA, dirB := t.TempDir(), t.TempDir()
	addrA, addrB := freeAddr(t), freeAddr(t)
	admin := []string{"ATRIUM_BOOTSTRAP_ADMIN_EMAIL=root@atrium.example", "ATRIUM_BOOTSTRAP_ADMIN_PASSWORD=root password 123"}
	a := startServe(t, bin, dirA, addrA, false, append(admin, natsURL)...)
	startServe(t, bin, dirB, addrB, false, natsURL)

	cli := []string{"ATRIUM_API_URL=http://" + addrA, "ATRIUM_ADMIN_EMAIL=root@atrium.example", "ATRIUM_ADMIN_PASSWORD=root password 123",
		"ATRIUM_NEW_ADMIN_PASSWORD=initech admin password", "ATRIUM_SESSION_FILE=" + filepath.Join(t.TempDir(), "sessions.json")}
	start := time.Now()
	out, err := runAtrium(t, bin, cli, "tenant", "create", "initech", "--name", "Initech", "--domain", "books.initech.example",
		"--admin-email", "bill@initech.example", "--admin-name", "Bill Lumbergh")
	if err != nil {
		t.Fatalf("tenant create: %v\n%s", err, out)
	}
	t.Logf("tenant created through instance A in %s", time.Since(start).Round(time.Millisecond))
	if out, err := runAtrium(t, bin, cli, "tenant", "create", "initech", "--name", "Again", "--admin-email", "x@y.example", "--admin-name", "X"); err == nil || !strings.Contains(out, "tenant_exists") {
		t.Fatalf("creating it twice: %v\n%s", err, out)
	}
	out, err = runAtrium(t, bin, cli, "tenant", "list", "-o", "json")
	if err != nil || !strings.Contains(out, `"slug": "initech"`) {
		t.Fatalf("tenant list: %v\n%s", err, out)
	}

	// Instance B serves it without a restart: wait on a condition, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+addrB+"/api/v1/branding", nil)
		req.Host = "books.initech.example"
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("instance B never served the tenant created through A")
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
	b := &apiClient{base: "http://" + addrB + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	resp, body, err := b.doTenant("initech", "POST", "/auth/login", `{"email":"bill@initech.example","password":"initech admin password"}`)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first admin login on B: %v %s", err, body)
	}
	if out, err := runAtrium(t, bin, cli, "tenant", "suspend", "initech", "--reason", "test"); err != nil {
		t.Fatalf("suspend: %v\n%s", err, out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, _, err := b.doTenant("initech", "GET", "/branding", "")
		if err == nil && resp.StatusCode == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("instance B still serves the tenant suspended through A")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Maintenance: stop A, migrate its read databases.
	_ = a.Process.Kill()
	_, _ = a.Process.Wait()
	out, err = runAtrium(t, bin, []string{"ATRIUM_DATA_DIR=" + dirA, natsURL}, "migrate", "--parallel", "4")
	if err != nil || !strings.Contains(out, "initech") || !strings.Contains(out, "1 tenants migrated") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
}

func (a *apiClient) doTenant(tn, method, path, body string) (apiResponse, []byte, error) {
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		return apiResponse{}, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant", tn)
	resp, err := a.c.Do(req)
	if err != nil {
		return apiResponse{}, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return apiResponse{resp.StatusCode, resp.Header}, buf.Bytes(), err
}

// A start that cannot succeed ends with a one-line reason and a non-zero
// exit, never a panic: the data directory of a running serve, a NATS
// nobody answers at, an HTTP address in use.
func TestFailedStartsSayWhy(t *testing.T) {
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	first := startServe(t, bin, dir, addr, false)
	defer func() { _ = first.Process.Kill(); _, _ = first.Process.Wait() }()
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"the data directory of a running serve", []string{"ATRIUM_DATA_DIR=" + dir, "ATRIUM_HTTP_ADDR=" + freeAddr(t)}, "in use by another server"},
		{"an unreachable NATS", []string{"ATRIUM_DATA_DIR=" + t.TempDir(), "ATRIUM_HTTP_ADDR=" + freeAddr(t), "ATRIUM_NATS_URL=nats://127.0.0.1:1"}, "nats"},
		{"an HTTP address in use", []string{"ATRIUM_DATA_DIR=" + t.TempDir(), "ATRIUM_HTTP_ADDR=" + addr}, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runAtrium(t, bin, append(tc.env, "ATRIUM_DEMO=false", "ATRIUM_LOG_FORMAT=text"), "serve")
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit %v, want a non-zero exit:\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") || !strings.HasPrefix(last, "atrium: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("the reason is not one line naming %q:\n%s", tc.want, out)
			}
		})
	}
}
