package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/readstoretest"
)

func open(t *testing.T, cfg sqlite.Config) (*sqlite.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

func TestReadStoreConformance(t *testing.T) {
	readstoretest.Run(t, func(t *testing.T) readstoretest.Store {
		s, _ := open(t, sqlite.Config{MaxOpen: 2})
		return s
	})
}

func TestPoolsAreBoundedButLeasedOnesStayOpen(t *testing.T) {
	s, _ := open(t, sqlite.Config{MaxOpen: 3})
	ctx := context.Background()
	leases := 0
	for i := range 10 {
		tctx := tenant.With(ctx, tenant.ID(fmt.Sprintf("t%02d", i)))
		if err := s.Migrate(tctx, readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
		db, err := s.Open(tctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(tctx, `INSERT INTO readstoretest_items (id, n) VALUES ('mark', ?)`, i); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			// Two tenants stay leased throughout: never closed under their users.
			t.Cleanup(db.Release)
			leases++
		} else {
			db.Release()
		}
		if n := s.OpenCount(); n > 3 {
			t.Fatalf("%d pools open, bound is 3", n)
		}
	}
	// Reopening an evicted tenant finds its own file, and only its data.
	for i := range 10 {
		tctx := tenant.With(ctx, tenant.ID(fmt.Sprintf("t%02d", i)))
		db, err := s.Open(tctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = db.QueryRowContext(tctx, `SELECT n FROM readstoretest_items WHERE id = 'mark'`).Scan(&n)
		db.Release()
		if err != nil || n != i {
			t.Fatalf("tenant t%02d reads %d (%v)", i, n, err)
		}
	}
	if n := s.OpenCount(); n > 3 || n < leases {
		t.Fatalf("%d pools open, want between %d and 3", n, leases)
	}
}

func TestLeasesBeyondTheBoundCloseOnRelease(t *testing.T) {
	s, _ := open(t, sqlite.Config{MaxOpen: 1})
	a, err := s.Open(tenant.With(context.Background(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(tenant.With(context.Background(), "globex"))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.OpenCount(); n != 2 {
		t.Fatalf("%d pools open while two are leased, want 2", n)
	}
	a.Release()
	if n := s.OpenCount(); n != 1 {
		t.Fatalf("%d pools open after a release, want 1", n)
	}
	if err := a.PingContext(context.Background()); err == nil {
		t.Fatal("the released pool beyond the bound is still open")
	}
	if err := b.PingContext(context.Background()); err != nil {
		t.Fatalf("the leased pool: %v", err)
	}
	b.Release()
}

func TestPragmas(t *testing.T) {
	tests := []struct {
		name string
		cfg  sqlite.Config
		sync int
	}{
		{"default NORMAL", sqlite.Config{}, 1},
		{"FULL", sqlite.Config{Synchronous: "FULL"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := open(t, tc.cfg)
			ctx := tenant.With(context.Background(), "acme")
			db, err := s.Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Release()
			var mode string
			var sync, fk, busy int
			if err := db.QueryRowContext(ctx, `SELECT journal_mode, synchronous, foreign_keys, timeout FROM pragma_journal_mode, pragma_synchronous, pragma_foreign_keys, pragma_busy_timeout`).Scan(&mode, &sync, &fk, &busy); err != nil {
				t.Fatal(err)
			}
			if mode != "wal" || sync != tc.sync || fk != 1 || busy != 10_000 {
				t.Fatalf("journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d", mode, sync, fk, busy)
			}
		})
	}
}

func TestOneFilePerTenant(t *testing.T) {
	s, dir := open(t, sqlite.Config{})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := s.Migrate(tenant.With(context.Background(), tn), readstoretest.Model()); err != nil {
			t.Fatal(err)
		}
		if s.Path(tn) != dir+"/tenants/"+string(tn)+"/read.db" {
			t.Fatalf("path of %s: %s", tn, s.Path(tn))
		}
		if _, err := os.Stat(s.Path(tn)); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := s.Tenants()
	if err != nil || !slices.Equal(ts, []tenant.ID{"acme", "globex"}) {
		t.Fatalf("tenants %v (%v)", ts, err)
	}
	if _, err := s.Open(tenant.With(context.Background(), "../x")); !errors.Is(err, tenant.ErrInvalidID) {
		t.Fatalf("open with an invalid slug: %v", err)
	}
}

func TestConfigAndClose(t *testing.T) {
	if _, err := sqlite.Open(t.TempDir(), sqlite.Config{MaxOpen: -1, Synchronous: "OFF"}); err == nil {
		t.Fatal("bad config accepted")
	}
	s, err := sqlite.Open(t.TempDir(), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(tenant.With(context.Background(), "acme")); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("open after close: %v", err)
	}
}

func TestSchemaStatusDoesNotWrite(t *testing.T) {
	s, _ := open(t, sqlite.Config{})
	ctx := tenant.With(context.Background(), "acme")
	if cur, latest, err := s.SchemaStatus(ctx, readstoretest.Model()); err != nil || cur != 0 || latest != 2 {
		t.Fatalf("status %d of %d (%v)", cur, latest, err)
	}
	db, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("%d tables after a status query (%v)", tables, err)
	}
}
