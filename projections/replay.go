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
// only, as in a live projection; an event a projector fails on ends the
// replay with its error.
func Replay(ctx context.Context, db DB, registry *streams.Registry, projectors []Projector,
	next func() ([]streams.Record, error), progress func(applied int)) (int, error) {
	applied := 0
	for {
		recs, err := next()
		if err != nil {
			return applied, err
		}
		if len(recs) == 0 {
			return applied, nil
		}
		for len(recs) > 0 {
			n := min(len(recs), replayBatch)
			if err := replayTx(ctx, db, registry, projectors, recs[:n]); err != nil {
				return applied, err
			}
			applied += n
			recs = recs[n:]
			if progress != nil {
				progress(applied)
			}
		}
	}
}

func replayTx(ctx context.Context, db DB, registry *streams.Registry, projectors []Projector, recs []streams.Record) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after a commit: sql.ErrTxDone, nothing to undo
	for _, rec := range recs {
		var ev domain.Event
		if registry.Known(rec.Type) {
			if ev, err = registry.Decode(rec.Type, rec.Data); err != nil {
				return fmt.Errorf("event %d (%s): %w", rec.Position, rec.Type, err)
			}
		}
		for _, p := range projectors {
			if ev == nil && !everyEvent(p) {
				continue
			}
			if err := apply(ctx, p, tx, db.Dialect, rec, ev); err != nil {
				return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
			}
		}
	}
	return tx.Commit()
}
