package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
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
// only once the previous one is acknowledged. The tenant comes from ctx; the
// subscription ends when ctx does.
type Source interface {
	Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error)
}

// Migrator reports a tenant's schema version for a read model.
type Migrator interface {
	SchemaStatus(ctx context.Context, p Projector) (current, latest int64, err error)
}

// ErrSchemaBehind is returned by Start for a tenant whose read database is
// not migrated to its projectors' latest version: it is not projected into
// until it is.
var ErrSchemaBehind = errors.New("projections: read database schema is behind")

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Store      ReadStore
	Migrator   Migrator
	Registry   *streams.Registry
	Source     Source
	Projectors []Projector
	// Poison receives, on topic "poison.<tenant>", events a projector failed
	// on after retries, so the others keep flowing.
	Poison message.Publisher
	Logger *slog.Logger
	// WatermillLogger receives the routers' own logs; default: none.
	WatermillLogger watermill.LoggerAdapter
	// BatchSize commits a batch after this many events; default 500.
	BatchSize int
	// MaxBatchDelay commits an open batch at the latest after this long;
	// default 50ms. A batch also commits as soon as the source reports that
	// nothing more is pending.
	MaxBatchDelay time.Duration
	// Retries of a failing event before it goes to the poison queue; default 3.
	Retries int
}

func (c *RunnerConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WatermillLogger == nil {
		c.WatermillLogger = watermill.NopLogger{}
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
}

// Validate reports every problem of c.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("runner: no read store"))
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
	seen := map[string]bool{}
	for _, p := range c.Projectors {
		if seen[p.Name()] {
			errs = append(errs, fmt.Errorf("runner: projector %q twice", p.Name()))
		}
		seen[p.Name()] = true
	}
	if c.BatchSize < 0 || c.MaxBatchDelay < 0 || c.Retries < 0 {
		errs = append(errs, errors.New("runner: negative batch size, delay or retries"))
	}
	return errors.Join(errs...)
}

// Runner projects tenants' events into their read databases. Each tenant has
// its own watermill router and subscription, so one tenant's failure or
// backlog never holds another's.
type Runner struct {
	cfg RunnerConfig

	mu      sync.Mutex
	tenants map[tenant.ID]*tenantRun
	closed  bool
}

// NewRunner returns a runner; Start begins projecting a tenant.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, tenants: map[tenant.ID]*tenantRun{}}, nil
}

// tenantRun is one tenant's projection: an open batch transaction, the
// committed checkpoints, and waiters for them.
type tenantRun struct {
	r   *Runner
	t   tenant.ID
	log *slog.Logger

	mu         sync.Mutex // guards everything below
	db         DB
	stmts      *stmtCache
	tx         *sql.Tx
	batch      int
	timer      *time.Timer
	committed  map[string]streams.Position // per projector, in the database
	staged     map[string]streams.Position // per projector, in the open transaction
	progress   chan struct{}               // closed and replaced on every commit
	router     *message.Router
	routerDone chan struct{} // closed when router's Run has returned
	cancel     context.CancelFunc
	generation int
	stopped    bool
}

func (r *Runner) run(ctx context.Context) (*tenantRun, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("projections: runner closed")
	}
	if tr, ok := r.tenants[t]; ok {
		return tr, nil
	}
	return nil, nil
}

// Start begins projecting the ctx tenant; starting a tenant already running
// does nothing. A tenant whose schema is behind is refused with
// ErrSchemaBehind.
func (r *Runner) Start(ctx context.Context) error {
	tr, err := r.run(ctx)
	if err != nil || tr != nil {
		return err
	}
	t, _ := tenant.From(ctx)
	if r.cfg.Migrator != nil {
		for _, p := range r.cfg.Projectors {
			cur, latest, err := r.cfg.Migrator.SchemaStatus(ctx, p)
			if err != nil {
				return fmt.Errorf("start %s: %w", t, err)
			}
			if cur < latest {
				r.cfg.Logger.Warn("tenant not projected: schema behind", "tenant", string(t), "read_model", p.Name(), "version", cur, "latest", latest)
				return fmt.Errorf("%w: %s %s at version %d of %d", ErrSchemaBehind, t, p.Name(), cur, latest)
			}
		}
	}
	db, err := r.cfg.Store.Open(ctx)
	if err != nil {
		return fmt.Errorf("start %s: %w", t, err)
	}
	tr = &tenantRun{r: r, t: t, db: db, stmts: newStmtCache(db.DB), log: r.cfg.Logger.With("tenant", string(t)), progress: make(chan struct{})}
	if tr.committed, err = tr.loadCheckpoints(ctx); err != nil {
		return fmt.Errorf("start %s: %w", t, err)
	}
	r.mu.Lock()
	if existing, ok := r.tenants[t]; ok {
		r.mu.Unlock()
		_ = existing
		return nil
	}
	r.tenants[t] = tr
	r.mu.Unlock()
	return tr.subscribe()
}

func (tr *tenantRun) loadCheckpoints(ctx context.Context) (map[string]streams.Position, error) {
	out := map[string]streams.Position{}
	rows, err := tr.db.QueryContext(ctx, `SELECT projector, position FROM projection_checkpoint`)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		out[name] = streams.Position(pos)
	}
	return out, rows.Err()
}

