package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/postgres"
	"github.com/atrium-platform/atrium/adapters/postgres/pgtest"
	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/adapters/sqlserver"
	"github.com/atrium-platform/atrium/adapters/sqlserver/mssqltest"
	"github.com/atrium-platform/atrium/domain/tenant"
	mssql "github.com/microsoft/go-mssqldb"
)

// postgresEnv returns the environment that puts a serve's read store on
// the test PostgreSQL server, under a prefix of the test's own; the
// databases and logins are dropped when the test ends.
func postgresEnv(t *testing.T) []string {
	t.Helper()
	return serverEnv(t, "postgres", pgtest.Start(t).URL)
}

// serverEnv returns the environment that puts a serve's read store on the
// server of kind ("postgres" or "sqlserver") that serverURL reaches, under a
// prefix of the test's own; the databases and logins are dropped when the
// test ends.
func serverEnv(t *testing.T, kind, serverURL string) []string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "e" + hex.EncodeToString(b) + "_"
	open := postgres.Open
	urlVar := "ATRIUM_POSTGRES_URL="
	if kind == "sqlserver" {
		open, urlVar = sqlserver.Open, "ATRIUM_SQLSERVER_URL="
	}
	t.Cleanup(func() {
		s, err := open(serverstore.Config{URL: serverURL, Prefix: prefix, Credentials: &serverstore.MemoryCredentials{}})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ts, err := s.Tenants(ctx)
		if err != nil {
			t.Error(err)
		}
		for _, tn := range ts {
			if err := s.Drop(tenant.With(ctx, tn)); err != nil {
				t.Error(err)
			}
		}
	})
	return []string{"ATRIUM_READ_STORE=" + kind, urlVar + serverURL, "ATRIUM_READ_DB_PREFIX=" + prefix, "ATRIUM_READ_MAX_CONNS=10"}
}

// serverKind is what the end-to-end test needs to know of a server store
// to use an analyst's DSN as an analyst would.
type serverKind struct {
	name   string
	env    func(t *testing.T) []string
	driver string
	// byID selects an invoice's total by its id.
	byID string
	// elsewhere is the DSN with another tenant's database in it.
	elsewhere func(t *testing.T, dsn string) string
	// refused reports whether err is the server's refusal to open a
	// database.
	refused func(err error) bool
}

var serverKinds = []serverKind{
	{
		name: "postgres", env: postgresEnv, driver: "pgx",
		byID: `SELECT total FROM invoices WHERE id = $1`,
		elsewhere: func(t *testing.T, dsn string) string {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			u.Path = strings.Replace(u.Path, "acme", "globex", 1)
			return u.String()
		},
		refused: func(err error) bool { return err != nil && strings.Contains(err.Error(), "permission denied") },
	},
	{
		name: "sqlserver", driver: "sqlserver",
		env: func(t *testing.T) []string {
			return serverEnv(t, "sqlserver", mssqltest.Start(t).URL) // skipped without ATRIUM_TEST_MSSQL_URL
		},
		byID: `SELECT total FROM invoices WHERE id = @p1`,
		elsewhere: func(t *testing.T, dsn string) string {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("database", strings.Replace(q.Get("database"), "acme", "globex", 1))
			u.RawQuery = q.Encode()
			return u.String()
		},
		refused: func(err error) bool {
			var e mssql.Error
			return err != nil && (errors.As(err, &e) && e.Number == 4060 || strings.Contains(err.Error(), "Cannot open database "))
		},
	},
}

// TestServeOnServerStores runs `atrium serve` with its read tables on
// PostgreSQL, and on SQL Server when ATRIUM_TEST_MSSQL_URL is set, as
// CONTRACT.md section 8 says, from outside: commands are
// projected into the tenant's own database and read back; an admin gets a
// read-only login to it that opens no other tenant's database; a snapshot
// is a SQLite file of the tenant's tables.
func TestServeOnServerStores(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, k := range serverKinds {
		t.Run(k.name, func(t *testing.T) { serveOnServer(t, k) })
	}
}

func serveOnServer(t *testing.T, k serverKind) {
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	env := k.env(t)
	addr := freeAddr(t)
	startServe(t, bin, t.TempDir(), addr, true, env...)
	api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 30 * time.Second}}
	api.login(t, "finance")
	var created struct {
		ID       string
		Position int64
	}
	created.ID, created.Position = api.createInvoice(t, "Postgres Client")
	api.readInvoiceAfter(t, created.ID, created.Position, "Postgres Client")

	api.login(t, "admin")
	resp, b, err := api.do("POST", "/analytics/credentials", "admin", `{"hours":1}`, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("analytics credentials: %v %d %s", err, resp.StatusCode, b)
	}
	var cred struct {
		DSN       string    `json:"dsn"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &cred); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(cred.ExpiresAt); d < 55*time.Minute || d > time.Hour {
		t.Fatalf("credentials expire in %v, want an hour", d)
	}
	db, err := sql.Open(k.driver, cred.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total int64
	if err := db.QueryRow(k.byID, created.ID).Scan(&total); err != nil || total != 2500 {
		t.Fatalf("analyst reads total %d (%v), want 2500", total, err)
	}
	if _, err := db.Exec(`DELETE FROM invoices`); err == nil {
		t.Fatal("the analyst's login deleted rows")
	}
	other, err := sql.Open(k.driver, k.elsewhere(t, cred.DSN))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Ping(); !k.refused(err) {
		t.Fatalf("acme's analyst on globex's database: %v, want it refused", err)
	}

	// A tenant's unexpired logins are bounded: a hostile admin cannot
	// fill the server with roles.
	for i := 2; ; i++ {
		resp, b, err := api.send("POST", "/analytics/credentials", `{"hours":1}`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			if !strings.Contains(string(b), `"too_many_analyst_logins"`) || i != 17 {
				t.Fatalf("login %d refused: %s, want the 17th refused with too_many_analyst_logins", i, b)
			}
			break
		}
		if resp.StatusCode != http.StatusCreated || i > 17 {
			t.Fatalf("login %d: %d %s", i, resp.StatusCode, b)
		}
	}

	api.login(t, "auditor")
	// The audit chain on the server store: the log checks against it,
	// and a replay of every read table holds the invoice.
	resp, b, err = api.do("GET", "/audit/verify", "auditor", "", map[string]string{"X-Read-After": fmt.Sprint(created.Position)})
	var check struct {
		OK      bool   `json:"ok"`
		Events  uint64 `json:"events"`
		Chained uint64 `json:"chained"`
	}
	if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(b, &check) != nil || !check.OK || check.Chained < uint64(created.Position) {
		t.Fatalf("audit verify: %v %d %s", err, resp.StatusCode, b)
	}
	resp, b, err = api.do("GET", "/audit/replay?as_of="+time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "auditor", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("audit replay: %v %d", err, resp.StatusCode)
	}
	replayed := filepath.Join(t.TempDir(), "replay.sqlite")
	if err := os.WriteFile(replayed, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rdb, err := sql.Open("sqlite", replayed)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var name string
	if err := rdb.QueryRow(`SELECT client_name FROM invoices WHERE id = ?`, created.ID).Scan(&name); err != nil || name != "Postgres Client" {
		t.Fatalf("the replay's invoice: %q %v", name, err)
	}
	resp, b, err = api.do("GET", "/analytics/snapshot", "auditor", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot: %v %d", err, resp.StatusCode)
	}
	path := filepath.Join(t.TempDir(), "acme.sqlite")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var n int
	if err := snap.QueryRow(`SELECT COUNT(*) FROM invoices WHERE id = ?`, created.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("snapshot holds %d of the invoice (%v)", n, err)
	}
}
