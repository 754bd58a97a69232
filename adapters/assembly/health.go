package assembly

import (
	"context"
	"fmt"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Progress reports how far the ctx tenant's log reaches and how far each of
// its read models has projected it, from whichever instance projects it.
func (p *Process) Progress(ctx context.Context) (streams.Position, map[string]streams.Position, error) {
	if p.Runner == nil {
		return 0, nil, fmt.Errorf("progress: this instance does not project: %w", streams.ErrUnavailable)
	}
	head, err := p.Store.Head(ctx)
	if err != nil {
		return 0, nil, err
	}
	cps, err := p.Runner.Checkpoints(ctx)
	if err != nil {
		return 0, nil, err
	}
	return head, cps, nil
}

// Health reports every tenant of the catalog as this instance knows it: its
// projection here (or elsewhere, on a shared read store) and its events in
// the poison queue.
func (p *Process) Health(ctx context.Context) ([]atriumhttp.TenantHealth, error) {
	poisoned, err := jetstream.PoisonCounts(ctx, p.NC)
	if err != nil {
		return nil, err
	}
	here := map[tenant.ID]projections.TenantStatus{}
	if p.Runner != nil {
		for _, s := range p.Runner.Status() {
			here[s.Tenant] = s
		}
	}
	var out []atriumhttp.TenantHealth
	for _, st := range p.Catalog.List() {
		h := atriumhttp.TenantHealth{Tenant: st.ID, Poisoned: poisoned[st.ID]}
		if s, ok := here[st.ID]; ok {
			h.Here, h.Subscribed, h.Position, h.Head, h.CaughtUp = true, s.Subscribed, s.Position, s.Head, s.CaughtUp
		}
		out = append(out, h)
	}
	return out, nil
}
