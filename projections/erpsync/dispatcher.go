package erpsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/sony/gobreaker"

	"github.com/atrium-platform/atrium/domain/erp"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Topic is the bus topic of a tenant's ERP messages: the relay publishes
// each message to Topic(t)+"."+its aggregate, the dispatcher subscribes to
// Topic(t) (all of them, in the order they were published).
func Topic(t tenant.ID) string { return "erp." + string(t) }

// Metadata of an ERP message on the bus beside its id (the message id).
const (
	// MetaGeneration is the generation the message was published under.
	MetaGeneration = "Atrium-Erp-Generation"
	// MetaDedupe is the bus's duplicate-detection key (the NATS header
	// JetStream deduplicates publishes by): the message id and its
	// generation, so a resync publishes anew what a retry of a publish
	// must not.
	MetaDedupe = "Nats-Msg-Id"
)

// Connectors opens the connector of a tenant's connection (with its sealed
// secret); the ctx carries the tenant.
type Connectors interface {
	Open(ctx context.Context, c erp.Connection) (Connector, error)
}

// Observer is told what the dispatcher does, for metrics.
type Observer interface {
	// Delivered: a message of t was delivered.
	Delivered(t tenant.ID)
	// Failed: an attempt to deliver a message of t failed (it will be
	// tried again, or was parked).
	Failed(t tenant.ID)
	// Pending: t has n messages still to deliver.
	Pending(t tenant.ID, n int64)
}

type nopObserver struct{}

func (nopObserver) Delivered(tenant.ID)      {}
func (nopObserver) Failed(tenant.ID)         {}
func (nopObserver) Pending(tenant.ID, int64) {}

// Config configures a Dispatcher.
type Config struct {
	Outbox *Outbox
	// Publisher puts messages on the bus (watermill-nats on JetStream).
	Publisher message.Publisher
	// Subscriber delivers a tenant's topic in publishing order, one message
	// at a time (the next only once the previous is acked), holding a
	// message for AckWait before the bus sends it again; a nacked message
	// comes again, before any later one, after a growing delay.
	Subscriber message.Subscriber
	Connectors Connectors
	// WaitFor returns once the ctx tenant's projections have committed pos
	// (the runner's WaitFor): the relay publishes committed rows only.
	WaitFor func(ctx context.Context, pos streams.Position) error
	// Quota, when set, says how long the ctx tenant's messages wait for
	// its plan to allow more (0: it allows one now): a message is held
	// until then.
	Quota func(ctx context.Context) (time.Duration, error)
	// Tenants lists the tenants whose outboxes are looked at on start.
	Tenants func() []tenant.ID
	// Slots bounds deliveries in flight across all tenants (default 64).
	Slots int
	// AckWait is how long the bus lets a message be held before sending it
	// again (the subscriber's setting): one delivery, with its retries in
	// place, ends well before it (default 60s).
	AckWait time.Duration
	// MinBackoff and MaxBackoff bound the pause between two attempts of a
	// message (defaults 500ms and 5m); a Retry-After is honoured beyond.
	MinBackoff, MaxBackoff time.Duration
	// BreakerAfter failed attempts in a row open a tenant's breaker for
	// BreakerOpen (defaults 5 and 30s).
	BreakerAfter int
	BreakerOpen  time.Duration
	Observer     Observer
	Logger       *slog.Logger
	Watermill    watermill.LoggerAdapter
	// Now schedules attempts; default time.Now.
	Now func() time.Time
	// Stamp dates deliveries (the day a message counts on, as the
	// tenant's events are dated); default Now.
	Stamp func() time.Time
}

