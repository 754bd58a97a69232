package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// A tenant's batch is one transaction of its read database holding the
// events applied since the last commit and, at commit, the projectors'
// checkpoints. Every method here but flush, which the batch timer runs, is
// called with tr.mu held.

// behind returns the projectors whose checkpoint, including the open
// batch, is before pos: those the event at pos is still to be applied to.
func (tr *tenantRun) behind(pos streams.Position) []Projector {
	var todo []Projector
	for _, p := range tr.r.cfg.Projectors {
		if pos > tr.position(p.Name()) {
			todo = append(todo, p)
		}
	}
	return todo
}

// position is the projector's checkpoint including the open batch.
func (tr *tenantRun) position(name string) streams.Position {
	if p, ok := tr.staged[name]; ok {
		return p
	}
	return tr.committed[name]
}

// stage moves the checkpoints of ps to pos in the open batch.
func (tr *tenantRun) stage(ps []Projector, pos streams.Position) {
	for _, p := range ps {
		tr.staged[p.Name()] = pos
	}
}

// advanced counts the event at pos into the open batch and commits when
// due. Called with tr.mu held and a batch open.
//
// After a failed commit, the events of the failed batch are committed one
// per transaction: an event whose commit fails (a deferred constraint, say)
// is then found, and its error returned, so that it is retried and goes to
// the poison queue instead of failing every batch that holds it.
func (tr *tenantRun) advanced(msg *message.Message, pos streams.Position) error {
	tr.batch++
	if pos <= tr.isolate {
		err := tr.commit()
		if errors.Is(err, ErrCheckpointMoved) {
			tr.abort(err) // no fault of the event's
			return nil
		}
		return err
	}
	now := time.Now()
	due := tr.begun.Add(tr.r.cfg.MaxBatchDelay)
	tr.grouping = msg.Metadata.Get(streams.MetaPending) == "0"
	if tr.grouping {
		// Caught up with the source: commit now for whoever waits, else
		// keep the batch open a little for the next events of a trickle.
		due = tr.begun.Add(min(tr.r.cfg.GroupDelay, tr.r.cfg.MaxBatchDelay))
		if tr.waiting > 0 {
			due = now
		}
	}
	if tr.batch >= tr.r.cfg.BatchSize || !now.Before(due) {
		if err := tr.commit(); err != nil {
			tr.abort(err)
		}
		return nil
	}
	tr.flushAt(due)
	return nil
}

// flushAt makes the open batch commit at the latest at due. Called with
// tr.mu held and a batch open.
func (tr *tenantRun) flushAt(due time.Time) {
	if tr.timer != nil {
		if !due.Before(tr.timerAt) {
			return
		}
		tr.timer.Stop()
	}
	gen := tr.gen
	tr.timer, tr.timerAt = time.AfterFunc(time.Until(due), func() { tr.flush(gen) }), due
}

// begin opens the batch transaction when none is open, on a leased pool
// held until the batch ends.
func (tr *tenantRun) begin(ctx context.Context) error {
	if tr.tx != nil {
		return nil
	}
	db, err := tr.r.cfg.Store.Open(ctx)
	if err != nil {
		return fmt.Errorf("open read database: %w", err)
	}
	if tr.stmts == nil || tr.stmts.db != db.DB {
		if tr.stmts != nil {
			tr.stmts.close()
		}
		tr.stmts = newStmtCache(db.DB)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Release()
		return fmt.Errorf("begin batch: %w", err)
	}
	tr.db, tr.tx, tr.txc, tr.staged, tr.batch = db, tx, newCachedTx(tx, tr.stmts), map[string]streams.Position{}, 0
	tr.begun = time.Now()
	return nil
}

// flush commits the open batch of generation gen when its delay is over,
// in the tenant's turn. Called without tr.mu.
func (tr *tenantRun) flush(gen uint64) {
	release, err := tr.turn(context.Background())
	if err != nil {
		return
	}
	defer release()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.gen != gen || tr.stopped {
		return
	}
	tr.timer = nil
	if err := tr.commit(); err != nil {
		tr.abort(err)
	}
}

