package jetstream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Projection is what Leases drives: the projection of the ctx tenant,
// started once this instance holds the tenant's lease and stopped before
// the lease is given back or as soon as it is lost. projections.Runner
// implements it. Start and Stop are called from one goroutine at a time;
// Stop must return only once nothing more is written for the tenant.
type Projection interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// LeaseConfig configures Leases.
type LeaseConfig struct {
	// Bucket is the key-value bucket of leases and instances; default
	// ATRIUM_LEASES.
	Bucket string
	// Instance names this instance, unique among those sharing the bucket;
	// default a random id.
	Instance string
	// TTL is how long a lease, or an instance's announcement, lives after
	// its last renewal: an instance that dies loses its tenants TTL after
	// its last renewal at most. Default 10 seconds.
	TTL time.Duration
	// Interval is how often an instance renews its announcement and its
	// leases and rebalances: a dead instance's tenants are taken over within
	// TTL + Interval (12 s by default). Default 2 seconds; at most TTL/3, so
	// that two renewals may fail before a lease expires.
	Interval time.Duration
	// Replicas of the bucket on a NATS cluster; default 1.
	Replicas int
	// Logger logs takeovers, hand-overs and lost leases.
	Logger *slog.Logger
}

func (c *LeaseConfig) setDefaults() {
	if c.Bucket == "" {
		c.Bucket = "ATRIUM_LEASES"
	}
	if c.Instance == "" {
		c.Instance = uuid.NewString()
	}
	if c.TTL == 0 {
		c.TTL = 10 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of c, after defaults.
func (c LeaseConfig) Validate() error {
	var errs []error
	if !kvKey.MatchString(c.Instance) {
		errs = append(errs, fmt.Errorf("leases: instance %q: want 1 to 128 letters, digits, '-' or '_'", c.Instance))
	}
	if c.TTL < time.Second {
		errs = append(errs, fmt.Errorf("leases: TTL %s: want at least 1s", c.TTL))
	}
	if c.Interval <= 0 || c.Interval > c.TTL/3 {
		errs = append(errs, fmt.Errorf("leases: interval %s: want more than 0 and at most TTL/3 (%s)", c.Interval, c.TTL/3))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("leases: Replicas %d, want 1 to 5", c.Replicas))
	}
	return errors.Join(errs...)
}

// Leases spreads tenants' projections across the instances sharing a read
// server, each tenant projected by one instance at a time.
//
// In one JetStream key-value bucket whose entries expire TTL after they
// were written, every instance announces itself (key instance.<id>) and
// holds leases (key tenant.<id>, value the instance). Every Interval an
// instance renews its announcement, renews each lease by an update checked
// against the revision it last wrote (a refused renewal is a lost lease:
// the tenant's projection is stopped at once), and rebalances: its fair
// share is tenants / live instances, one more for the first tenants % live
// instances in name order (so the shares add up to the tenants); beyond it, it gives tenants back
// (the projection stopped first, then the key deleted); below it, it takes
// unowned tenants by creating their keys, then starts their projection.
// A dead instance's keys expire; the others take its tenants over at their
// next rebalance. An instance that cannot renew a lease for TTL - Interval
// stops that tenant's projection, since another may hold it by then.
//
// Two instances may still both write a tenant for a moment (one that
// paused past its lease's expiry, say): the projections' checkpoint fence
// keeps that harmless.
type Leases struct {
	cfg     LeaseConfig
	kv      jetstream.KeyValue
	tenants func() []tenant.ID
	proj    Projection
	log     *slog.Logger

	mu   sync.Mutex
	held map[tenant.ID]*lease
	poke chan struct{}

	stop context.CancelFunc
	done chan struct{}
}

// lease is one tenant this instance holds.
type lease struct {
	rev     uint64    // of the key's last write by this instance
	renewed time.Time // when it was last written
	started bool      // its projection runs here
}

const (
	instanceKeyPrefix = "instance."
	tenantKeyPrefix   = "tenant."
)

// OpenLeases creates or opens the bucket, announces the instance and starts
// taking its share of tenants (listed by tenants, called from the lease
// goroutine) for proj, until Close.
func OpenLeases(ctx context.Context, nc *nats.Conn, cfg LeaseConfig, tenants func() []tenant.ID, proj Projection) (*Leases, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "which instance projects which tenant, and the live instances; entries expire unless renewed",
		TTL:         cfg.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, translate(fmt.Errorf("bucket %s: %w", cfg.Bucket, err))
	}
	l := &Leases{
		cfg: cfg, kv: kv, tenants: tenants, proj: proj,
		log:  cfg.Logger.With("instance", cfg.Instance),
		held: map[tenant.ID]*lease{},
		poke: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	if _, err := kv.Put(ctx, instanceKeyPrefix+cfg.Instance, nil); err != nil {
		return nil, fmt.Errorf("leases: announce %s: %w", cfg.Instance, err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = cancel
	go l.loop(loopCtx)
	return l, nil
}

// Instance returns the instance's name.
func (l *Leases) Instance() string { return l.cfg.Instance }

// Held returns the tenants whose leases this instance holds, sorted.
func (l *Leases) Held() []tenant.ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]tenant.ID, 0, len(l.held))
	for t := range l.held {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Holds reports whether this instance holds t's lease.
func (l *Leases) Holds(t tenant.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.held[t]
	return ok
}

// Unstarted says t's projection is not running although this instance
// holds its lease (a rebuild could not start it again): the leases start
// it at their next round, and retry.
func (l *Leases) Unstarted(t tenant.ID) {
	l.mu.Lock()
	if ls, ok := l.held[t]; ok {
		ls.started = false
	}
	l.mu.Unlock()
	l.Rebalance()
}

// Leased reports whether an instance, this one or another, holds t's
// lease.
func (l *Leases) Leased(ctx context.Context, t tenant.ID) (bool, error) {
	_, err := l.kv.Get(ctx, tenantKeyPrefix+string(t))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("leases: holder of %s: %w", t, err)
	}
	return true, nil
}

// Rebalance asks for a rebalance now rather than at the next interval:
// after a tenant is created, say. It does not wait for it.
func (l *Leases) Rebalance() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// Close stops the lease goroutine, stops every projection this instance
// runs and gives its leases back, so that the others take its tenants at
// their next rebalance rather than after the TTL.
func (l *Leases) Close(ctx context.Context) error {
	l.halt()
	var errs []error
	for _, t := range l.Held() {
		errs = append(errs, l.release(ctx, t))
	}
	if err := l.kv.Delete(ctx, instanceKeyPrefix+l.cfg.Instance); err != nil {
		errs = append(errs, fmt.Errorf("leases: withdraw %s: %w", l.cfg.Instance, err))
	}
	return errors.Join(errs...)
}

// halt stops the lease goroutine and waits for it; it touches no key.
func (l *Leases) halt() {
	l.stop()
	<-l.done
}

func (l *Leases) loop(ctx context.Context) {
	defer close(l.done)
	tick := time.NewTicker(l.cfg.Interval)
	defer tick.Stop()
	for {
		l.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.poke:
		}
	}
}