func (c *Config) setDefaults() {
	if c.Slots <= 0 {
		c.Slots = 64
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Minute
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.BreakerAfter <= 0 {
		c.BreakerAfter = 5
	}
	if c.BreakerOpen <= 0 {
		c.BreakerOpen = 30 * time.Second
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Watermill == nil {
		c.Watermill = watermill.NopLogger{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Stamp == nil {
		c.Stamp = c.Now
	}
}

// Dispatcher keeps every tenant's ERP in step with its outbox: a relay
// publishes the messages the outbox projector committed, in position
// order, to the tenant's topic; a watermill handler per tenant (its own
// queue, retries and circuit breaker) delivers them to the tenant's
// connector one at a time, in order, and records each outcome in the
// outbox. A tenant whose ERP is down holds its own queue only.
type Dispatcher struct {
	cfg   Config
	slots chan struct{}

	mu       sync.Mutex
	closed   bool
	router   *message.Router
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	handlers map[tenant.ID]*handler
	dirty    map[tenant.ID]streams.Position
	wake     chan struct{}
	gauges   map[tenant.ID]struct{}
	// forgotten tenants are relayed and delivered no more (offboarded).
	forgotten map[tenant.ID]bool
	names     int
	workers   sync.WaitGroup
}

// handler is one tenant's delivery queue.
type handler struct {
	t         tenant.ID
	h         *message.Handler
	connector Connector
	key       string
	stopped   bool
	// conn is the connection as last read, at read (the handler's own
	// goroutine only).
	conn erp.Connection
	read time.Time
}

// NewDispatcher returns a dispatcher; Start starts it.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	cfg.setDefaults()
	if cfg.Outbox == nil || cfg.Publisher == nil || cfg.Subscriber == nil || cfg.Connectors == nil || cfg.WaitFor == nil {
		return nil, errors.New("erpsync: a dispatcher needs an outbox, a publisher, a subscriber, connectors and WaitFor")
	}
	return &Dispatcher{cfg: cfg, slots: make(chan struct{}, cfg.Slots), handlers: map[tenant.ID]*handler{},
		dirty: map[tenant.ID]streams.Position{}, wake: make(chan struct{}, 1), gauges: map[tenant.ID]struct{}{},
		forgotten: map[tenant.ID]bool{}}, nil
}

// Notify is the outbox projector's Notify: the ctx tenant has messages to
// publish once its projections commit pos.
func (d *Dispatcher) Notify(ctx context.Context, pos streams.Position) {
	t, err := tenant.From(ctx)
	if err != nil {
		return
	}
	d.mark(t, pos)
}

// Forget stops relaying and delivering t's messages for good (an
// offboarded tenant): its handler stops, and nothing of t is read again.
func (d *Dispatcher) Forget(t tenant.ID) {
	d.mu.Lock()
	d.forgotten[t] = true
	delete(d.dirty, t)
	h := d.handlers[t]
	delete(d.handlers, t)
	d.mu.Unlock()
	if h != nil {
		if h.h != nil {
			h.h.Stop()
		}
		if h.connector != nil {
			_ = h.connector.Close()
		}
	}
}

func (d *Dispatcher) mark(t tenant.ID, pos streams.Position) {
	d.mu.Lock()
	if d.forgotten[t] {
		d.mu.Unlock()
		return
	}
	if p, ok := d.dirty[t]; !ok || pos > p {
		d.dirty[t] = pos
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start starts the router, the relay and the handlers of the tenants that
// have an ERP connection.
func (d *Dispatcher) Start(ctx context.Context) error {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, d.cfg.Watermill)
	if err != nil {
		return fmt.Errorf("erpsync: router: %w", err)
	}
	// A router stops when its last handler does: this one lasts as long as
	// the dispatcher.
	router.AddConsumerHandler("erp.idle", "", idle{}, func(*message.Message) error { return nil })
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		defer close(done)
		runErr <- router.Run(rctx)
	}()
	select {
	case <-router.Running():
	case err := <-runErr:
		cancel()
		return fmt.Errorf("erpsync: router: %w", err)
	}
	d.mu.Lock()
	d.router, d.ctx, d.cancel, d.done = router, rctx, cancel, done
	d.mu.Unlock()
	if d.cfg.Tenants != nil {
		for _, t := range d.cfg.Tenants() {
			d.mark(t, 0)
		}
	}
	for range 2 {
		d.workers.Add(1)
		go d.relay(rctx)
	}
	d.workers.Add(1)
	go d.gaugeLoop(rctx)
	return nil
}

// Close stops delivering: messages in flight are sent again by the bus
// later (the target deduplicates by id).
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed || d.router == nil {
		d.closed = true
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	router, cancel, done := d.router, d.cancel, d.done
	d.mu.Unlock()
	cancel()
	err := router.Close()
	<-done
	d.workers.Wait()
	d.mu.Lock()
	for _, h := range d.handlers {
		if h.connector != nil {
			_ = h.connector.Close()
		}
	}
	d.handlers = map[tenant.ID]*handler{}
	d.mu.Unlock()
	return err
}

// idle delivers nothing until its subscription ends.
type idle struct{}

func (idle) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func (idle) Close() error { return nil }

// relay publishes the outboxes of the tenants marked dirty.
func (d *Dispatcher) relay(ctx context.Context) {
	defer d.workers.Done()
	for {
		t, pos, ok := d.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
			}
			continue
		}
		if err := d.publish(tenant.With(ctx, t), pos); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.cfg.Logger.Warn("erp relay failed; trying again", "tenant", string(t), "err", err)
			time.AfterFunc(time.Second, func() { d.mark(t, pos) })
		}
	}
}

