package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Apply applies recs, in order, to every projector in one transaction of
// db, decoding them with reg, and commits. Types reg does not know are
// skipped, as the runner does.
func Apply(tb testing.TB, db projections.DB, reg *streams.Registry, ps []projections.Projector, recs ...streams.Record) {
	tb.Helper()
	if err := ApplyErr(db, reg, ps, recs...); err != nil {
		tb.Fatal(err)
	}
}

// ApplyErr is Apply returning the error instead of failing the test; the
// transaction is rolled back on error.
func ApplyErr(db projections.DB, reg *streams.Registry, ps []projections.Projector, recs ...streams.Record) (err error) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	for _, rec := range recs {
		if !reg.Known(rec.Type) {
			continue
		}
		ev, err := reg.Decode(rec.Type, rec.Data)
		if err != nil {
			return err
		}
		ctx := tenant.With(ctx, rec.Metadata.Tenant)
		for _, p := range ps {
			if err := p.Apply(ctx, tx, db.Dialect, rec, ev); err != nil {
				return fmt.Errorf("%s at %d: %w", p.Name(), rec.Position, err)
			}
		}
	}
	return tx.Commit()
}