// round renews and rebalances once.
func (l *Leases) round(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Interval)
	defer cancel()
	if _, err := l.kv.Put(rctx, instanceKeyPrefix+l.cfg.Instance, nil); err != nil && ctx.Err() == nil {
		l.log.Warn("leases: announcement not renewed", "err", err)
	}
	l.renew(rctx)
	if ctx.Err() != nil {
		return
	}
	instances, err := l.liveInstances(rctx)
	if err != nil {
		l.log.Warn("leases: instances not listed; no rebalance this round", "err", err)
		return
	}
	tenants := l.tenants()
	share := fairShare(len(tenants), instances, l.cfg.Instance)
	l.giveBack(rctx, tenants, share)
	l.take(rctx, tenants, share)
	l.startPending(rctx)
}

// renew rewrites every held lease at the revision last written; a refused
// renewal, or none for TTL - Interval, stops the tenant's projection.
func (l *Leases) renew(ctx context.Context) {
	for _, t := range l.Held() {
		l.mu.Lock()
		ls := l.held[t]
		l.mu.Unlock()
		rev, err := l.kv.Update(ctx, tenantKeyPrefix+string(t), []byte(l.cfg.Instance), ls.rev)
		switch {
		case err == nil:
			l.mu.Lock()
			ls.rev, ls.renewed = rev, time.Now()
			l.mu.Unlock()
		case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound):
			// Expired, deleted or taken by another instance.
			l.log.Error("leases: lease lost; projection stopped", "tenant", string(t), "err", err)
			l.drop(ctx, t)
		case time.Since(ls.renewed) > l.cfg.TTL-l.cfg.Interval:
			l.log.Error("leases: lease not renewed in time; projection stopped", "tenant", string(t), "err", err)
			l.drop(ctx, t)
		default:
			l.log.Warn("leases: lease not renewed; retrying", "tenant", string(t), "err", err)
		}
	}
}