// next takes a tenant to relay, with the position to wait for.
func (d *Dispatcher) next() (tenant.ID, streams.Position, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, pos := range d.dirty {
		delete(d.dirty, t)
		return t, pos, true
	}
	return "", 0, false
}

// publish publishes what the ctx tenant's outbox has not yet published,
// once its projections committed pos.
func (d *Dispatcher) publish(ctx context.Context, pos streams.Position) error {
	t, _ := tenant.From(ctx)
	if pos > 0 {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.cfg.WaitFor(wctx, pos)
		cancel()
		if err != nil && ctx.Err() == nil {
			// Publish what is committed; the rest is marked again.
			defer time.AfterFunc(time.Second, func() { d.mark(t, pos) })
		}
	}
	c, err := d.cfg.Outbox.Connection(ctx)
	if err != nil {
		return err
	}
	if c.Status == erp.StatusNotConfigured {
		return nil
	}
	if err := d.ensure(t); err != nil {
		return err
	}
	d.gauge(t)
	for {
		ms, gens, err := d.cfg.Outbox.Unpublished(ctx, 256)
		if err != nil {
			return err
		}
		done := 0
		for i, m := range ms {
			if err := d.cfg.Publisher.Publish(Topic(t)+"."+m.Aggregate, busMessage(m, gens[i])); err != nil {
				// What went out is marked; the rest goes again.
				return errors.Join(fmt.Errorf("publish %s: %w", m.ID, err), d.cfg.Outbox.Published(ctx, ms[:done], gens[:done]))
			}
			done++
		}
		if err := d.cfg.Outbox.Published(ctx, ms, gens); err != nil {
			return err
		}
		if len(ms) < 256 {
			return nil
		}
	}
}

// busMessage is m as the bus carries it: its id, its payload, and its
// generation.
func busMessage(m Message, gen int64) *message.Message {
	payload, _ := json.Marshal(m)
	msg := message.NewMessage(m.ID, payload)
	msg.Metadata.Set(MetaGeneration, strconv.FormatInt(gen, 10))
	msg.Metadata.Set(MetaDedupe, m.ID+"."+strconv.FormatInt(gen, 10))
	msg.Metadata.Set(streams.MetaTenant, m.Tenant)
	return msg
}

