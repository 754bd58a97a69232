package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cliRun runs the binary with env added and returns its stdout, its
// stderr and its exit code.
func cliRun(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("atrium %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestCLIAsAnOperatorUsesIt runs the binary as an operator does: help,
// a mistyped command, tables and JSON, refusals on stderr with their
// problem code, one login kept for the calls after it (refreshed once its
// access token has expired) in a file only the user reads, and a logout.
func TestCLIAsAnOperatorUsesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	if out, _, code := cliRun(t, bin, nil); code != 0 || !strings.Contains(out, "Usage: atrium <command>") {
		t.Fatalf("atrium alone: exit %d\n%s", code, out)
	}
	if out, errOut, code := cliRun(t, bin, nil, "nosuch"); code != 2 || out != "" || !strings.Contains(errOut, "unexpected argument nosuch") {
		t.Fatalf("atrium nosuch: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	help, _, code := cliRun(t, bin, nil, "migrate", "--help")
	if code != 0 || !strings.Contains(help, "--parallel") || !strings.Contains(help, "--read-store") || strings.Contains(help, "--http-addr") || strings.Contains(help, "--bootstrap-admin") {
		t.Fatalf("migrate --help lists serve's flags, or not its own (exit %d):\n%s", code, help)
	}

	addr := freeAddr(t)
	startServe(t, bin, t.TempDir(), addr, true,
		"ATRIUM_BOOTSTRAP_ADMIN_EMAIL=root@atrium.example", "ATRIUM_BOOTSTRAP_ADMIN_PASSWORD=root password 123")
	sessions := filepath.Join(t.TempDir(), "config", "atrium", "sessions.json")
	env := []string{"ATRIUM_API_URL=http://" + addr, "ATRIUM_ADMIN_EMAIL=root@atrium.example", "ATRIUM_SESSION_FILE=" + sessions}

	// No session kept and no password: refused before any request.
	if out, errOut, code := cliRun(t, bin, env, "tenant", "list"); code == 0 || out != "" || !strings.Contains(errOut, "give ATRIUM_ADMIN_PASSWORD") {
		t.Fatalf("without a password: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code := cliRun(t, bin, append(env, "ATRIUM_ADMIN_PASSWORD=root password 123"), "tenant", "list")
	if code != 0 || !strings.HasPrefix(out, "SLUG") || !strings.Contains(out, "acme") || !strings.Contains(out, "globex") || errOut != "" {
		t.Fatalf("tenant list: exit %d\n%s\nstderr %s", code, out, errOut)
	}
	if lines := strings.Count(out, "\n"); lines != 3 {
		t.Fatalf("tenant list: %d lines for two tenants and a header:\n%s", lines, out)
	}
	fi, err := os.Stat(sessions)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept session file: %v %v", fi, err)
	}

	// Calls after it use the kept session: a wrong password is never sent,
	// and more calls than the failed-login limit allows all succeed.
	wrong := append(env, "ATRIUM_ADMIN_PASSWORD=not the password")
	for i := range 8 {
		if out, errOut, code := cliRun(t, bin, wrong, "tenant", "list", "-o", "json"); code != 0 {
			t.Fatalf("call %d with the kept session: exit %d %s %s", i, code, out, errOut)
		} else if i == 0 {
			var l struct {
				Items []struct {
					Slug string `json:"slug"`
				} `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) != 2 {
				t.Fatalf("tenant list -o json: %v\n%s", err, out)
			}
		}
	}

	// A refusal: on stderr, with its status and code; nothing on stdout.
	out, errOut, code = cliRun(t, bin, append(env, "ATRIUM_NEW_ADMIN_PASSWORD=another long password"),
		"tenant", "create", "acme", "--name", "Again", "--admin-email", "x@acme.example", "--admin-name", "X")
	if code != 1 || out != "" || !strings.Contains(errOut, "HTTP 409 tenant_exists") {
		t.Fatalf("create an existing tenant: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Plans: defined, listed, a tenant put on one and taken off it.
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "define-plan", "starter", "--seats", "25", "--commands-per-minute", "600")
	if code != 0 || !strings.HasPrefix(out, "PLAN") || !strings.Contains(out, "starter") || !strings.Contains(out, "25") {
		t.Fatalf("define-plan: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A limit left out keeps the plan's.
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "define-plan", "starter", "--seats", "30")
	if code != 0 || !strings.Contains(out, "30") || !strings.Contains(out, "600") {
		t.Fatalf("define-plan of one limit: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "plans")
	if code != 0 || !strings.Contains(out, "starter") || !strings.Contains(out, "600") {
		t.Fatalf("plans: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "plan", "acme", "starter")
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "starter") {
		t.Fatalf("tenant plan: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := cliRun(t, bin, wrong, "tenant", "plan", "acme", "nonesuch"); code != 1 || !strings.Contains(errOut, "HTTP 404 plan_not_found") {
		t.Fatalf("an unknown plan: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "plan", "acme")
	if code != 0 || strings.Contains(out, "starter") {
		t.Fatalf("off its plan: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Usage: today's row, the tenant's provisioning counted; a bad range
	// refused.
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "usage", "acme")
	if today := time.Now().UTC().Format(time.DateOnly); code != 0 || !strings.HasPrefix(out, "DAY") || !strings.Contains(out, today) {
		t.Fatalf("tenant usage: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := cliRun(t, bin, wrong, "tenant", "usage", "acme", "--from", "2026-02-30"); code != 1 || !strings.Contains(errOut, "HTTP 400 invalid_range") {
		t.Fatalf("usage of a day that is none: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "define-plan", "starter", "--erp-messages-per-day", "5000")
	if code != 0 || !strings.Contains(out, "5000") || !strings.Contains(out, "600") {
		t.Fatalf("define-plan of ERP messages: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A company leaves: made read-only, archived to a file, deleted.
	out, errOut, code = cliRun(t, bin, append(wrong, "ATRIUM_NEW_ADMIN_PASSWORD=leaving admin password"),
		"tenant", "create", "leaving", "--name", "Leaving Ltd", "--admin-email", "boss@leaving.example", "--admin-name", "Boss")
	if code != 0 {
		t.Fatalf("create leaving: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := cliRun(t, bin, wrong, "tenant", "offboard", "leaving"); code != 0 || !strings.Contains(out, "leaving") || !strings.Contains(out, "true") {
		t.Fatalf("offboard: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	zipFile := filepath.Join(t.TempDir(), "leaving.zip")
	if out, errOut, code := cliRun(t, bin, wrong, "tenant", "archive", "leaving", "-f", zipFile); code != 0 || !strings.Contains(errOut, "written") {
		t.Fatalf("archive: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if zr, err := zip.OpenReader(zipFile); err != nil || !slices.ContainsFunc(zr.File, func(f *zip.File) bool { return f.Name == "manifest.json" }) {
		t.Fatalf("the archive file: %v", err)
	} else {
		_ = zr.Close()
	}
	if _, errOut, code := cliRun(t, bin, wrong, "tenant", "delete", "leaving", "--confirm", "acme"); code != 1 || !strings.Contains(errOut, "HTTP 400 confirmation_required") {
		t.Fatalf("delete with another slug: exit %d, stderr %q", code, errOut)
	}
	if out, errOut, code := cliRun(t, bin, wrong, "tenant", "delete", "leaving", "--confirm", "leaving"); code != 0 || strings.Count(out, "true") != 2 {
		t.Fatalf("delete: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Which tenants are lagging, failing or suspended.
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "health")
	if code != 0 || !strings.HasPrefix(out, "TENANT") || !strings.Contains(out, "acme") || !strings.Contains(out, "here") {
		t.Fatalf("tenant health: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A rebuild, waited for, its progress on stderr.
	out, errOut, code = cliRun(t, bin, wrong, "tenant", "rebuild", "acme", "invoicelist", "--wait")
	if code != 0 || !strings.Contains(out, "rebuilt") || !strings.Contains(errOut, "rebuilding invoicelist of acme") {
		t.Fatalf("rebuild --wait: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := cliRun(t, bin, wrong, "tenant", "rebuild", "acme", "nothing", "--wait"); code != 1 || !strings.Contains(errOut, "HTTP 404 read_model_not_found") {
		t.Fatalf("rebuild of no read model: exit %d, stderr %q", code, errOut)
	}

	// An expired access token: the refresh token is used (and rotated).
	var kept map[string]savedSession
	readKept := func() savedSession {
		b, err := os.ReadFile(sessions)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &kept); err != nil || len(kept) != 1 {
			t.Fatalf("kept sessions %s: %v", b, err)
		}
		for _, s := range kept {
			return s
		}
		return savedSession{}
	}
	before := readKept()
	for k, s := range kept {
		s.Expires = time.Now().Add(-time.Minute)
		kept[k] = s
	}
	if err := saveSessions(sessions, kept); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cliRun(t, bin, wrong, "tenant", "suspend", "globex", "--reason", "unpaid"); code != 0 || !strings.Contains(out, "suspended") {
		t.Fatalf("suspend with an expired access token: exit %d %s %s", code, out, errOut)
	}
	after := readKept()
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken || !after.Expires.After(time.Now()) {
		t.Fatalf("the session was not refreshed: before %+v after %+v", before, after)
	}

	// Logout ends it on the server and here.
	if out, errOut, code := cliRun(t, bin, env, "tenant", "logout"); code != 0 {
		t.Fatalf("logout: exit %d %s %s", code, out, errOut)
	}
	if out, errOut, code := cliRun(t, bin, env, "tenant", "list"); code == 0 || !strings.Contains(errOut, "give ATRIUM_ADMIN_PASSWORD") {
		t.Fatalf("after logout: exit %d %s %s", code, out, errOut)
	}
	if _, errOut, code := cliRun(t, bin, []string{"ATRIUM_API_URL=http://" + addr, "ATRIUM_TOKEN=" + after.AccessToken}, "tenant", "list"); code == 0 || !strings.Contains(errOut, "HTTP 401") {
		t.Fatalf("the logged-out session's access token still works: exit %d %s", code, errOut)
	}
}
