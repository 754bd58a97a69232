package http_test

import (
	"database/sql"
	"os"
	"path/filepath"
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