// ensure runs t's handler when it is not running.
func (d *Dispatcher) ensure(t tenant.ID) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return context.Canceled
	}
	if h, ok := d.handlers[t]; ok && !h.stopped {
		d.mu.Unlock()
		return nil
	}
	h := &handler{t: t}
	d.handlers[t] = h
	d.names++
	name := fmt.Sprintf("erp.%s.%d", t, d.names)
	router, ctx := d.router, d.ctx
	d.mu.Unlock()
	retry := middleware.Retry{
		MaxRetries:      100,
		InitialInterval: d.cfg.MinBackoff,
		MaxInterval:     d.cfg.MaxBackoff,
		Multiplier:      2,
		// A delivery and its retries in place end well before the bus
		// would send the message again; the bus's own nak delay takes over.
		MaxElapsedTime:      d.cfg.AckWait / 3,
		RandomizationFactor: 0.2,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !errors.Is(p.Err, errHeld) },
		Logger:              d.cfg.Watermill,
	}
	breaker := middleware.NewCircuitBreaker(gobreaker.Settings{
		Name:        "erp." + string(t),
		Timeout:     d.cfg.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(d.cfg.BreakerAfter) },
		// A held message (connection stopped, not yet time) is no failure
		// of the target.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errHeld) },
	})
	mh := router.AddConsumerHandler(name, Topic(t), subscription{d.cfg.Subscriber}, func(msg *message.Message) error {
		return d.deliver(h, msg)
	})
	mh.AddMiddleware(retry.Middleware, breaker.Middleware)
	if err := router.RunHandlers(ctx); err != nil {
		d.mu.Lock()
		h.stopped = true
		d.mu.Unlock()
		return err
	}
	d.mu.Lock()
	h.h = mh
	d.mu.Unlock()
	go d.watch(h, mh)
	return nil
}

// watch marks t's handler stopped when its subscription ends, so the next
// relay of t subscribes again.
func (d *Dispatcher) watch(h *handler, mh *message.Handler) {
	<-mh.Stopped()
	d.mu.Lock()
	h.stopped = true
	closed := d.closed
	d.mu.Unlock()
	if !closed {
		d.cfg.Logger.Warn("erp subscription ended; subscribing again", "tenant", string(h.t))
		time.AfterFunc(time.Second, func() { d.mark(h.t, 0) })
	}
}

// subscription lends the shared subscriber to one handler: the router
// closes a handler's subscriber when it stops, and the shared one must
// stay open (its subscriptions end with their contexts).
type subscription struct{ message.Subscriber }

func (subscription) Close() error { return nil }

// errHeld is the error of a message not attempted now: its connection is
// stopped, or its next attempt is not yet due. The bus sends it again.
var errHeld = errors.New("erpsync: message held")

// errOverQuota is the error of a message held because the tenant's plan
// allows no more today.
var errOverQuota = fmt.Errorf("%w: the tenant's plan allows no more ERP messages today", errHeld)

// errBehind is the error of a message handed out before an earlier one of
// its tenant was delivered: it is held until that one is.
var errBehind = fmt.Errorf("%w: an earlier message is still to be delivered", errHeld)

// connectionTTL is how long a handler reuses the connection it read: a
// change of the connection (a new target, DELETE) takes effect within it.
const connectionTTL = time.Second

// connection is the ctx tenant's connection, read again once connectionTTL
// has passed since h last read it.
func (d *Dispatcher) connection(ctx context.Context, h *handler) (erp.Connection, error) {
	if now := time.Now(); h.read.IsZero() || now.Sub(h.read) >= connectionTTL {
		c, err := d.cfg.Outbox.Connection(ctx)
		if err != nil {
			return erp.Connection{}, err
		}
		h.conn, h.read = c, now
	}
	return h.conn, nil
}

