// Package readstoretest is the conformance suite every read store adapter
// passes: tenant scoping, isolation between tenants, leases that keep a pool
// open while in use, versioned migrations per read model, concurrent use,
// the statements of the SQL each lease gives (paging, savepoints) run
// against the store's database, the checkpoint fence under concurrent
// writers, and a dropped tenant's database never created again.
package readstoretest

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Store is what the suite needs of a read store adapter.
type Store interface {
	projections.ReadStore
	projections.Migrator
	// Migrate brings the ctx tenant's database to the latest version of the
	// checkpoint table and of every projector's read model.
	Migrate(ctx context.Context, projectors ...projections.Projector) error
	// Drop removes the ctx tenant's database (its deletion); the store
	// opens it no more.
	Drop(ctx context.Context) error
}

//go:embed migrations
var migrations embed.FS

// Model is the suite's read model: table readstoretest_items(id, n, label),
// in two migrations. Its Apply does nothing.
func Model() projections.Projector { return model{} }

type model struct{}

func (model) Name() string { return "readstoretest" }
func (model) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}
func (model) Apply(context.Context, projections.Tx, projections.Dialect, streams.Record, domain.Event) error {
	return nil
}

// Run runs the suite. newStore returns a new, empty store that bounds its
// open pools to at most 2 when it bounds them at all; the caller closes it
// (t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"NoTenant", testNoTenant},
		{"Migrations", testMigrations},
		{"Isolation", testIsolation},
		{"LeaseKeepsPoolOpen", testLeaseKeepsPoolOpen},
		{"Concurrent", testConcurrent},
		{"SQL", testSQL},
		{"Dropped", testDropped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctxOf(t tenant.ID) context.Context { return tenant.With(context.Background(), t) }

func migrate(t *testing.T, s Store, ts ...tenant.ID) {
	t.Helper()
	for _, tn := range ts {
		if err := s.Migrate(ctxOf(tn), Model()); err != nil {
			t.Fatalf("migrate %s: %v", tn, err)
		}
	}
}

func testNoTenant(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Open(ctx); !errors.Is(err, tenant.ErrNoTenant) {
		t.Errorf("Open without a tenant: %v, want tenant.ErrNoTenant", err)
	}
	if err := s.Migrate(ctx, Model()); !errors.Is(err, tenant.ErrNoTenant) {
		t.Errorf("Migrate without a tenant: %v, want tenant.ErrNoTenant", err)
	}
	if _, _, err := s.SchemaStatus(ctx, Model()); !errors.Is(err, tenant.ErrNoTenant) {
		t.Errorf("SchemaStatus without a tenant: %v, want tenant.ErrNoTenant", err)
	}
}

func testMigrations(t *testing.T, s Store) {
	ctx := ctxOf("acme")
	for _, p := range []projections.Projector{projections.Checkpoints(), Model()} {
		cur, latest, err := s.SchemaStatus(ctx, p)
		if err != nil || cur >= latest {
			t.Fatalf("%s before migrating: version %d of %d (%v), want behind", p.Name(), cur, latest, err)
		}
	}
	migrate(t, s, "acme", "acme") // twice: the second does nothing
	for _, p := range []projections.Projector{projections.Checkpoints(), Model()} {
		cur, latest, err := s.SchemaStatus(ctx, p)
		if err != nil || cur != latest {
			t.Fatalf("%s after migrating: version %d of %d (%v)", p.Name(), cur, latest, err)
		}
	}
	cur, latest, _ := s.SchemaStatus(ctx, Model())
	if cur != 2 || latest != 2 {
		t.Fatalf("readstoretest at %d of %d, want 2 of 2", cur, latest)
	}
	db, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	if db.Dialect == "" {
		t.Error("a lease names no dialect")
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n, label) VALUES (?, ?, ?)`, "x", 1, "second migration"); err != nil {
		t.Fatalf("both migrations applied: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)`, "p", 1, "2026-01-01T00:00:00Z"); err != nil {
		t.Fatalf("checkpoint table: %v", err)
	}
	// Another tenant is not migrated by the first one's migration.
	if cur, _, err := s.SchemaStatus(ctxOf("globex"), Model()); err != nil || cur != 0 {
		t.Fatalf("globex at version %d (%v), want 0", cur, err)
	}

	// Concurrent migrations of one tenant are safe.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- s.Migrate(ctxOf("initech"), Model()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
}

