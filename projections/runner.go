package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Source delivers a tenant's events as watermill messages: UUID = event id,
// payload = event data, metadata = the streams bus keys including
// Atrium-Position and, when known, Atrium-Pending. Messages come in position
// order, starting after the given position; the next message is delivered
// only once the previous one is acknowledged, and a nacked message is
// delivered again before any later one. The tenant comes from ctx; the
// channel is closed when ctx ends or the subscription fails.
type Source interface {
	Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error)
}

// Scheduler shares the process's work between tenants: Acquire returns
// once the tenant may run a piece of work, with the function that ends it,
// or ctx's error. A tenant's projection takes a turn for each event it
// applies and each batch it commits, alongside its requests, so a tenant
// at saturation does not keep more CPUs busy than its share.
type Scheduler interface {
	Acquire(ctx context.Context, t tenant.ID) (release func(), err error)
}

// Migrator reports a tenant's schema version for a read model: the version
// its database is at, and the latest version the read model has. The tenant
// comes from ctx.
type Migrator interface {
	SchemaStatus(ctx context.Context, p Projector) (current, latest int64, err error)
}

// ErrSchemaBehind is returned by Start for a tenant whose read database is
// not migrated to its projectors' latest version: it is not projected into
// until it is.
var ErrSchemaBehind = errors.New("projections: read database schema is behind")

// ErrClosed is returned by Start once the runner is closed.
var ErrClosed = errors.New("projections: runner closed")

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Store ReadStore
	// Migrator reports schema versions for Start's gate; default: Store,
	// when it implements Migrator.
	Migrator   Migrator
	Registry   *streams.Registry
	Source     Source
	Projectors []Projector
	// Scheduler, when set, gives each piece of a tenant's projection work
	// its turn; default none (every tenant's projection runs when it can).
	Scheduler Scheduler
	// Poison receives, on topic "poison.<tenant>", the events that failed
	// after retries (or that can never succeed: metadata or data that does
	// not decode), so the tenant's other events keep flowing.
	Poison message.Publisher
	Logger *slog.Logger
	// WatermillLogger receives the router's own logs; default: none.
	WatermillLogger watermill.LoggerAdapter
	// BatchSize commits a batch after this many events; default 500.
	BatchSize int
	// MaxBatchDelay commits an open batch at the latest after this long;
	// default 50ms. A batch also commits as soon as the source reports that
	// nothing more is pending.
	MaxBatchDelay time.Duration
	// Retries of a failing event before it goes to the poison queue; default 3.
	Retries int
	// ResubscribeDelay is the first pause before a tenant's subscription
	// that ended (source failure, failed commit) resumes from the committed
	// checkpoint; it doubles on each failure in a row, up to 5 s. Default
	// 100ms.
	ResubscribeDelay time.Duration
}

func (c *RunnerConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WatermillLogger == nil {
		c.WatermillLogger = watermill.NopLogger{}
	}
	if c.Migrator == nil {
		c.Migrator, _ = c.Store.(Migrator)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.MaxBatchDelay == 0 {
		c.MaxBatchDelay = 50 * time.Millisecond
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.ResubscribeDelay == 0 {
		c.ResubscribeDelay = 100 * time.Millisecond
	}
}

// Validate reports every problem of c.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("runner: no read store"))
	}
	if c.Migrator == nil {
		errs = append(errs, errors.New("runner: no migrator (the read store does not report schema versions)"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("runner: no registry"))
	}
	if c.Source == nil {
		errs = append(errs, errors.New("runner: no source"))
	}
	if c.Poison == nil {
		errs = append(errs, errors.New("runner: no poison publisher"))
	}
	if len(c.Projectors) == 0 {
		errs = append(errs, errors.New("runner: no projectors"))
	}
	seen := map[string]bool{CheckpointName: true}
	for i, p := range c.Projectors {
		if p == nil {
			errs = append(errs, fmt.Errorf("runner: projector %d is nil", i))
			continue
		}
		if seen[p.Name()] {
			errs = append(errs, fmt.Errorf("runner: projector name %q used twice or reserved", p.Name()))
		}
		seen[p.Name()] = true
	}
	if c.BatchSize < 0 || c.MaxBatchDelay < 0 || c.Retries < 0 || c.ResubscribeDelay < 0 {
		errs = append(errs, errors.New("runner: negative batch size, delay, retries or resubscribe delay"))
	}
	return errors.Join(errs...)
}

// Runner projects tenants' events into their read databases.
//
// One watermill router serves the process; each projected tenant has its
// own handler on it, with its own subscription, its own open batch and its
// own poison topic, so one tenant's failure or backlog never holds another's.
// Every event is applied by each projector inside a savepoint of the
// tenant's batch transaction; the batch commits with the projectors'
// checkpoints, so redelivery is harmless, and only then are WaitFor callers
// woken.
type Runner struct {
	cfg   RunnerConfig
	gate  []Projector // the checkpoint table, then the projectors
	names atomic.Uint64

	mu           sync.Mutex
	tenants      map[tenant.ID]*tenantRun
	router       *message.Router
	routerCtx    context.Context
	routerCancel context.CancelFunc
	routerDone   chan struct{}
	started      chan struct{} // closed and replaced when a tenant starts
	closed       bool
}

// NewRunner returns a runner; Start begins projecting a tenant.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{
		cfg:     cfg,
		gate:    append([]Projector{Checkpoints()}, cfg.Projectors...),
		tenants: map[tenant.ID]*tenantRun{},
		started: make(chan struct{}),
	}, nil
}

