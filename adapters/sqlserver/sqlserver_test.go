package sqlserver_test

// These tests run against the SQL Server that ATRIUM_TEST_MSSQL_URL names
// (see mssqltest), and are skipped when it is not set.

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	_ "modernc.org/sqlite"

	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/adapters/sqlserver"
	"github.com/atrium-platform/atrium/adapters/sqlserver/mssqlstore"
	"github.com/atrium-platform/atrium/adapters/sqlserver/mssqltest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/readstoretest"
)

func TestConformance(t *testing.T) {
	readstoretest.Run(t, func(t *testing.T) readstoretest.Store {
		return mssqlstore.New(t, serverstore.Config{MaxOpen: 2})
	})
}

func ctxOf(t tenant.ID) context.Context { return tenant.With(context.Background(), t) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func ping(dsn string) error {
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// cannotOpen reports whether err is SQL Server's refusal to open a
// database for a login that has no access to it: error 4060, "Cannot
// open database ... requested by the login" (some compatible servers
// give the message with another number).
func cannotOpen(err error) bool {
	if err == nil {
		return false
	}
	var e mssql.Error
	return (errors.As(err, &e) && e.Number == 4060) || strings.Contains(err.Error(), "Cannot open database ")
}

// A tenant's login opens its own database and no other tenant's, and
// does not even see the other's name.
func TestLoginOpensOnlyItsDatabase(t *testing.T) {
	creds := &serverstore.MemoryCredentials{}
	s := mssqlstore.New(t, serverstore.Config{Credentials: creds})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := s.Migrate(ctxOf(tn), readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
	}
	acme, globex := s.Names("acme"), s.Names("globex")
	pw, err := creds.Password(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	url := mssqltest.Start(t).URL
	dsn := func(db string) string {
		d, err := sqlserver.Engine{}.DSN(url, db, acme.Login, pw)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := ping(dsn(acme.Database)); err != nil {
		t.Fatalf("acme's login on acme's database: %v", err)
	}
	if err := ping(dsn(globex.Database)); !cannotOpen(err) {
		t.Fatalf("acme's login on globex's database: %v, want error 4060 (cannot open database)", err)
	}
	db := open(t, dsn(acme.Database))
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "SELECT COUNT(*) FROM "+sqlserver.Engine{}.Quote(globex.Database)+".dbo.readstoretest_items"); err == nil {
		t.Fatal("acme's login read globex's table by its three-part name")
	}
	var seen int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sys.databases WHERE name = @p1`, globex.Database).Scan(&seen); err != nil || seen != 0 {
		t.Fatalf("acme's login sees globex's database: %d (%v)", seen, err)
	}
	// A wrong password is refused too: the server checks passwords.
	bad, _ := sqlserver.Engine{}.DSN(url, acme.Database, acme.Login, "not-the-password")
	if err := ping(bad); err == nil {
		t.Fatal("a wrong password opened acme's database")
	}
}

// Provisioning twice, from two stores (two processes) at once, is
// harmless, and a new password given to an existing login works.
func TestProvisionIsIdempotent(t *testing.T) {
	creds := &serverstore.MemoryCredentials{}
	a := mssqlstore.New(t, serverstore.Config{Credentials: creds})
	b, err := sqlserver.Open(serverstore.Config{URL: mssqltest.Start(t).URL, Credentials: creds, Prefix: strings.TrimSuffix(a.Names("x").Database, "x")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, s := range []*serverstore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Migrate(ctxOf("acme"), readstoretest.Model())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db, err := b.Open(ctxOf("acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	if _, err := db.ExecContext(context.Background(), `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, "a", 1); err != nil {
		t.Fatal(err)
	}
	// Keys are case-sensitive, as on the other stores.
	if _, err := db.ExecContext(context.Background(), `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, "A", 2); err != nil {
		t.Fatalf("a key differing in case: %v", err)
	}
}

// The process never holds more connections than its budget, whatever
// the number of tenants busy at once.
func TestConnectionBudget(t *testing.T) {
	s := mssqlstore.New(t, serverstore.Config{MaxConns: 4, MaxConnsPerTenant: 2})
	const tenants = 12
	for i := range tenants {
		if err := s.Migrate(ctxOf(tenant.ID("t"+string(rune('a'+i))+"x")), readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, tenants*4)
	for i := range tenants {
		for j := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := ctxOf(tenant.ID("t" + string(rune('a'+i)) + "x"))
				for k := range 10 {
					db, err := s.Open(ctx)
					if err != nil {
						errs <- err
						return
					}
					_, err = db.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, string(rune('a'+j))+string(rune('a'+k)), k)
					db.Release()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	used, peak, waiting := s.Budget().Stats()
	if peak > 4 || peak < 2 || waiting != 0 {
		t.Fatalf("budget: %d used, peak %d, %d waiting; want a peak of 2 to 4 and nobody waiting", used, peak, waiting)
	}
	for i := range tenants {
		db, err := s.Open(ctxOf(tenant.ID("t" + string(rune('a'+i)) + "x")))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM readstoretest_items`).Scan(&n)
		db.Release()
		if err != nil || n != 40 {
			t.Fatalf("tenant %d: %d rows (%v), want 40", i, n, err)
		}
	}
}

// An analyst's login reads its tenant's tables, writes nothing, opens no
// other tenant's database, and is dropped once it expired: SQL Server
// logins do not expire by themselves, so the drop happens when the
// tenant next asks for a login.
func TestAnalystLogin(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := mssqlstore.New(t, serverstore.Config{MaxAnalysts: 2, Now: clock})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := s.Migrate(ctxOf(tn), readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
		db, err := s.Open(ctxOf(tn))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(context.Background(), `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, string(tn), 1)
		db.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	dsn, expires, err := s.AnalystLogin(ctxOf("acme"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := expires.Sub(now); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires in %v, want an hour", d)
	}
	db := open(t, dsn)
	ctx := context.Background()
	var id string
	if err := db.QueryRowContext(ctx, `SELECT id FROM readstoretest_items`).Scan(&id); err != nil || id != "acme" {
		t.Fatalf("analyst reads %q (%v), want acme's row", id, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n) VALUES ('x', 1)`); err == nil {
		t.Fatal("an analyst's login wrote a row")
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE mine (x int)`); err == nil {
		t.Fatal("an analyst's login created a table")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("database", s.Names("globex").Database)
	u.RawQuery = q.Encode()
	if err := ping(u.String()); !cannotOpen(err) {
		t.Fatalf("acme's analyst on globex's database: %v, want error 4060 (cannot open database)", err)
	}
	if _, _, err := s.AnalystLogin(ctxOf("acme"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AnalystLogin(ctxOf("acme"), time.Hour); !errors.Is(err, projections.ErrTooManyAnalystLogins) {
		t.Fatalf("a third login: %v, want ErrTooManyAnalystLogins", err)
	}
	// Once the logins expired, they are dropped and new ones are allowed;
	// a dropped login's open session is ended.
	short, _, err := s.AnalystLogin(ctxOf("globex"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	held := open(t, short)
	if err := held.PingContext(ctx); err != nil {
		t.Fatalf("globex's analyst before expiry: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, _, err := s.AnalystLogin(ctxOf("acme"), time.Hour); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := ping(dsn); err == nil {
		t.Fatal("acme's expired analyst's login still connects")
	}
	if _, _, err := s.AnalystLogin(ctxOf("globex"), time.Hour); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := ping(short); err == nil {
		t.Fatal("globex's expired analyst's login still connects")
	}
	var n int
	if err := held.QueryRowContext(ctx, `SELECT COUNT(*) FROM readstoretest_items`).Scan(&n); err == nil {
		t.Fatal("a dropped analyst's session still reads")
	}
}

// A snapshot is a SQLite file holding the tenant's rows, no other's.
func TestSnapshot(t *testing.T) {
	s := mssqlstore.New(t, serverstore.Config{})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := s.Migrate(ctxOf(tn), readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
		db, err := s.Open(ctxOf(tn))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(context.Background(), `INSERT INTO readstoretest_items (id, n, label) VALUES (?, ?, ?)`, string(tn), 7, "x")
		db.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "snap.sqlite")
	if err := s.Snapshot(ctxOf("acme"), path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	rows, err := db.Query(`SELECT id FROM readstoretest_items`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "acme" {
		t.Fatalf("snapshot of acme holds %v", ids)
	}
}