// low is the lowest committed checkpoint over the projectors: where the
// subscription resumes, and how far every projector has come.
func (tr *tenantRun) low() streams.Position {
	first := true
	var low streams.Position
	for _, p := range tr.r.cfg.Projectors {
		c := tr.committed[p.Name()]
		if first || c < low {
			low, first = c, false
		}
	}
	return low
}

// subscribe starts a router whose one handler consumes the tenant's events
// from the committed checkpoint. Called with tr.mu not held.
func (tr *tenantRun) subscribe() error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped {
		return nil
	}
	tr.generation++
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, tr.r.cfg.WatermillLogger)
	if err != nil {
		return err
	}
	poison, err := middleware.PoisonQueue(tr.r.cfg.Poison, "poison."+string(tr.t))
	if err != nil {
		return err
	}
	router.AddMiddleware(
		tr.restoreContext,
		poison,
		middleware.Retry{MaxRetries: tr.r.cfg.Retries, InitialInterval: 10 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2}.Middleware,
	)
	router.AddConsumerHandler(fmt.Sprintf("projections.%s.%d", tr.t, tr.generation), string(tr.t),
		sourceSubscriber{tr: tr, after: tr.low()}, tr.handle)
	ctx, cancel := context.WithCancel(tenant.With(context.Background(), tr.t))
	done := make(chan struct{})
	tr.router, tr.routerDone, tr.cancel = router, done, cancel
	go func() {
		err := router.Run(ctx)
		close(done)
		if err != nil && ctx.Err() == nil {
			tr.log.Error("projection router stopped", "err", err)
		}
		// A router that stops while still the tenant's current one lost its
		// subscription (the source failed): resume from the checkpoint.
		tr.mu.Lock()
		current := !tr.stopped && tr.router == router
		if current {
			tr.router = nil
		}
		tr.mu.Unlock()
		if current {
			cancel()
			tr.log.Warn("projection subscription ended; resuming from the checkpoint")
			time.AfterFunc(time.Second, func() {
				if err := tr.subscribe(); err != nil {
					tr.log.Error("projection resubscribe failed", "err", err)
				}
			})
		}
	}()
	return nil
}

// sourceSubscriber adapts Source to watermill's Subscriber for one tenant.
type sourceSubscriber struct {
	tr    *tenantRun
	after streams.Position
}

func (s sourceSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	return s.tr.r.cfg.Source.Subscribe(tenant.With(ctx, s.tr.t), s.after)
}

func (sourceSubscriber) Close() error { return nil }

// restoreContext puts the tenant and the correlation id of the message into
// the handler's context, as watermill's correlation middleware does for its
// own id.
func (tr *tenantRun) restoreContext(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := tenant.With(msg.Context(), tr.t)
		// The event is the cause of whatever its projection does.
		ctx = streams.WithCorrelation(ctx, msg.Metadata.Get(streams.MetaCorrelationID), msg.UUID)
		msg.SetContext(ctx)
		return h(msg)
	}
}

// handle applies one event to every projector inside a savepoint of the
// open batch transaction, and commits the batch when it is full, when the
// source has nothing more pending, or on a timer.
func (tr *tenantRun) handle(msg *message.Message) error {
	ctx := msg.Context()
	if t, err := tenant.From(ctx); err != nil || t != tr.t {
		return fmt.Errorf("projection of %s got a message for %q", tr.t, t)
	}
	rec, err := streams.RecordFromMetadata(msg.UUID, msg.Payload, msg.Metadata.Get, 0)
	if err != nil {
		return err
	}
	if rec.Metadata.Tenant != tr.t {
		// Never reached through the source, which reads one tenant's stream;
		// kept so a misrouted message can never write into this tenant.
		return fmt.Errorf("event %s of tenant %s delivered to %s", rec.ID, rec.Metadata.Tenant, tr.t)
	}
	var ev domain.Event
	if tr.r.cfg.Registry.Known(rec.Type) {
		if ev, err = tr.r.cfg.Registry.Decode(rec.Type, rec.Data); err != nil {
			return err
		}
	}

	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped {
		return errors.New("projection stopped")
	}
	if err := tr.begin(ctx); err != nil {
		return err
	}
	tx := cachedTx{tx: tr.tx, cache: tr.stmts}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT ev"); err != nil {
		tr.abort(err)
		return err
	}
	applied := map[string]streams.Position{}
	for _, p := range tr.r.cfg.Projectors {
		if rec.Position <= tr.position(p.Name()) {
			continue // already applied: redelivery changes nothing
		}
		if ev != nil {
			if err := p.Apply(ctx, tx, tr.db.Dialect, rec, ev); err != nil {
				if _, rbErr := tr.tx.ExecContext(ctx, "ROLLBACK TO ev"); rbErr != nil {
					tr.abort(rbErr)
				} else if _, rbErr := tr.tx.ExecContext(ctx, "RELEASE ev"); rbErr != nil {
					tr.abort(rbErr)
				}
				corr, _ := streams.Correlation(ctx)
				tr.log.Warn("projector failed on an event", "read_model", p.Name(), "position", uint64(rec.Position),
					"type", rec.Type, "correlation_id", corr, "err", err)
				return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
			}
		}
		applied[p.Name()] = rec.Position
	}
	if _, err := tx.ExecContext(ctx, "RELEASE ev"); err != nil {
		tr.abort(err)
		return err
	}
	for name, pos := range applied {
		tr.staged[name] = pos
	}
	tr.batch++
	pending := msg.Metadata.Get(streams.MetaPending)
	if tr.batch >= tr.r.cfg.BatchSize || pending == "0" {
		return tr.commit(ctx)
	}
	if tr.timer == nil {
		tr.timer = time.AfterFunc(tr.r.cfg.MaxBatchDelay, tr.flush)
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

func (tr *tenantRun) begin(ctx context.Context) error {
	if tr.tx != nil {
		return nil
	}
	tx, err := tr.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("begin batch: %w", err)
	}
	tr.tx, tr.staged, tr.batch = tx, map[string]streams.Position{}, 0
	return nil
}

