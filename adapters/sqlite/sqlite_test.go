package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

func TestOpenIsBoundedAndPerTenant(t *testing.T) {
	s, err := sqlite.Open(t.TempDir(), sqlite.Config{MaxOpen: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Open(ctx); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("open without tenant: %v", err)
	}
	for i := range 10 {
		tctx := tenant.With(ctx, tenant.ID(fmt.Sprintf("t%02d", i)))
		if err := s.Migrate(tctx, invoicelist.New()); err != nil {
			t.Fatal(err)
		}
		db, err := s.Open(tctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(tctx, `INSERT INTO projection_checkpoint VALUES (?, ?, '')`, "mark", i); err != nil {
			t.Fatal(err)
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
		var pos int
		if err := db.QueryRowContext(tctx, `SELECT position FROM projection_checkpoint WHERE projector = 'mark'`).Scan(&pos); err != nil || pos != i {
			t.Fatalf("tenant t%02d reads %d (%v)", i, pos, err)
		}
	}
}

func TestSchemaStatus(t *testing.T) {
	s, err := sqlite.Open(t.TempDir(), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := tenant.With(context.Background(), "acme")
	p := invoicelist.New()
	cur, latest, err := s.SchemaStatus(ctx, p)
	if err != nil || cur != 0 || latest < 1 {
		t.Fatalf("before migrating: %d of %d (%v)", cur, latest, err)
	}
	if err := s.Migrate(ctx, p); err != nil {
		t.Fatal(err)
	}
	cur, latest, err = s.SchemaStatus(ctx, p)
	if err != nil || cur != latest {
		t.Fatalf("after migrating: %d of %d (%v)", cur, latest, err)
	}
	var _ projections.ReadStore = s
}
