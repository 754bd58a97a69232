package projections

import (
	"context"
	"fmt"

	"github.com/atrium-platform/atrium/domain"
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
// of that projector's tables, as the live projection leaves a poisoned
// event out (the batch holding it is applied again with each event and
// each projector in a savepoint of its own); skipped counts those.
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
// failure aborts it; else each projector's Apply runs in a savepoint, and
// a failing one is rolled back and counted.
func replayTx(ctx context.Context, db DB, cache *stmtCache, registry *streams.Registry, projectors []Projector, recs []streams.Record, skipped *int) error {
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = sqlTx.Rollback() }() // after a commit: sql.ErrTxDone, nothing to undo
	tx := newCachedTx(sqlTx, cache)
	set, rollback, release := db.SQL.Savepoint("replay")
	for _, rec := range recs {
		var ev domain.Event
		if registry.Known(rec.Type) {
			if ev, err = registry.Decode(rec.Type, rec.Data); err != nil && skipped == nil {
				return fmt.Errorf("event %d (%s): %w", rec.Position, rec.Type, err)
			}
		}
		for _, p := range projectors {
			if ev == nil && !everyEvent(p) {
				continue
			}
			if skipped == nil {
				if err := apply(ctx, p, tx, db.Dialect, rec, ev); err != nil {
					return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, set); err != nil {
				return err
			}
			if err := apply(ctx, p, tx, db.Dialect, rec, ev); err != nil {
				tx.forgetAll()
				if _, err := tx.ExecContext(ctx, rollback); err != nil {
					return err
				}
				*skipped++
			}
			if release != "" {
				if _, err := tx.ExecContext(ctx, release); err != nil {
					return err
				}
			}
		}
	}
	return sqlTx.Commit()
}
