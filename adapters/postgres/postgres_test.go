package postgres_test

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

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/atrium-platform/atrium/adapters/postgres/pgstore"
	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/readstoretest"
)

func TestConformance(t *testing.T) {
	readstoretest.Run(t, func(t *testing.T) readstoretest.Store {
		return pgstore.New(t, serverstore.Config{MaxOpen: 2})
	})
}

func ctxOf(t tenant.ID) context.Context { return tenant.With(context.Background(), t) }

// A tenant's login opens its own database and no other tenant's.
func TestLoginOpensOnlyItsDatabase(t *testing.T) {
	creds := &serverstore.MemoryCredentials{}
	s := pgstore.New(t, serverstore.Config{Credentials: creds})
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
	dsn := func(db string) string {
		d, err := (postgresEngine).DSN(serverURL(t, s), db, acme.Login, pw)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := ping(dsn(acme.Database)); err != nil {
		t.Fatalf("acme's login on acme's database: %v", err)
	}
	err = ping(dsn(globex.Database))
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("acme's login on globex's database: %v, want permission denied", err)
	}
	// A wrong password is refused too: the server checks passwords.
	bad, _ := (postgresEngine).DSN(serverURL(t, s), acme.Database, acme.Login, "not-the-password")
	if err := ping(bad); err == nil {
		t.Fatal("a wrong password opened acme's database")
	}
}

func ping(dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// The process never holds more connections than its budget, whatever
// the number of tenants busy at once.
func TestConnectionBudget(t *testing.T) {
	s := pgstore.New(t, serverstore.Config{MaxConns: 4, MaxConnsPerTenant: 2})
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
// other tenant's database, and stops working when it expires.
func TestAnalystLogin(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := pgstore.New(t, serverstore.Config{MaxAnalysts: 2, Now: clock})
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
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	u.Path = "/" + s.Names("globex").Database
	other := u.String()
	if err := ping(other); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("acme's analyst on globex's database: %v, want permission denied", err)
	}
	if _, _, err := s.AnalystLogin(ctxOf("acme"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AnalystLogin(ctxOf("acme"), time.Hour); !errors.Is(err, projections.ErrTooManyAnalystLogins) {
		t.Fatalf("a third login: %v, want ErrTooManyAnalystLogins", err)
	}
	// Once the logins expired, they are dropped and new ones are allowed.
	short, _, err := s.AnalystLogin(ctxOf("globex"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if _, _, err := s.AnalystLogin(ctxOf("acme"), time.Hour); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := ping(short); err == nil {
		t.Fatal("an expired analyst's login still connects")
	}
}

// A snapshot is a SQLite file holding the tenant's rows, no other's.
func TestSnapshot(t *testing.T) {
	s := pgstore.New(t, serverstore.Config{})
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

// A store told of a tenant's deletion by another instance (Forget) opens
// and provisions it no more, and drops nothing itself.
func TestForgottenTenantIsNotOpened(t *testing.T) {
	s := pgstore.New(t, serverstore.Config{})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := s.Migrate(ctxOf(tn), readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Forget(ctxOf("acme")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctxOf("acme")); !errors.Is(err, projections.ErrDropped) {
		t.Errorf("Open of a forgotten tenant: %v, want projections.ErrDropped", err)
	}
	if err := s.Migrate(ctxOf("acme"), readstoretest.Model()); !errors.Is(err, projections.ErrDropped) {
		t.Errorf("Migrate of a forgotten tenant: %v, want projections.ErrDropped", err)
	}
	ts, err := s.Tenants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Errorf("tenants after Forget: %v; the other instance drops acme's database, not this one", ts)
	}
	db, err := s.Open(ctxOf("globex"))
	if err != nil {
		t.Fatalf("globex after acme was forgotten: %v", err)
	}
	db.Release()
}