// startRouter starts the process's router, once. Called with r.mu held.
func (r *Runner) startRouter() error {
	if r.router != nil {
		return nil
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, r.cfg.WatermillLogger)
	if err != nil {
		return fmt.Errorf("projections router: %w", err)
	}
	router.AddMiddleware(restoreContext)
	// A router stops when its last handler does; this one lasts as long as
	// the runner, so stopping the last tenant does not stop the router.
	router.AddConsumerHandler("projections.idle", "", idleSubscriber{}, func(*message.Message) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		defer close(done)
		runErr <- router.Run(ctx)
	}()
	select {
	case <-router.Running():
	case err := <-runErr:
		cancel()
		return fmt.Errorf("projections router: %w", err)
	}
	r.router, r.routerCtx, r.routerCancel, r.routerDone = router, ctx, cancel, done
	return nil
}

// idleSubscriber delivers nothing until its subscription ends.
type idleSubscriber struct{}

func (idleSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func (idleSubscriber) Close() error { return nil }

// restoreContext puts into the handler's context the tenant and the
// correlation id the message carries, as watermill's correlation middleware
// does for its own id. The event is the cause of whatever its projection
// does.
func restoreContext(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		if t, err := tenant.Parse(msg.Metadata.Get(streams.MetaTenant)); err == nil {
			ctx = tenant.With(ctx, t)
		}
		ctx = streams.WithCorrelation(ctx, msg.Metadata.Get(streams.MetaCorrelationID), msg.UUID)
		msg.SetContext(ctx)
		return h(msg)
	}
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
	for _, p := range r.gate {
		cur, latest, err := r.cfg.Migrator.SchemaStatus(ctx, p)
		if err != nil {
			r.cfg.Logger.Error("tenant not projected: schema status", "tenant", string(t), "read_model", p.Name(), "err", err)
			return fmt.Errorf("start projections of %s: %w", t, err)
		}
		if cur < latest {
			r.cfg.Logger.Warn("tenant not projected: read database schema behind", "tenant", string(t),
				"read_model", p.Name(), "version", cur, "latest", latest)
			return fmt.Errorf("%w: %s: %s at version %d of %d", ErrSchemaBehind, t, p.Name(), cur, latest)
		}
	}
	poison, err := middleware.PoisonQueueWithFilter(r.cfg.Poison, "poison."+string(t), poisonable)
	if err != nil {
		return fmt.Errorf("start projections of %s: %w", t, err)
	}
	tr := &tenantRun{
		r: r, t: t, log: r.cfg.Logger.With("tenant", string(t)),
		poison: poison,
		retry: middleware.Retry{
			MaxRetries: r.cfg.Retries, InitialInterval: 10 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2,
			ShouldRetry: func(p middleware.RetryParams) bool { return retryable(p.Err) },
		},
		backoff:   r.cfg.ResubscribeDelay,
		committed: map[string]streams.Position{},
		progress:  make(chan struct{}),
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if _, ok := r.tenants[t]; ok {
		r.mu.Unlock()
		return nil
	}
	if err := r.startRouter(); err != nil {
		r.mu.Unlock()
		return err
	}
	r.tenants[t] = tr
	tr.gen = 1
	close(r.started)
	r.started = make(chan struct{})
	r.mu.Unlock()

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

// Close stops every tenant, committing open batches, then the router.
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
	router, cancel, done := r.router, r.routerCancel, r.routerDone
	r.mu.Unlock()
	var errs []error
	for _, tr := range runs {
		errs = append(errs, tr.halt(tenant.With(context.Background(), tr.t)))
	}
	if router != nil {
		errs = append(errs, router.Close())
		cancel()
		<-done
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

// Position returns how far every projector of the ctx tenant has committed:
// the lowest of their checkpoints. For a tenant this runner does not
// project, it is read from the tenant's read database.
func (r *Runner) Position(ctx context.Context) (streams.Position, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, err
	}
	if tr, _ := r.running(t); tr != nil {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.low(tr.committed), nil
	}
	cps, err := readCheckpoints(ctx, r.cfg.Store)
	if err != nil {
		return 0, err
	}
	return low(r.cfg.Projectors, cps), nil
}

// WaitFor returns once every projector of the ctx tenant has committed pos
// or beyond, or ErrLagging when ctx ends first. It is woken by commits, never
// polls, and keeps waiting across a stop and start of the tenant; for a
// tenant not projected it answers from the read database when that is far
// enough already.
func (r *Runner) WaitFor(ctx context.Context, pos streams.Position) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	for {
		// Looked up on every wake-up: a tenant stopped and started again
		// is another run.
		tr, started := r.running(t)
		if tr == nil {
			// Not projected here (yet, or any more): the database may be far
			// enough already; else wait for a start.
			at, err := r.Position(ctx)
			if err != nil {
				return err
			}
			if at >= pos {
				return nil
			}
			select {
			case <-started:
				continue
			case <-ctx.Done():
				return fmt.Errorf("%w: %s is not projected, at %d, waiting for %d", ErrLagging, t, at, pos)
			}
		}
		tr.mu.Lock()
		at, progress := tr.low(tr.committed), tr.progress
		tr.mu.Unlock()
		if at >= pos {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s at %d, waiting for %d", ErrLagging, t, at, pos)
		}
	}
}

// ParsePosition parses a position given by a client.
func ParsePosition(s string) (streams.Position, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("position %q: %w", s, err)
	}
	return streams.Position(n), nil
}