// deliver is the handler of one message of h's tenant.
func (d *Dispatcher) deliver(h *handler, msg *message.Message) error {
	ctx := tenant.With(msg.Context(), h.t)
	gen, perr := strconv.ParseInt(msg.Metadata.Get(MetaGeneration), 10, 64)
	if perr != nil {
		// Not one the relay published: nothing to deliver.
		d.cfg.Logger.Error("erp message without a generation; dropped", "tenant", string(h.t), "id", msg.UUID)
		return nil //nolint:nilerr // the message is dropped, not retried
	}
	del, ok, err := d.cfg.Outbox.Delivery(ctx, msg.UUID)
	if err != nil {
		return fmt.Errorf("%w: %w", errHeld, err)
	}
	if !ok || del.Status != StatusPending || del.Generation != gen {
		// Delivered already, parked, or published again since: this copy
		// has nothing to do.
		return nil
	}
	if del.Head < del.Message.Position {
		// An earlier message is still to be delivered (the bus handed this
		// one out first, after a redelivery): the tenant's order holds.
		return errBehind
	}
	c, err := d.connection(ctx, h)
	if err != nil {
		return fmt.Errorf("%w: %w", errHeld, err)
	}
	if c.Status != erp.StatusActive {
		return errHeld
	}
	if d.cfg.Quota != nil {
		wait, err := d.cfg.Quota(ctx)
		if err != nil {
			return fmt.Errorf("%w: %w", errHeld, err)
		}
		if wait > 0 {
			return errOverQuota
		}
	}
	if wait := del.NextAttemptAt.Sub(d.cfg.Now()); wait > 0 {
		if wait > d.cfg.AckWait/3 {
			return errHeld
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	conn, err := d.connector(ctx, h, c)
	if err != nil {
		d.cfg.Observer.Failed(h.t)
		next := d.cfg.Now().Add(d.backoff(del.Attempts))
		if aerr := d.cfg.Outbox.Attempted(ctx, del.Message.ID, gen, err.Error(), next); aerr != nil {
			return aerr
		}
		return err
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	out := conn.Deliver(ctx, del.Message)
	<-d.slots
	now := d.cfg.Now()
	switch {
	case out.Delivered:
		if err := d.cfg.Outbox.Delivered(ctx, del.Message.ID, gen, d.cfg.Stamp()); err != nil {
			return fmt.Errorf("%w: %w", errHeld, err)
		}
		d.cfg.Observer.Delivered(h.t)
		d.touched(h.t)
		return nil
	case out.Retry:
		d.cfg.Observer.Failed(h.t)
		wait := max(out.RetryAfter, d.backoff(del.Attempts))
		if err := d.cfg.Outbox.Attempted(ctx, del.Message.ID, gen, errText(out.Err), now.Add(wait)); err != nil {
			return fmt.Errorf("%w: %w", errHeld, err)
		}
		if out.Err == nil {
			return errors.New("erpsync: delivery to be retried")
		}
		return out.Err
	default:
		d.cfg.Observer.Failed(h.t)
		if err := d.cfg.Outbox.Parked(ctx, del.Message.ID, gen, errText(out.Err)); err != nil {
			return fmt.Errorf("%w: %w", errHeld, err)
		}
		d.cfg.Logger.Warn("erp message refused by its target; parked as failed", "tenant", string(h.t), "id", del.Message.ID, "err", errText(out.Err))
		d.touched(h.t)
		return nil
	}
}

// backoff is the pause after the attempts-th failed attempt.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.MinBackoff
	for range min(attempts, 30) {
		b *= 2
		if b >= d.cfg.MaxBackoff {
			return d.cfg.MaxBackoff
		}
	}
	return b
}

func errText(err error) string {
	if err == nil {
		return "delivery failed"
	}
	return err.Error()
}

// connector is h's connector for c, opened again when c changed.
func (d *Dispatcher) connector(ctx context.Context, h *handler, c erp.Connection) (Connector, error) {
	mappings, _ := json.Marshal(c.Mappings)
	key := string(c.Kind) + "\x00" + c.Target + "\x00" + c.Table + "\x00" + c.SecretFingerprint + "\x00" + string(mappings)
	if h.connector != nil && h.key == key {
		return h.connector, nil
	}
	conn, err := d.cfg.Connectors.Open(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("open %s connector: %w", c.Kind, err)
	}
	if h.connector != nil {
		_ = h.connector.Close()
	}
	h.connector, h.key = conn, key
	return conn, nil
}

// touched marks t's pending gauge for an update.
func (d *Dispatcher) touched(t tenant.ID) {
	d.mu.Lock()
	d.gauges[t] = struct{}{}
	d.mu.Unlock()
}

func (d *Dispatcher) gauge(t tenant.ID) { d.touched(t) }

// gaugeLoop updates the pending gauges of the tenants that changed, twice
// a second at most.
func (d *Dispatcher) gaugeLoop(ctx context.Context) {
	defer d.workers.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.mu.Lock()
		ts := make([]tenant.ID, 0, len(d.gauges))
		for t := range d.gauges {
			ts = append(ts, t)
		}
		clear(d.gauges)
		d.mu.Unlock()
		for _, t := range ts {
			n, err := d.cfg.Outbox.Pending(tenant.With(ctx, t))
			if err == nil {
				d.cfg.Observer.Pending(t, n)
			}
		}
	}
}