// fairShare is how many of n tenants instance holds among the live
// instances: n / len(instances), plus one for the first n % len(instances)
// of them in name order, so that the shares add up to n and no two
// instances' differ by more than one.
func fairShare(n int, instances []string, instance string) int {
	k := len(instances)
	share := n / k
	if slices.Index(instances, instance) < n%k {
		share++
	}
	return share
}

// liveInstances returns the announced instances, this one included,
// sorted.
func (l *Leases) liveInstances(ctx context.Context) ([]string, error) {
	out := []string{l.cfg.Instance}
	keys, err := l.kv.ListKeysFiltered(ctx, instanceKeyPrefix+">")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return out, nil
		}
		return nil, err
	}
	for k := range keys.Keys() {
		if in := strings.TrimPrefix(k, instanceKeyPrefix); in != l.cfg.Instance {
			out = append(out, in)
		}
	}
	slices.Sort(out)
	return out, nil
}

// giveBack releases the held tenants beyond share, and those no longer
// listed.
func (l *Leases) giveBack(ctx context.Context, tenants []tenant.ID, share int) {
	held := l.Held()
	keep := 0
	for _, t := range held {
		if !slices.Contains(tenants, t) || keep >= share {
			l.log.Info("leases: tenant given back", "tenant", string(t), "share", share)
			if err := l.release(ctx, t); err != nil {
				l.log.Warn("leases: give back", "tenant", string(t), "err", err)
			}
			continue
		}
		keep++
	}
}

// take creates the leases of unowned tenants up to share, in an order of
// the instance's own so that instances rarely race for the same tenant.
func (l *Leases) take(ctx context.Context, tenants []tenant.ID, share int) {
	l.mu.Lock()
	n := len(l.held)
	l.mu.Unlock()
	if n >= share {
		return
	}
	order := slices.Clone(tenants)
	slices.Sort(order)
	if len(order) > 0 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(l.cfg.Instance))
		k := int(h.Sum32() % uint32(len(order)))
		order = append(order[k:], order[:k]...)
	}
	for _, t := range order {
		if n >= share || ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		_, mine := l.held[t]
		l.mu.Unlock()
		if mine {
			continue
		}
		rev, err := l.kv.Create(ctx, tenantKeyPrefix+string(t), []byte(l.cfg.Instance))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				l.log.Warn("leases: take", "tenant", string(t), "err", err)
			}
			continue
		}
		l.mu.Lock()
		l.held[t] = &lease{rev: rev, renewed: time.Now()}
		l.mu.Unlock()
		n++
		l.log.Info("leases: tenant taken", "tenant", string(t), "share", share)
	}
}

// startPending starts the projections of held tenants not yet started
// (just taken, or refused before: a database being migrated, say).
func (l *Leases) startPending(ctx context.Context) {
	for _, t := range l.Held() {
		l.mu.Lock()
		ls, ok := l.held[t]
		started := ok && ls.started
		l.mu.Unlock()
		if !ok || started {
			continue
		}
		if err := l.proj.Start(tenant.With(context.WithoutCancel(ctx), t)); err != nil {
			l.log.Error("leases: tenant held but not projected; retrying", "tenant", string(t), "err", err)
			continue
		}
		l.mu.Lock()
		ls.started = true
		l.mu.Unlock()
	}
}

// release stops t's projection, then deletes its lease if still this
// instance's. Once Stop has returned nothing more is written for t, even
// when it reports an error (a last batch not committed, say).
func (l *Leases) release(ctx context.Context, t tenant.ID) error {
	l.mu.Lock()
	ls, ok := l.held[t]
	l.mu.Unlock()
	if !ok {
		return nil
	}
	l.drop(ctx, t)
	err := l.kv.Delete(ctx, tenantKeyPrefix+string(t), jetstream.LastRevision(ls.rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("leases: give back %s: %w", t, err)
	}
	return nil
}

// drop stops t's projection and forgets its lease.
func (l *Leases) drop(ctx context.Context, t tenant.ID) {
	l.mu.Lock()
	_, ok := l.held[t]
	delete(l.held, t)
	l.mu.Unlock()
	if !ok {
		return
	}
	// Stopped even when the lease did not start it: a rebuild may have
	// started it meanwhile (stopping a tenant not projected does nothing).
	sctx, cancel := context.WithTimeout(tenant.With(context.WithoutCancel(ctx), t), l.cfg.TTL)
	defer cancel()
	if err := l.proj.Stop(sctx); err != nil {
		l.log.Warn("leases: projection stopped with an error", "tenant", string(t), "err", err)
	}
}