func readCheckpoints(ctx context.Context, rs ReadStore) (map[string]streams.Position, error) {
	db, err := rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, `SELECT projector, position FROM projection_checkpoint`)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]streams.Position{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		out[name] = streams.Position(pos)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return out, nil
}

// low is the lowest checkpoint of ps in cps (0 for a projector without one).
func low(ps []Projector, cps map[string]streams.Position) streams.Position {
	var out streams.Position
	for i, p := range ps {
		if c := cps[p.Name()]; i == 0 || c < out {
			out = c
		}
	}
	return out
}

// permanentError marks a message that can never be applied, however often
// it is retried: it goes to the poison queue at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var p permanentError
	return !errors.As(err, &p) && !errors.Is(err, context.Canceled)
}

// poisonable reports whether a failed message belongs in the poison queue:
// not when its subscription was merely ending.
func poisonable(err error) bool {
	return !errors.Is(err, context.Canceled)
}

// tenantRun is one tenant's projection: its subscription, its open batch
// transaction, its committed checkpoints, and waiters for them.
type tenantRun struct {
	r      *Runner
	t      tenant.ID
	log    *slog.Logger
	poison message.HandlerMiddleware
	retry  middleware.Retry

	mu        sync.Mutex // guards everything below; never held while calling into the router
	gen       uint64     // the current subscription; messages of older ones are ignored
	handler   *message.Handler
	stopped   bool
	backoff   time.Duration
	resub     *time.Timer
	db        DB // leased while a batch is open
	stmts     *stmtCache
	tx        *sql.Tx
	txc       *cachedTx // tx with its bound statements
	batch     int
	timer     *time.Timer
	committed map[string]streams.Position // per projector, in the database
	staged    map[string]streams.Position // per projector, in the open batch
	isolate   streams.Position            // events up to here commit one by one (after a failed commit)
	progress  chan struct{}               // closed and replaced on every commit
}

