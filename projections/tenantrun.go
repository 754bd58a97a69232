package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// tenantRun is one tenant's projection: its subscription, its open batch
// transaction, its committed checkpoints, and waiters for them.
type tenantRun struct {
	r      *Runner
	t      tenant.ID
	log    *slog.Logger
	poison message.HandlerMiddleware
	retry  message.HandlerMiddleware

	mu        sync.Mutex // guards everything below; never held while subscribing
	gen       uint64     // the current subscription; messages of older ones are ignored
	handler   *handler
	stopped   bool
	backoff   time.Duration
	resub     *time.Timer
	db        DB // leased while a batch is open
	stmts     *stmtCache
	tx        *sql.Tx
	txc       *cachedTx // tx with its bound statements
	batch     int
	begun     time.Time // when the open batch began
	timer     *time.Timer
	timerAt   time.Time                   // when timer fires
	grouping  bool                        // the open batch caught up with the source and waits for more
	waiting   int                         // WaitFor callers waiting for a commit
	commits   uint64                      // batches committed
	committed map[string]streams.Position // per projector, in the database
	staged    map[string]streams.Position // per projector, in the open batch
	isolate   streams.Position            // events up to here commit one by one (after a failed commit)
	progress  chan struct{}               // closed and replaced on every commit

	// What Status reports.
	subscribed bool             // the current generation's source subscription is up
	since      time.Time        // when subscribed last changed
	upAt       time.Time        // when the current subscription came up
	lost       bool             // the subscription ended on its own and is not back: logged once, its return too
	failing    bool             // the last attempt to resubscribe failed: the next failures are not logged
	head       streams.Position // the furthest position the source reported the log to reach
	caughtUp   time.Time        // the last commit that reached head (or the start)
}

// newTenantRun returns t's run, not yet subscribed.
func newTenantRun(r *Runner, t tenant.ID) (*tenantRun, error) {
	poison, err := poisonQueue(r.cfg.Poison, t)
	if err != nil {
		return nil, err
	}
	return &tenantRun{
		r: r, t: t, log: r.cfg.Logger.With("tenant", string(t)),
		poison:    poison,
		retry:     retries(r.cfg.Retries),
		backoff:   r.cfg.ResubscribeDelay,
		committed: map[string]streams.Position{},
		progress:  make(chan struct{}),
		since:     time.Now(),
		caughtUp:  time.Now(),
	}, nil
}

// halt commits the open batch and stops the subscription, without waiting
// for its handler to end.
func (tr *tenantRun) halt(context.Context) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped {
		return nil
	}
	err := tr.commit()
	if err != nil {
		tr.rollback()
	}
	tr.stopped = true
	close(tr.progress) // waiters look again: the tenant is no longer this run
	if tr.resub != nil {
		tr.resub.Stop()
	}
	if tr.handler != nil {
		tr.handler.Stop()
	}
	if tr.stmts != nil {
		tr.stmts.close()
		tr.stmts = nil
	}
	return err
}

// stop halts the tenant and waits for its handler to end, or for ctx.
func (tr *tenantRun) stop(ctx context.Context) error {
	tr.mu.Lock()
	h := tr.handler
	tr.mu.Unlock()
	err := tr.halt(ctx)
	if h != nil {
		select {
		case <-h.Stopped():
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("stop projections of %s: %w", tr.t, ctx.Err()))
		}
	}
	return err
}
