package assembly

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// Which instance projects which tenant. With a read store of its own (the
// embedded SQLite files) every instance projects every tenant into its own
// databases. With a read store the instances share (Config.SharedReads), a
// tenant is projected by one instance at a time, under a lease in JetStream
// key-value (jetstream.Leases): a dead instance's tenants are taken over
// within TTL + interval, 12 s by default.
//
// Either way, an instance opens each tenant it learns of (from the catalog,
// at start or on change) before serving it: its read database is migrated
// (idempotent), then, unless leases decide, its projection started, and
// it is served once its projections have caught up with its events.
// Requests for a tenant not yet open here wait for it, briefly, then answer
// 503 tenant_opening.

// tenantOpenWait is how long a request waits for its tenant to be opened
// on this instance before it answers 503.
const tenantOpenWait = 5 * time.Second

// tenantCatchUp is how long a tenant opened here waits for its
// projections to catch up before it is served anyway.
const tenantCatchUp = 30 * time.Second

// openLeases starts taking this instance's share of tenants when the read
// store is shared.
func (p *Process) openLeases(ctx context.Context) error {
	if !p.cfg.SharedReads || p.cfg.NoProjections {
		return nil
	}
	tenants := func() []tenant.ID {
		var out []tenant.ID
		for _, st := range p.Catalog.List() {
			out = append(out, st.ID)
		}
		return out
	}
	l, err := jetstream.OpenLeases(ctx, p.NC, jetstream.LeaseConfig{Replicas: p.cfg.NATSReplicas, Logger: p.log}, tenants, leasedProjection{p})
	if err != nil {
		return fmt.Errorf("leases: %w", err)
	}
	p.leases.Store(l)
	sub, err := p.NC.Subscribe(rebuildSubjectPrefix+"*", p.rebuildAsked)
	if err != nil {
		_ = l.Close(ctx)
		return fmt.Errorf("leases: rebuild requests: %w", err)
	}
	p.closers = append(p.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(sub.Unsubscribe(), l.Close(ctx))
	})
	return nil
}

// leasedProjection is the projection the leases start and stop: the
// runner's, on a tenant migrated first.
type leasedProjection struct{ p *Process }

func (lp leasedProjection) Start(ctx context.Context) error {
	return lp.locked(ctx, func() error {
		if err := lp.p.Reads.Migrate(ctx, lp.p.Projectors...); err != nil {
			return err
		}
		return lp.p.Runner.Start(ctx)
	})
}

func (lp leasedProjection) Stop(ctx context.Context) error {
	return lp.locked(ctx, func() error { return lp.p.Runner.Stop(ctx) })
}

// locked runs fn under the ctx tenant's lock, which a rebuild holds too.
func (lp leasedProjection) locked(ctx context.Context, fn func() error) error {
	mu, err := lp.p.projLock(ctx)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return fn()
}

// openTenant makes sure t's read database is migrated and, unless leases
// decide where it is projected, starts its projection; then requests for
// t are served here.
func (p *Process) openTenant(t tenant.ID) {
	ctx := tenant.With(context.Background(), t)
	if err := p.Reads.Migrate(ctx, p.Projectors...); err != nil {
		p.log.Error("tenant read database not migrated", "tenant", string(t), "err", err)
		return
	}
	switch {
	case p.cfg.SharedReads && p.leases.Load() != nil:
		p.leases.Load().Rebalance()
	case p.cfg.SharedReads:
		// At start: the leases, opened next, take their share.
	default:
		if err := p.Runner.Start(ctx); err != nil {
			p.log.Error("tenant not projected", "tenant", string(t), "err", err)
		}
	}
	select {
	case <-p.opened(t).ch: // open already: a later change of the tenant
	default:
		go p.catchUp(ctx, t)
	}
}

// catchUp lets requests for t through once its projections have reached
// the tenant's events as they stand now, so that an instance's first
// answer for a tenant is as complete as any other instance's; after
// tenantCatchUp, through anyway.
func (p *Process) catchUp(ctx context.Context, t tenant.ID) {
	defer p.markOpen(t)
	ctx, cancel := context.WithTimeout(ctx, tenantCatchUp)
	defer cancel()
	head, err := p.Store.Head(ctx)
	if err == nil {
		err = p.Runner.WaitFor(ctx, head)
	}
	if err != nil {
		p.log.Warn("tenant served before its projections caught up", "tenant", string(t), "err", err)
	}
}

// markOpen lets requests for t through.
func (p *Process) markOpen(t tenant.ID) {
	g := p.opened(t)
	g.once.Do(func() {
		close(g.ch)
		// Its ERP outbox may hold messages to relay from before.
		p.erp.notify(tenant.With(context.Background(), t), 0)
	})
}

// isOpen reports whether requests for t are served here.
func (p *Process) isOpen(t tenant.ID) bool {
	select {
	case <-p.opened(t).ch:
		return true
	default:
		return false
	}
}

// openGate is closed once its tenant is open here.
type openGate struct {
	once sync.Once
	ch   chan struct{}
}

// opened returns t's gate.
func (p *Process) opened(t tenant.ID) *openGate {
	p.gatesMu.Lock()
	defer p.gatesMu.Unlock()
	if p.gates == nil {
		p.gates = map[tenant.ID]*openGate{}
	}
	g, ok := p.gates[t]
	if !ok {
		g = &openGate{ch: make(chan struct{})}
		p.gates[t] = g
	}
	return g
}

// openTenants resolves a request's tenant, then waits until the tenant is
// open on this instance: the catalog may know a tenant a moment before its
// read database is ready here.
type openTenants struct {
	atriumhttp.TenantResolver
	p *Process
}

func (o openTenants) Resolve(c *fiber.Ctx) (tenant.ID, error) {
	t, err := o.TenantResolver.Resolve(c)
	if err != nil {
		return t, err
	}
	opened := o.p.opened(t).ch
	select {
	case <-opened:
		return t, nil // the common case, without a timer
	default:
	}
	timer := time.NewTimer(tenantOpenWait)
	defer timer.Stop()
	select {
	case <-opened:
		return t, nil
	case <-timer.C:
	case <-c.Context().Done():
	}
	c.Set(fiber.HeaderRetryAfter, "1")
	return "", atriumhttp.NewProblem(fiber.StatusServiceUnavailable, "tenant_opening", "this tenant is being opened on this instance; retry shortly")
}