// subscription is the watermill subscriber of one generation of a tenant's
// subscription: on Subscribe it reads the tenant's committed checkpoints
// (the truth; the source's acknowledgements only pace delivery) and
// subscribes the source from the lowest.
type subscription struct {
	tr     *tenantRun
	gen    uint64
	result chan error // the outcome of Subscribe, once
}

func (s *subscription) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	ch, err := s.tr.open(tenant.With(ctx, s.tr.t), s.gen)
	s.result <- err
	if err != nil {
		// A failed subscription is a handler that ends at once; the runner
		// resumes it. Failing here would fail the router's other handlers.
		closed := make(chan *message.Message)
		close(closed)
		return closed, nil //nolint:nilerr // reported through s.result; see above
	}
	return ch, nil
}

func (*subscription) Close() error { return nil }

func (tr *tenantRun) open(ctx context.Context, gen uint64) (<-chan *message.Message, error) {
	cps, err := readCheckpoints(ctx, tr.r.cfg.Store)
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	if tr.stopped || tr.gen != gen {
		tr.mu.Unlock()
		return nil, errors.New("subscription replaced")
	}
	tr.committed = cps
	after := tr.low(cps)
	tr.mu.Unlock()
	return tr.r.cfg.Source.Subscribe(ctx, after)
}

func (tr *tenantRun) low(cps map[string]streams.Position) streams.Position {
	return low(tr.r.cfg.Projectors, cps)
}

// subscribe adds and runs the handler of generation gen. Called without
// tr.mu.
func (tr *tenantRun) subscribe(gen uint64) error {
	r := tr.r
	r.mu.Lock()
	router, ctx, closed := r.router, r.routerCtx, r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	sub := &subscription{tr: tr, gen: gen, result: make(chan error, 1)}
	name := fmt.Sprintf("projections.%s.%d", tr.t, r.names.Add(1))
	h := router.AddConsumerHandler(name, string(tr.t), sub, tr.handlerFunc(gen))
	if err := router.RunHandlers(ctx); err != nil {
		return err
	}
	// RunHandlers has subscribed every handler added before it took the
	// router's lock, ours included.
	var err error
	select {
	case err = <-sub.result:
	default:
		err = errors.New("handler not started")
	}
	tr.mu.Lock()
	current := !tr.stopped && tr.gen == gen
	if current {
		tr.handler = h
	}
	tr.mu.Unlock()
	if !current {
		h.Stop()
		return nil
	}
	go tr.watch(h, gen)
	return err
}

// watch resumes the subscription when its handler ends while still the
// current one: the source failed or closed.
func (tr *tenantRun) watch(h *message.Handler, gen uint64) {
	<-h.Stopped()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped || tr.gen != gen {
		return
	}
	tr.log.Warn("projection subscription ended; resuming from the checkpoint", "delay", tr.backoff)
	if tr.tx != nil {
		// The open batch holds events applied in order: keep them.
		if err := tr.commit(); err != nil {
			tr.log.Error("projection batch commit failed", "err", err)
			tr.rollback()
		}
	}
	tr.restart()
}

// restart ends the current subscription and starts another one from the
// committed checkpoint after a pause. Called with tr.mu held, no batch open.
func (tr *tenantRun) restart() {
	tr.gen++
	gen := tr.gen
	if tr.handler != nil {
		tr.handler.Stop()
		tr.handler = nil
	}
	delay := tr.backoff
	tr.backoff = min(2*tr.backoff, 5*time.Second)
	if tr.resub != nil {
		tr.resub.Stop()
	}
	tr.resub = time.AfterFunc(delay, func() {
		if err := tr.subscribe(gen); err != nil && !errors.Is(err, ErrClosed) {
			tr.log.Error("projection resubscribe failed", "err", err)
		}
	})
}

