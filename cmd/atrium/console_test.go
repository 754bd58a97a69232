package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is the browser the console's test drives: ATRIUM_CHROMIUM, or
// the machine's (Debian's package is /usr/bin/chromium; `make test`
// installs it). Without one the test is skipped, unless
// ATRIUM_REQUIRE_BROWSER=1 (as `make test` sets) makes it fail.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ATRIUM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ATRIUM_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium on PATH and ATRIUM_CHROMIUM unset: `make test` installs Debian's chromium package")
	}
	t.Skip("no Chromium (set ATRIUM_CHROMIUM, or run `make test`, which installs it)")
	return ""
}

// browser starts a headless Chromium with a profile of its own, cut off
// from the network but for the pages it is sent to.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox to root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// TestConsoleInABrowser: a platform administrator signs in to the console
// in a real browser, reads the tenants, onboards a company (which answers
// at once at its own host with its branding), suspends and resumes it,
// rebuilds a read model of another and watches it come back, and signs
// out.
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives a browser")
	}
	ctx := browser(t)
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	dataDir := t.TempDir()
	startServe(t, bin, dataDir, addr, true,
		"ATRIUM_BOOTSTRAP_ADMIN_EMAIL=operator@platform.example", "ATRIUM_BOOTSTRAP_ADMIN_PASSWORD=the operator's password")
	port := addr[strings.LastIndex(addr, ":")+1:]
	base := "http://localhost:" + port
	shot := func(name string) {
		t.Helper()
		dir := os.Getenv("ATRIUM_CONSOLE_SCREENSHOTS")
		if dir == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}

	// Sign in.
	do("the sign-in form",
		chromedp.Navigate(base+"/console"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "operator@platform.example"),
		chromedp.SendKeys(chromedp.CSS("#password"), "the operator's password"),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#tenants")))
	shot("tenants")
	if n := text("#count-tenants"); n != "2" {
		t.Fatalf("%s tenants listed, want the demo's 2", n)
	}
	if row := text("#tenant-acme"); !strings.Contains(row, "Acme Corporation") || !strings.Contains(row, "active") {
		t.Fatalf("acme's row: %q", row)
	}

	// Onboard a company.
	do("creating a tenant",
		chromedp.SendKeys(chromedp.CSS("#slug"), "initech"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Initech"),
		chromedp.SetValue(chromedp.CSS("#primary_color"), "#0b5394"),
		chromedp.SendKeys(chromedp.CSS("#admin_email"), "bill@initech.example"),
		chromedp.SendKeys(chromedp.CSS("#admin_name"), "Bill Lumbergh"),
		chromedp.SendKeys(chromedp.CSS("#admin_password"), "a long first password"),
		chromedp.Click(chromedp.CSS("#create")),
		chromedp.WaitVisible(chromedp.CSS("#page-initech")),
		chromedp.WaitVisible(chromedp.CSS(`#notice[data-done="created"]`)))
	shot("created")
	// It answers at once at its own host, with its branding.
	do("the new tenant's page",
		chromedp.Navigate("http://initech.localhost:"+port+"/"),
		chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := text("h1"); h != "Initech" {
		t.Fatalf("initech's page says %q", h)
	}
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).backgroundColor`))
	if err != nil || bg != "rgb(11, 83, 148)" {
		t.Fatalf("initech's header is %q (%v), want its primary colour", bg, err)
	}
	shot("tenant-page")

	// Suspend it, then resume it.
	do("suspending",
		chromedp.Navigate(base+"/console/tenants/initech"),
		chromedp.SendKeys(chromedp.CSS("#reason"), "contract paused"),
		chromedp.Click(chromedp.CSS("#suspend")),
		chromedp.WaitVisible(chromedp.CSS(`#notice[data-done="suspended"]`)),
		chromedp.WaitVisible(chromedp.CSS("#resume")))
	do("the tenants after the suspension",
		chromedp.Navigate(base+"/console"),
		chromedp.WaitVisible(chromedp.CSS("#tenant-initech")))
	if n, row := text("#count-suspended"), text("#tenant-initech"); n != "1" || !strings.Contains(row, "suspended") {
		t.Fatalf("%s suspended; initech's row: %q", n, row)
	}
	do("resuming",
		chromedp.Navigate(base+"/console/tenants/initech"),
		chromedp.Click(chromedp.CSS("#resume")),
		chromedp.WaitVisible(chromedp.CSS(`#notice[data-done="resumed"]`)),
		chromedp.WaitVisible(chromedp.CSS("#suspend")))

	// Rebuild a read model of the demo's acme and see it come back: its
	// rows, deleted underneath in acme's read database, are there again.
	acme := &apiClient{base: base + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	acme.login(t, "admin")
	invoices := func() int {
		t.Helper()
		resp, b, err := acme.do("GET", "/invoices?limit=200", "", "", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("acme's invoices: %v %s", err, b)
		}
		var list struct{ Items []json.RawMessage }
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	before := invoices()
	if before == 0 {
		t.Fatal("the demo's acme lists no invoice")
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "read", "tenants", "acme", "read.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM invoices`); err != nil {
		t.Fatal(err)
	}
	if n := invoices(); n != 0 {
		t.Fatalf("%d invoices listed after their rows were deleted", n)
	}
	do("rebuilding",
		chromedp.Navigate(base+"/console/tenants/acme"),
		chromedp.Click(chromedp.CSS("#rebuild-invoicelist")),
		chromedp.WaitVisible(chromedp.CSS(`#notice[data-done="rebuilding"]`)))
	head := text("#head")
	if head == "" || head == "0" {
		t.Fatalf("acme's log reaches %q", head)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		do("the rebuild's progress",
			chromedp.Navigate(base+"/console/tenants/acme"),
			chromedp.WaitVisible(chromedp.CSS("#read-model-invoicelist")))
		row := strings.Fields(text("#read-model-invoicelist"))
		if len(row) >= 3 && row[1] == head && row[2] == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("invoicelist not rebuilt to %s: %v", head, row)
		}
		time.Sleep(200 * time.Millisecond) // a page the operator reloads, as the console's own refresh does
	}
	if n := invoices(); n != before {
		t.Fatalf("%d invoices listed after the rebuild, %d before", n, before)
	}
	shot("rebuilt")

	// Sign out: the console's pages are out of reach again.
	do("signing out",
		chromedp.Click(chromedp.CSS("#sign-out")),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.Navigate(base+"/console/tenants/acme"),
		chromedp.WaitVisible(chromedp.CSS("#email")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/console" {
		t.Fatalf("a tenant's console page signed out went to %s", loc)
	}
}
