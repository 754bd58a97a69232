package projections

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// handle applies one event to every projector that has not yet, in the
// open batch (inside a savepoint when the event is being isolated after a
// failure), and commits the batch when it is full or the
// source has nothing more pending (else a timer does). A projector's
// failure is returned, for retries and then the poison queue; a failure of
// the batch itself aborts the batch and returns nil.
func (tr *tenantRun) handle(gen uint64, msg *message.Message) error {
	// The batch outlives the subscription that delivered the message: its
	// statements must not fail because that subscription ends.
	ctx := context.WithoutCancel(msg.Context())
	rec, ev, err := tr.decode(ctx, msg)
	if err != nil {
		return err
	}
	release, err := tr.turn(msg.Context())
	if err != nil {
		return err
	}
	defer release()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.sawHead(rec.Position, msg.Metadata.Get(streams.MetaPending))
	if tr.stopped || tr.gen != gen {
		return nil // of a subscription that ended: the current one delivers it again
	}
	todo := tr.behind(rec.Position)
	if len(todo) == 0 {
		return nil // redelivered: changes nothing
	}
	if err := tr.begin(ctx); err != nil {
		tr.abort(err)
		return nil
	}
	applyAll := func(tx Tx) error {
		for _, p := range todo {
			if ev == nil && !everyEvent(p) {
				continue // a type this process does not know: nothing to project
			}
			if err := apply(ctx, p, tx, tr.db.Dialect, rec, ev); err != nil {
				return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
			}
		}
		return nil
	}
	if rec.Position > tr.isolate {
		// The common case: no savepoint (one per event cost a tenth of the
		// projector's time). A failure leaves the event's partial writes in
		// the batch, so the whole batch is rolled back and its events are
		// applied again one per transaction, where this one's failure is
		// isolated, retried and, failing still, sent to the poison queue.
		if failed := applyAll(tr.txc); failed != nil {
			tr.isolate = rec.Position
			tr.abort(failed)
		} else {
			tr.stage(todo, rec.Position)
			return tr.advanced(msg, rec.Position)
		}
		return nil
	}
	failed, err := tr.inSavepoint(ctx, applyAll)
	if err != nil {
		tr.abort(err)
		return nil
	}
	if failed != nil {
		return failed
	}
	tr.stage(todo, rec.Position)
	return tr.advanced(msg, rec.Position)
}

// decode returns the event msg carries, as a record and, when the registry
// knows its type, decoded (else ev is nil: no projector uses it, and the
// checkpoints move past it). A message that can never be applied (metadata
// or data that does not decode, another tenant's event, no position) is a
// permanentError.
func (tr *tenantRun) decode(ctx context.Context, msg *message.Message) (rec streams.Record, ev domain.Event, err error) {
	if rec, err = tr.record(ctx, msg); err != nil {
		return rec, nil, err
	}
	if ev, err = decodeEvent(tr.r.cfg.Registry, rec); err != nil {
		return rec, nil, permanentError{err}
	}
	return rec, ev, nil
}

// decodeEvent is rec's event, decoded; nil when the registry does not know
// its type (no projector uses it, but EveryEvent ones).
func decodeEvent(registry *streams.Registry, rec streams.Record) (domain.Event, error) {
	if !registry.Known(rec.Type) {
		return nil, nil
	}
	return registry.Decode(rec.Type, rec.Data)
}

// record is the event msg carries, its data not decoded.
func (tr *tenantRun) record(ctx context.Context, msg *message.Message) (rec streams.Record, err error) {
	rec, err = streams.RecordFromMetadata(msg.UUID, msg.Payload, msg.Metadata.Get, 0)
	if err != nil {
		return rec, permanentError{err}
	}
	if t, err := tenant.From(ctx); err != nil || t != tr.t || rec.Metadata.Tenant != tr.t {
		// Never reached through a source, which reads one tenant's log; kept
		// so a misrouted message can never write into this tenant.
		return rec, permanentError{fmt.Errorf("event %s of tenant %q delivered to %s", rec.ID, rec.Metadata.Tenant, tr.t)}
	}
	if rec.Position == 0 {
		return rec, permanentError{fmt.Errorf("event %s: %w: no position", rec.ID, streams.ErrBadMetadata)}
	}
	return rec, nil
}

// inSavepoint runs fn in a savepoint of the open batch. When fn fails, its
// writes are rolled back, the batch's earlier ones kept, and fn's error is
// returned as failed. err is the failure of a savepoint statement, after
// which the batch cannot be used. Called with tr.mu held and a batch open.
func (tr *tenantRun) inSavepoint(ctx context.Context, fn func(Tx) error) (failed, err error) {
	return inSavepoint(ctx, tr.txc, tr.db.SQL, fn)
}

// inSavepoint runs fn in a savepoint of tx: when fn fails, its writes are
// rolled back (and the memo forgotten), the transaction's earlier ones
// kept, and fn's error returned as failed; err is the failure of a
// savepoint statement, after which tx cannot be used.
func inSavepoint(ctx context.Context, tx *cachedTx, q SQL, fn func(Tx) error) (failed, err error) {
	set, rollback, release := q.Savepoint("ev")
	if _, err := tx.ExecContext(ctx, set); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	if failed = fn(tx); failed != nil {
		tx.forgetAll()
		if _, err := tx.ExecContext(ctx, rollback); err != nil {
			return nil, fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if release != "" {
		if _, err := tx.ExecContext(ctx, release); err != nil {
			return nil, fmt.Errorf("release savepoint: %w", err)
		}
	}
	return failed, nil
}

// everyEvent reports whether p is given every event, of a known type or not.
func everyEvent(p Projector) bool {
	_, ok := p.(EveryEvent)
	return ok
}

// apply runs one projector, turning a panic into an error so that the
// savepoint is rolled back.
func apply(ctx context.Context, p Projector, tx Tx, d Dialect, rec streams.Record, ev domain.Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return p.Apply(ctx, tx, d, rec, ev)
}
