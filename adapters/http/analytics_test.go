package http_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestAnalyticsSnapshotIsTheTenantsOwn(t *testing.T) {
	app := newApp(t)
	acmeFin := as(t, app, "acme", "u-fin", "finance")
	globexFin := as(t, app, "globex", "g-fin", "finance")
	id, _ := create(t, acmeFin, 100)
	_, pos := create(t, acmeFin, 200)
	create(t, globexFin, 300)
	for _, role := range []string{"admin", "auditor"} {
		r := as(t, app, "acme", "u-"+role, role).do("GET", "/api/v1/analytics/snapshot", "", "X-Read-After", pos)
		if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.sqlite3" || r.header.Get("Cache-Control") != "private, no-store" {
			t.Fatalf("%s: %d %v %.200s", role, r.status, r.header, r.body)
		}
		path := filepath.Join(t.TempDir(), "copy.sqlite")
		if err := os.WriteFile(path, r.body, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var first string
		if err := db.QueryRow(`SELECT COUNT(*), MIN(CASE WHEN id = ? THEN id END) FROM invoices`, id).Scan(&n, &first); err != nil {
			t.Fatal(err)
		}
		var globex int
		if err := db.QueryRow(`SELECT COUNT(*) FROM invoices WHERE total = 900`).Scan(&globex); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		if n != 2 || first != id || globex != 0 {
			t.Fatalf("%s's snapshot: %d invoices (%q), %d of globex's", role, n, first, globex)
		}
	}
	if code := problemCode(t, acmeFin.do("GET", "/api/v1/analytics/snapshot", ""), 403); code != "forbidden" {
		t.Fatalf("finance: %s", code)
	}
	problemCode(t, as(t, app, "acme", "", "").do("GET", "/api/v1/analytics/snapshot", ""), 401)
	admin := as(t, app, "acme", "u-admin", "admin")
	if code := problemCode(t, admin.do("GET", "/api/v1/analytics/snapshot", "", "X-Tenant", "globex"), 403); code != "tenant_mismatch" {
		t.Fatalf("acme's admin on globex: %s", code)
	}
}

// Snapshots read whole databases: many at once are bounded, answered
// 200, 503 busy or 429 (the tenant's requests in flight), never a 500.
func TestSnapshotsAreBounded(t *testing.T) {
	app := newApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	for i := range 50 {
		create(t, as(t, app, "acme", "u-fin", "finance"), 100+i)
	}
	var wg sync.WaitGroup
	statuses := make(chan reply, 24)
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- admin.do("GET", "/api/v1/analytics/snapshot", "")
		}()
	}
	wg.Wait()
	close(statuses)
	served := 0
	for r := range statuses {
		switch {
		case r.status == 200:
			served++
		case r.status == 503 && r.header.Get("Retry-After") != "":
			if code := problemCode(t, r, 503); code != "busy" {
				t.Fatalf("503 %s", code)
			}
		case r.status == 429:
			if code := problemCode(t, r, 429); code != "too_many_requests" {
				t.Fatalf("429 %s", code)
			}
		default:
			t.Fatalf("a snapshot among 24 at once: %d %.200s", r.status, r.body)
		}
	}
	if served == 0 {
		t.Fatal("no snapshot among 24 was served")
	}
}

func TestAnalystLoginsNeedAServerStore(t *testing.T) {
	app := newApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	if code := problemCode(t, admin.do("POST", "/api/v1/analytics/credentials", ""), 409); code != "analytics_logins_unavailable" {
		t.Fatalf("embedded store: %s", code)
	}
	for _, body := range []string{`{"hours":0}`, `{"hours":169}`, `{"hours":"x"}`, `{"days":1}`} {
		if code := problemCode(t, admin.do("POST", "/api/v1/analytics/credentials", body), 400); code != "invalid_request" {
			t.Fatalf("%s: %s", body, code)
		}
	}
	problemCode(t, as(t, app, "acme", "u-fin", "finance").do("POST", "/api/v1/analytics/credentials", ""), 403)
	problemCode(t, as(t, app, "acme", "u-aud", "auditor").do("POST", "/api/v1/analytics/credentials", ""), 403)
}
