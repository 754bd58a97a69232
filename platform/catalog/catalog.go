// Package catalog holds the tenant catalog in memory: every tenant's
// record, folded from the platform's event log and kept current by a
// subscription, so a tenant provisioned through any instance is served by
// every instance without a restart.
package catalog

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Catalog is the tenants this deployment serves. It is safe for concurrent
// use; reads never touch the event store.
type Catalog struct {
	store streams.Store
	reg   *streams.Registry

	mu        sync.RWMutex
	tenants   map[tenant.ID]tenancy.State
	plans     map[string]tenancy.Plan
	domains   map[string]tenant.ID
	position  streams.Position
	progress  chan struct{}
	listeners []func(tenancy.State)
	quiet     streams.Position // listeners are called once the log is applied this far (see NotifyFrom)
}

// New returns an empty catalog; Run fills it.
func New(store streams.Store, reg *streams.Registry) *Catalog {
	return &Catalog{store: store, reg: reg, tenants: map[tenant.ID]tenancy.State{}, plans: map[string]tenancy.Plan{}, domains: map[string]tenant.ID{}, progress: make(chan struct{})}
}

// OnChange registers fn, called after each change to a tenant's record
// (including its provisioning), from the catalog's goroutine, in order.
// Register before Run.
func (c *Catalog) OnChange(fn func(tenancy.State)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, fn)
}

// NotifyFrom holds the listeners' calls until the catalog has applied the
// platform log up to pos (its head at start); then it calls them once for
// every tenant as its record then stands (a deleted tenant's tombstone
// too), and after each change from then on. A tenant provisioned and later
// deleted in the log is thus never seen alive at start, where opening it
// would create its resources again. Call before Run.
func (c *Catalog) NotifyFrom(pos streams.Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quiet = pos
}

// Run follows the platform log from where the catalog is (its start, at
// first): it blocks until ctx ends or the subscription fails. Run again
// after a failure resumes after the last event applied, so the records
// never go back to an earlier state and listeners are not called again
// for the events already applied. Run is not for concurrent use.
func (c *Catalog) Run(ctx context.Context) error {
	pctx := tenant.With(ctx, tenant.Platform)
	c.mu.RLock()
	after := c.position
	c.mu.RUnlock()
	return c.store.Subscribe(pctx, after, func(_ context.Context, r streams.Record) error {
		c.apply(r)
		return nil
	})
}

func (c *Catalog) apply(r streams.Record) {
	var changed *tenancy.State
	if r.Stream.Aggregate() == tenancy.PlanCategory && c.reg.Known(r.Type) {
		if ev, err := c.reg.Decode(r.Type, r.Data); err == nil {
			c.mu.Lock()
			name := r.Stream.ID()
			c.plans[name] = tenancy.EvolvePlan(c.plans[name], ev)
			c.mu.Unlock()
		}
	}
	if r.Stream.Aggregate() == tenancy.Category && c.reg.Known(r.Type) {
		if ev, err := c.reg.Decode(r.Type, r.Data); err == nil {
			c.mu.Lock()
			t := tenant.ID(r.Stream.ID())
			before := c.tenants[t]
			after := tenancy.Evolve(before, ev)
			c.tenants[t] = after
			for _, d := range before.Domains {
				delete(c.domains, d)
			}
			for _, d := range after.Domains {
				c.domains[d] = t
			}
			c.mu.Unlock()
			changed = &after
		}
	}
	c.mu.Lock()
	var notify []tenancy.State
	switch {
	case c.quiet > 0 && r.Position < c.quiet:
		// Held until the log is applied up to NotifyFrom's position.
	case c.quiet > 0:
		c.quiet = 0
		notify = slices.SortedFunc(maps.Values(c.tenants), func(a, b tenancy.State) int { return cmp.Compare(a.ID, b.ID) })
	case changed != nil:
		notify = []tenancy.State{*changed}
	}
	listeners := c.listeners
	c.mu.Unlock()
	for _, s := range notify {
		for _, fn := range listeners {
			fn(s)
		}
	}
	// Reached once the listeners are done: whoever waits for a change
	// (WaitFor) finds the process has acted on it.
	c.mu.Lock()
	c.position = r.Position
	close(c.progress)
	c.progress = make(chan struct{})
	c.mu.Unlock()
}

// WaitFor returns once the catalog has applied the platform log up to pos,
// or projections.ErrLagging when ctx ends first.
func (c *Catalog) WaitFor(ctx context.Context, pos streams.Position) error {
	for {
		c.mu.RLock()
		at, progress := c.position, c.progress
		c.mu.RUnlock()
		if at >= pos {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("%w: catalog at %d, waiting for %d", projections.ErrLagging, at, pos)
		}
	}
}

// Get returns a tenant's record.
func (c *Catalog) Get(t tenant.ID) (tenancy.State, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.tenants[t]
	if s.Deleted {
		return tenancy.State{}, false // a tombstone: no tenant to serve
	}
	return s, ok
}

// Plan returns the plan of that name.
func (c *Catalog) Plan(name string) (tenancy.Plan, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.plans[name]
	return p, ok
}

// PlanOf returns the plan of tenant t, false when it has none.
func (c *Catalog) PlanOf(t tenant.ID) (tenancy.Plan, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.plans[c.tenants[t].Plan]
	return p, ok
}

// Plans returns every plan, by name.
func (c *Catalog) Plans() []tenancy.Plan {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.SortedFunc(maps.Values(c.plans), func(a, b tenancy.Plan) int { return cmp.Compare(a.Name, b.Name) })
}

// Known reports whether t is provisioned (suspended or not).
func (c *Catalog) Known(_ context.Context, t tenant.ID) bool {
	_, ok := c.Get(t)
	return ok
}

// ByDomain returns the tenant a custom domain belongs to.
func (c *Catalog) ByDomain(host string) (tenant.ID, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.domains[tenancy.NormalizeDomain(host)]
	return t, ok
}

// List returns every tenant, by slug.
func (c *Catalog) List() []tenancy.State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := slices.SortedFunc(maps.Values(c.tenants), func(a, b tenancy.State) int { return cmp.Compare(a.ID, b.ID) })
	return slices.DeleteFunc(out, func(s tenancy.State) bool { return s.Deleted })
}

// Settings returns the ctx tenant's settings.
func (c *Catalog) Settings(ctx context.Context) (tenancy.Settings, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return tenancy.Settings{}, err
	}
	s, ok := c.Get(t)
	if !ok {
		return tenancy.Settings{}, fmt.Errorf("%w: %s", streams.ErrUnknownTenant, t)
	}
	return s.Settings, nil
}