// handlerFunc is the tenant's handler for generation gen: the event goes
// through retries, then to the tenant's poison queue if it still fails.
func (tr *tenantRun) handlerFunc(gen uint64) message.NoPublishHandlerFunc {
	chain := tr.poison(tr.retry.Middleware(func(msg *message.Message) ([]*message.Message, error) {
		return nil, tr.handle(gen, msg)
	}))
	return func(msg *message.Message) error {
		already := msg.Metadata.Get(middleware.ReasonForPoisonedKey) != ""
		_, err := chain(msg)
		if err == nil && !already && msg.Metadata.Get(middleware.ReasonForPoisonedKey) != "" {
			tr.poisoned(gen, msg)
		}
		return err
	}
}

// handle applies one event to every projector that has not yet, inside a
// savepoint of the open batch, and commits the batch when it is full or the
// source has nothing more pending (else a timer does).
func (tr *tenantRun) handle(gen uint64, msg *message.Message) error {
	// The batch outlives the subscription that delivered the message: its
	// statements must not fail because that subscription ends.
	ctx := context.WithoutCancel(msg.Context())
	rec, err := streams.RecordFromMetadata(msg.UUID, msg.Payload, msg.Metadata.Get, 0)
	if err != nil {
		return permanentError{err}
	}
	if t, err := tenant.From(ctx); err != nil || t != tr.t || rec.Metadata.Tenant != tr.t {
		// Never reached through a source, which reads one tenant's log; kept
		// so a misrouted message can never write into this tenant.
		return permanentError{fmt.Errorf("event %s of tenant %q delivered to %s", rec.ID, rec.Metadata.Tenant, tr.t)}
	}
	if rec.Position == 0 {
		return permanentError{fmt.Errorf("event %s: %w: no position", rec.ID, streams.ErrBadMetadata)}
	}
	var ev domain.Event
	if tr.r.cfg.Registry.Known(rec.Type) {
		// An unknown type is no error: no projector uses it; the
		// checkpoints move past it.
		if ev, err = tr.r.cfg.Registry.Decode(rec.Type, rec.Data); err != nil {
			return permanentError{err}
		}
	}

	release, err := tr.turn(msg.Context())
	if err != nil {
		return err
	}
	defer release()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped || tr.gen != gen {
		return nil // of a subscription that ended: the current one delivers it again
	}
	var todo []Projector
	for _, p := range tr.r.cfg.Projectors {
		if rec.Position > tr.position(p.Name()) {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return nil // redelivered: changes nothing
	}
	if err := tr.begin(ctx); err != nil {
		tr.abort(err)
		return nil
	}
	tx := tr.txc
	sp := savepoints[tr.db.Dialect]
	if _, err := tx.ExecContext(ctx, sp.begin); err != nil {
		tr.abort(fmt.Errorf("savepoint: %w", err))
		return nil
	}
	if ev != nil {
		for _, p := range todo {
			if err := apply(ctx, p, tx, tr.db.Dialect, rec, ev); err != nil {
				if _, rbErr := tx.ExecContext(ctx, sp.rollback); rbErr != nil {
					tr.abort(fmt.Errorf("rollback to savepoint: %w", rbErr))
					return nil
				}
				if sp.release != "" {
					if _, rbErr := tx.ExecContext(ctx, sp.release); rbErr != nil {
						tr.abort(fmt.Errorf("release savepoint: %w", rbErr))
						return nil
					}
				}
				return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
			}
		}
	}
	if sp.release != "" {
		if _, err := tx.ExecContext(ctx, sp.release); err != nil {
			tr.abort(fmt.Errorf("release savepoint: %w", err))
			return nil
		}
	}
	for _, p := range todo {
		tr.staged[p.Name()] = rec.Position
	}
	return tr.advanced(msg, rec.Position)
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

// poisoned moves the checkpoints past an event the poison queue took, so
// that waiting for its position ends.
func (tr *tenantRun) poisoned(gen uint64, msg *message.Message) {
	reason := msg.Metadata.Get(middleware.ReasonForPoisonedKey)
	corr, _ := streams.Correlation(msg.Context())
	n, err := strconv.ParseUint(msg.Metadata.Get(streams.MetaPosition), 10, 64)
	tr.log.Error("event sent to the poison queue", "topic", "poison."+string(tr.t), "event_id", msg.UUID,
		"position", msg.Metadata.Get(streams.MetaPosition), "type", msg.Metadata.Get(streams.MetaType),
		"correlation_id", corr, "reason", reason)
	if err != nil || n == 0 {
		return
	}
	pos := streams.Position(n)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped || tr.gen != gen {
		return
	}
	var todo []string
	for _, p := range tr.r.cfg.Projectors {
		if pos > tr.position(p.Name()) {
			todo = append(todo, p.Name())
		}
	}
	if len(todo) == 0 {
		return
	}
	if err := tr.begin(msg.Context()); err != nil {
		tr.abort(err)
		return
	}
	for _, name := range todo {
		tr.staged[name] = pos
	}
	if err := tr.advanced(msg, pos); err != nil {
		tr.abort(err)
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
		return tr.commit()
	}
	if tr.batch >= tr.r.cfg.BatchSize || msg.Metadata.Get(streams.MetaPending) == "0" {
		if err := tr.commit(); err != nil {
			tr.abort(err)
		}
		return nil
	}
	if tr.timer == nil {
		gen := tr.gen
		tr.timer = time.AfterFunc(tr.r.cfg.MaxBatchDelay, func() { tr.flush(gen) })
	}
	return nil
}

// position is the projector's checkpoint including the open batch.
func (tr *tenantRun) position(name string) streams.Position {
	if p, ok := tr.staged[name]; ok {
		return p
	}
	return tr.committed[name]
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
	return nil
}

// turn waits for the tenant's turn to work, when the runner has a
// scheduler.
func (tr *tenantRun) turn(ctx context.Context) (func(), error) {
	if tr.r.cfg.Scheduler == nil {
		return func() {}, nil
	}
	return tr.r.cfg.Scheduler.Acquire(tenant.With(ctx, tr.t), tr.t)
}

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
	ctx := tenant.With(context.Background(), tr.t)
	tx := tr.txc
	now := checkpointTime(tr.db.Dialect, time.Now())
	var last streams.Position
	for _, pos := range tr.staged {
		last = max(last, pos)
	}
	for name, pos := range tr.staged {
		if _, err := tx.ExecContext(ctx, upsertCheckpoint(tr.db.Dialect), name, int64(pos), now); err != nil {
			tr.rollback()
			tr.isolate = max(tr.isolate, last)
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	err := tr.tx.Commit()
	tr.tx, tr.txc = nil, nil
	tr.db.Release()
	tr.db = DB{}
	if err != nil {
		tr.staged, tr.batch = nil, 0
		tr.isolate = max(tr.isolate, last)
		return fmt.Errorf("commit batch: %w", err)
	}
	for name, pos := range tr.staged {
		tr.committed[name] = pos
	}
	tr.staged, tr.batch = nil, 0
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
	tr.staged, tr.batch = nil, 0
}

// abort rolls the open batch back and resumes the subscription from the
// committed checkpoint, so the batch's events are applied again. Messages
// of the current subscription still in flight are ignored from now on.
// Called with tr.mu held.
func (tr *tenantRun) abort(cause error) {
	tr.log.Error("projection batch rolled back; resuming from the checkpoint", "err", cause)
	tr.rollback()
	if !tr.stopped {
		tr.restart()
	}
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

type savepointSQL struct{ begin, rollback, release string }

var savepoints = map[Dialect]savepointSQL{
	SQLite:    {"SAVEPOINT ev", "ROLLBACK TO ev", "RELEASE ev"},
	SQLServer: {"SAVE TRANSACTION ev", "ROLLBACK TRANSACTION ev", ""},
}

func checkpointTime(d Dialect, t time.Time) any {
	if d == SQLServer {
		return t.UTC()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func upsertCheckpoint(d Dialect) string {
	if d == SQLServer {
		return `MERGE projection_checkpoint AS t USING (SELECT ? AS projector, ? AS position, ? AS updated_at) AS s
ON t.projector = s.projector
WHEN MATCHED THEN UPDATE SET position = s.position, updated_at = s.updated_at
WHEN NOT MATCHED THEN INSERT (projector, position, updated_at) VALUES (s.projector, s.position, s.updated_at);`
	}
	return `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)
ON CONFLICT (projector) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
}