// commit writes the staged checkpoints and commits the batch, then wakes
// WaitFor callers. On failure the batch is rolled back.
func (tr *tenantRun) commit() error {
	if tr.timer != nil {
		tr.timer.Stop()
		tr.timer = nil
	}
	if tr.tx == nil {
		return nil
	}
	var last streams.Position
	for _, pos := range tr.staged {
		last = max(last, pos)
	}
	if err := tr.writeCheckpoints(); err != nil {
		tr.rollback()
		if !errors.Is(err, ErrCheckpointMoved) {
			tr.isolate = max(tr.isolate, last)
		}
		return err
	}
	err := tr.tx.Commit()
	tr.tx, tr.txc = nil, nil
	tr.db.Release()
	tr.db = DB{}
	if err != nil {
		tr.staged, tr.batch, tr.grouping = nil, 0, false
		tr.isolate = max(tr.isolate, last)
		return fmt.Errorf("commit batch: %w", err)
	}
	for name, pos := range tr.staged {
		tr.committed[name] = pos
	}
	if tr.low(tr.committed) >= tr.head {
		tr.caughtUp = time.Now()
	}
	tr.staged, tr.batch, tr.grouping = nil, 0, false
	tr.commits++
	tr.backoff = tr.r.cfg.ResubscribeDelay
	close(tr.progress)
	tr.progress = make(chan struct{})
	return nil
}

// rollback ends the open batch, if any, without a trace.
func (tr *tenantRun) rollback() {
	if tr.timer != nil {
		tr.timer.Stop()
		tr.timer = nil
	}
	if tr.tx != nil {
		_ = tr.tx.Rollback()
		tr.tx, tr.txc = nil, nil
		tr.db.Release()
		tr.db = DB{}
	}
	tr.staged, tr.batch, tr.grouping = nil, 0, false
}

// abort rolls the open batch back and resumes the subscription from the
// committed checkpoint, so the batch's events are applied again. Messages
// of the current subscription still in flight are ignored from now on.
// Called with tr.mu held.
func (tr *tenantRun) abort(cause error) {
	if errors.Is(cause, ErrCheckpointMoved) {
		tr.log.Warn("another writer advanced the tenant's checkpoint: projection batch rolled back; resuming from the database's checkpoint", "err", cause)
	} else {
		tr.log.Error("projection batch rolled back; resuming from the checkpoint", "err", cause)
	}
	tr.rollback()
	if !tr.stopped {
		tr.restart()
	}
}

// ErrCheckpointMoved is returned by a batch's commit when a projector's
// checkpoint in the read database is no longer where the batch started
// from: another runner (another instance projecting the same tenant into
// the same database) committed first. The batch is rolled back and the run
// resumes from the database's checkpoints, so nothing is applied twice.
var ErrCheckpointMoved = errors.New("projections: checkpoint moved by another writer")

// The checkpoint fence, the same statements in every dialect. A projector
// whose row the run knows is advanced from the committed position the batch
// started from, and only from it: CheckpointAdvance (arguments: the new
// position, the time as SQL.Time gives it, the projector, the committed
// position) must change exactly one row. One without a row is inserted by
// CheckpointInsert (the projector, the position, the time): a row inserted
// meanwhile by another writer fails it on its key. A read store's
// transactions must make the second of two concurrent advances from one
// position change no row (or fail), and the second of two inserts fail;
// projections/readstoretest checks it.
const (
	CheckpointAdvance = `UPDATE projection_checkpoint SET position = ?, updated_at = ? WHERE projector = ? AND position = ?`
	CheckpointInsert  = `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)`
)

// writeCheckpoints writes the staged checkpoints in the open batch, each
// fenced on the committed one: it fails with ErrCheckpointMoved when
// another writer moved a checkpoint since the run read it.
func (tr *tenantRun) writeCheckpoints() error {
	ctx := tenant.With(context.Background(), tr.t)
	now := tr.db.SQL.Time(time.Now())
	for name, pos := range tr.staged {
		from, known := tr.committed[name]
		if !known {
			if _, err := tr.txc.ExecContext(ctx, CheckpointInsert, name, int64(pos), now); err != nil {
				// Most likely another writer's row, on its key; whatever
				// the cause, the run resumes from the database.
				return fmt.Errorf("%w: %s: insert at %d: %w", ErrCheckpointMoved, name, pos, err)
			}
			continue
		}
		res, err := tr.txc.ExecContext(ctx, CheckpointAdvance, int64(pos), now, name, int64(from))
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", name, err)
		}
		if n != 1 {
			return fmt.Errorf("%w: %s is no longer at %d", ErrCheckpointMoved, name, from)
		}
	}
	return nil
}
