package projections

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// TenantStatus is how one tenant's projection is doing in a runner, as
// Status reports it: facts, for whoever judges them (readiness, say).
type TenantStatus struct {
	Tenant tenant.ID
	// Subscribed: the tenant's subscription to the event source is up.
	// While it is down, events appended are not projected and Head does
	// not move.
	Subscribed bool
	// Since is when Subscribed last changed (the start, at first).
	Since time.Time
	// Position is how far every projector has committed: the lowest of
	// their checkpoints.
	Position streams.Position
	// Head is the furthest position the source has reported the tenant's
	// log to reach (an event's position plus the events pending after it);
	// Head - Position is the lag, as far as the runner knows.
	Head streams.Position
	// CaughtUp is the last time Position reached Head (the start, at
	// first).
	CaughtUp time.Time
	// Commits counts the batches committed since the tenant started here.
	Commits uint64
}

// Lag is how many events the tenant's projection is behind, as far as the
// runner knows.
func (s TenantStatus) Lag() uint64 {
	if s.Head <= s.Position {
		return 0
	}
	return uint64(s.Head - s.Position)
}

// Status reports every tenant the runner projects, ordered by tenant. It
// reads only what the runner holds in memory.
func (r *Runner) Status() []TenantStatus {
	r.mu.Lock()
	runs := make([]*tenantRun, 0, len(r.tenants))
	for _, tr := range r.tenants {
		runs = append(runs, tr)
	}
	r.mu.Unlock()
	out := make([]TenantStatus, 0, len(runs))
	for _, tr := range runs {
		tr.mu.Lock()
		if !tr.stopped {
			out = append(out, TenantStatus{Tenant: tr.t, Subscribed: tr.subscribed, Since: tr.since,
				Position: tr.low(tr.committed), Head: max(tr.head, tr.low(tr.committed)), CaughtUp: tr.caughtUp, Commits: tr.commits})
		}
		tr.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b TenantStatus) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out
}

// sawHead records that the source reported the log to reach pos plus
// pending (an Atrium-Pending value; empty when the source does not know).
// Called with tr.mu held.
func (tr *tenantRun) sawHead(pos streams.Position, pending string) {
	head := pos
	if n, err := strconv.ParseUint(pending, 10, 64); err == nil {
		head += streams.Position(n)
	}
	tr.head = max(tr.head, head)
}
