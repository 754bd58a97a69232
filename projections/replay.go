package projections

import (
	"context"
	"fmt"

	"github.com/atrium-platform/atrium/streams"
)

// replayBatch is how many events a replay commits at once.
const replayBatch = 1000

// Replay applies records, page after page from next (an empty page ends
// it), to projectors in db, which holds their tables already migrated and
// nothing else: the read models of a log rebuilt away from the live ones
// (an auditor's replay as of a moment). It commits every replayBatch
// events and reports how many it applied through progress (may be nil).
// Events of types the registry does not know go to EveryEvent projectors
// only, as in a live projection. An event a projector fails on is left out
// of the tables, as the live projection leaves a poisoned event out (the
// batch holding it is applied again with each event in a savepoint of its
// own, a failing one given to EveryEvent projectors alone); skipped counts
// those.
func Replay(ctx context.Context, db DB, registry *streams.Registry, projectors []Projector,
	next func() ([]streams.Record, error), progress func(applied int)) (applied, skipped int, err error) {
	cache := newStmtCache(db.DB)
	defer cache.close()
	for {
		recs, err := next()
		if err != nil {
			return applied, skipped, err
		}
		if len(recs) == 0 {
			return applied, skipped, nil
		}
		for len(recs) > 0 {
			n := min(len(recs), replayBatch)
			if err := replayTx(ctx, db, cache, registry, projectors, recs[:n], nil); err != nil {
				// Once more, each failure isolated.
				if err := replayTx(ctx, db, cache, registry, projectors, recs[:n], &skipped); err != nil {
					return applied, skipped, err
				}
			}
			applied += n
			recs = recs[n:]
			if progress != nil {
				progress(applied)
			}
		}
	}
}

// replayTx applies recs in one transaction. With skipped nil, the first
// failure aborts it; else each event is applied in a savepoint: an event a
// projector fails on is rolled back for every projector and given to the
// EveryEvent ones alone, as the live projection does with a poisoned
// event, and counted.
func replayTx(ctx context.Context, db DB, cache *stmtCache, registry *streams.Registry, projectors []Projector, recs []streams.Record, skipped *int) error {
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = sqlTx.Rollback() }() // after a commit: sql.ErrTxDone, nothing to undo
	tx := newCachedTx(sqlTx, cache)
	for _, rec := range recs {
		ev, decodeErr := decodeEvent(registry, rec)
		applyTo := func(every bool) error {
			for _, p := range projectors {
				if (every || ev == nil) && !everyEvent(p) {
					continue
				}
				if err := apply(ctx, p, tx, db.Dialect, rec, ev); err != nil {
					return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
				}
			}
			return nil
		}
		if skipped == nil {
			if decodeErr != nil {
				return fmt.Errorf("event %d (%s): %w", rec.Position, rec.Type, decodeErr)
			}
			if err := applyTo(false); err != nil {
				return err
			}
			continue
		}
		failed, err := inSavepoint(ctx, tx, db.SQL, func(Tx) error {
			if decodeErr != nil {
				return decodeErr
			}
			return applyTo(false)
		})
		if err != nil {
			return err
		}
		if failed == nil {
			continue
		}
		*skipped++
		if failed, err = inSavepoint(ctx, tx, db.SQL, func(Tx) error { return applyTo(true) }); err != nil {
			return err
		}
		if failed != nil {
			return failed // the chain itself: the replay cannot be whole
		}
	}
	return sqlTx.Commit()
}
