package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// ErrClosed is returned by Start once the runner is closed.
var ErrClosed = errors.New("projections: runner closed")

// Runner projects tenants' events into their read databases.
//
// Each projected tenant has its own handler (router.go), with its own
// subscription, its own open batch and its own poison topic, so one
// tenant's failure or backlog never holds another's. Every event is applied
// by each projector in the tenant's batch transaction; the batch commits
// with the projectors' checkpoints, so redelivery is harmless, and only
// then are WaitFor callers woken.
//
// Start, Stop, Close, Position and WaitFor are safe for concurrent use.
type Runner struct {
	cfg  RunnerConfig
	gate []Projector // the checkpoint table, then the projectors

	ctx      context.Context // the handlers'; canceled by Close
	cancel   context.CancelFunc
	handlers sync.WaitGroup

	mu      sync.Mutex
	tenants map[tenant.ID]*tenantRun
	started chan struct{} // closed and replaced when a tenant starts
	closed  bool
}

// NewRunner returns a runner; Start begins projecting a tenant.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		gate:    append([]Projector{Checkpoints()}, cfg.Projectors...),
		tenants: map[tenant.ID]*tenantRun{},
		started: make(chan struct{}),
	}, nil
}

// Start begins projecting the ctx tenant from its committed checkpoint;
// starting a tenant already projected does nothing. A tenant whose read
// database is behind the latest migration of the checkpoint table or of any
// projector is refused with ErrSchemaBehind; so is one whose first
// subscription fails, with the source's error. Later failures of the
// subscription are retried from the committed checkpoint.
func (r *Runner) Start(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	_, running := r.tenants[t]
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if running {
		return nil
	}
	if err := r.schemaReady(ctx, t); err != nil {
		return err
	}
	tr, err := newTenantRun(r, t)
	if err != nil {
		return fmt.Errorf("start projections of %s: %w", t, err)
	}
	if added, err := r.add(tr); !added || err != nil {
		return err
	}
	if err := tr.subscribe(1); err != nil {
		r.mu.Lock()
		if r.tenants[t] == tr {
			delete(r.tenants, t)
		}
		r.mu.Unlock()
		_ = tr.stop(ctx)
		r.cfg.Logger.Error("tenant not projected: subscription failed", "tenant", string(t), "err", err)
		return fmt.Errorf("start projections of %s: %w", t, err)
	}
	return nil
}

// add makes tr its tenant's run, as generation 1, and wakes WaitFor callers
// waiting for a start. It adds nothing when the tenant already has a run
// (started meanwhile) and fails when the runner is closed.
func (r *Runner) add(tr *tenantRun) (added bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, ErrClosed
	}
	if _, ok := r.tenants[tr.t]; ok {
		return false, nil
	}
	r.tenants[tr.t] = tr
	tr.gen = 1
	close(r.started)
	r.started = make(chan struct{})
	return true, nil
}

// Stop stops projecting the ctx tenant: its open batch is committed, its
// subscription ended. Nothing is written to the tenant's read database by
// the runner once Stop has returned. Stopping a tenant not projected does
// nothing.
func (r *Runner) Stop(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	tr, ok := r.tenants[t]
	delete(r.tenants, t)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return tr.stop(ctx)
}

// Close stops every tenant, committing open batches, and waits a while for
// their handlers to finish the messages in hand.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	runs := make([]*tenantRun, 0, len(r.tenants))
	for _, tr := range r.tenants {
		runs = append(runs, tr)
	}
	clear(r.tenants)
	r.mu.Unlock()
	var errs []error
	for _, tr := range runs {
		errs = append(errs, tr.halt(tenant.With(context.Background(), tr.t)))
	}
	r.cancel()
	done := make(chan struct{})
	go func() {
		r.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(handlersCloseTimeout):
		errs = append(errs, errors.New("projections: handlers still running after the close timeout"))
	}
	return errors.Join(errs...)
}

// running returns t's run, if any, and a channel closed on the next start of
// any tenant.
func (r *Runner) running(t tenant.ID) (*tenantRun, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tenants[t], r.started
}