func (tr *tenantRun) flush() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.timer = nil
	if tr.tx != nil && !tr.stopped {
		if err := tr.commit(tenant.With(context.Background(), tr.t)); err != nil {
			tr.log.Error("projection batch commit failed", "err", err)
		}
	}
}

// commit writes the staged checkpoints and commits the batch. On failure the
// batch is rolled back and the subscription restarts from the committed
// checkpoint, so the events are applied again.
func (tr *tenantRun) commit(ctx context.Context) error {
	if tr.timer != nil {
		tr.timer.Stop()
		tr.timer = nil
	}
	if tr.tx == nil {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for name, pos := range tr.staged {
		if _, err := (cachedTx{tx: tr.tx, cache: tr.stmts}).ExecContext(ctx, upsertCheckpoint(tr.db.Dialect), name, int64(pos), now); err != nil {
			tr.abort(err)
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := tr.tx.Commit(); err != nil {
		tr.tx = nil
		tr.abort(err)
		return fmt.Errorf("commit batch: %w", err)
	}
	for name, pos := range tr.staged {
		tr.committed[name] = pos
	}
	tr.tx, tr.staged, tr.batch = nil, nil, 0
	close(tr.progress)
	tr.progress = make(chan struct{})
	return nil
}

// abort rolls the open batch back and restarts the subscription from the
// committed checkpoint. Called with tr.mu held.
func (tr *tenantRun) abort(cause error) {
	tr.log.Error("projection batch aborted; resuming from the checkpoint", "err", cause)
	if tr.tx != nil {
		_ = tr.tx.Rollback()
	}
	tr.tx, tr.staged, tr.batch = nil, nil, 0
	if tr.stopped {
		return
	}
	old := tr.cancel
	oldRouter, oldDone := tr.router, tr.routerDone
	tr.router = nil // the replacement is this function's to start
	go func() {
		old()
		if oldRouter != nil {
			_ = closeRouter(oldRouter, oldDone)
		}
		if err := tr.subscribe(); err != nil {
			tr.log.Error("projection resubscribe failed", "err", err)
		}
	}()
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

// Stop stops projecting the ctx tenant, committing its open batch.
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

func (tr *tenantRun) stop(ctx context.Context) error {
	tr.mu.Lock()
	var err error
	if tr.tx != nil {
		err = tr.commit(ctx)
	}
	tr.stopped = true
	cancel, router, done := tr.cancel, tr.router, tr.routerDone
	tr.stmts.close()
	tr.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if router != nil {
		err = errors.Join(err, closeRouter(router, done))
	}
	return err
}

// Close stops every tenant.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	runs := make([]*tenantRun, 0, len(r.tenants))
	for _, tr := range r.tenants {
		runs = append(runs, tr)
	}
	clear(r.tenants)
	r.mu.Unlock()
	var errs []error
	for _, tr := range runs {
		errs = append(errs, tr.stop(tenant.With(context.Background(), tr.t)))
	}
	return errors.Join(errs...)
}

// Position returns how far every projector of the ctx tenant has committed.
func (r *Runner) Position(ctx context.Context) (streams.Position, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	tr, ok := r.tenants[t]
	r.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("projections: tenant %s is not projected", t)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.low(), nil
}

// WaitFor returns once every projector of the ctx tenant has committed pos
// or beyond, or ErrLagging when ctx ends first.
func (r *Runner) WaitFor(ctx context.Context, pos streams.Position) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	tr, ok := r.tenants[t]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: tenant %s is not projected", ErrLagging, t)
	}
	for {
		tr.mu.Lock()
		low, progress := tr.low(), tr.progress
		tr.mu.Unlock()
		if low >= pos {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("%w: at %d, waiting for %d", ErrLagging, low, pos)
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

// closeRouter closes a router once it has started: closing one whose Run is
// still starting makes Close wait out its whole timeout. A router whose Run
// already returned (it failed to subscribe) has nothing to close.
func closeRouter(r *message.Router, done <-chan struct{}) error {
	select {
	case <-r.Running():
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
	}
	return r.Close()
}