func count(t *testing.T, s Store, tn tenant.ID) int {
	t.Helper()
	ctx := ctxOf(tn)
	db, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM readstoretest_items`).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", tn, err)
	}
	return n
}

func insert(ctx context.Context, s Store, id string) error {
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	_, err = db.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, id, 1)
	return err
}

func testIsolation(t *testing.T, s Store) {
	migrate(t, s, "acme", "globex")
	for i := range 3 {
		if err := insert(ctxOf("acme"), s, fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := insert(ctxOf("globex"), s, "g"); err != nil {
		t.Fatal(err)
	}
	if a, g := count(t, s, "acme"), count(t, s, "globex"); a != 3 || g != 1 {
		t.Fatalf("acme has %d rows, globex %d: want 3 and 1", a, g)
	}
}

func testLeaseKeepsPoolOpen(t *testing.T, s Store) {
	ts := []tenant.ID{"acme", "globex", "initech", "umbrella", "hooli"}
	migrate(t, s, ts...)
	ctx := ctxOf("acme")
	held, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := held.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, "held", 1); err != nil {
		t.Fatal(err)
	}
	// Use every other tenant, more than a bounded store keeps open.
	for _, tn := range ts[1:] {
		if err := insert(ctxOf(tn), s, "other"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit on a leased pool after other tenants were opened: %v", err)
	}
	if err := held.PingContext(ctx); err != nil {
		t.Fatalf("leased pool closed under its lease: %v", err)
	}
	held.Release()
	held.Release() // a second release does nothing
	if n := count(t, s, "acme"); n != 1 {
		t.Fatalf("acme has %d rows, want 1", n)
	}
}

func testConcurrent(t *testing.T, s Store) {
	ts := []tenant.ID{"acme", "globex", "initech", "umbrella"}
	migrate(t, s, ts...)
	const workers, each = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				tn := ts[(w+i)%len(ts)]
				if err := insert(ctxOf(tn), s, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					errs <- fmt.Errorf("%s: %w", tn, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, tn := range ts {
		total += count(t, s, tn)
	}
	if total != workers*each {
		t.Fatalf("%d rows over the tenants, want %d", total, workers*each)
	}
}

// testDropped: once a tenant's database is dropped, whatever was still
// under way (a projection's batch, a request, another migration) neither
// opens nor creates it again; the other tenants keep theirs.
func testDropped(t *testing.T, s Store) {
	migrate(t, s, "acme", "globex")
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := insert(ctxOf(tn), s, "x"); err != nil {
			t.Fatal(err)
		}
	}
	held, err := s.Open(ctxOf("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctxOf("acme")); err != nil {
		t.Fatal(err)
	}
	held.Release()
	if _, err := s.Open(ctxOf("acme")); !errors.Is(err, projections.ErrDropped) {
		t.Errorf("Open of a dropped tenant: %v, want projections.ErrDropped", err)
	}
	if err := s.Migrate(ctxOf("acme"), Model()); !errors.Is(err, projections.ErrDropped) {
		t.Errorf("Migrate of a dropped tenant: %v, want projections.ErrDropped", err)
	}
	if ts, ok, err := tenantsOf(s); err != nil {
		t.Fatal(err)
	} else if ok && (slices.Contains(ts, "acme") || !slices.Contains(ts, "globex")) {
		t.Errorf("the store's tenants after acme was dropped: %v", ts)
	}
	if n := count(t, s, "globex"); n != 1 {
		t.Errorf("globex has %d rows after acme was dropped, want 1", n)
	}
}

// tenantsOf lists the tenants whose database the store has, when it can
// tell.
func tenantsOf(s Store) ([]tenant.ID, bool, error) {
	switch l := s.(type) {
	case interface {
		Tenants(context.Context) ([]tenant.ID, error)
	}:
		ts, err := l.Tenants(context.Background())
		return ts, true, err
	case interface{ Tenants() ([]tenant.ID, error) }:
		ts, err := l.Tenants()
		return ts, true, err
	}
	return nil, false, nil
}
