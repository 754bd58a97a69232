package assembly

import (
	"context"
	"fmt"
	"time"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/memberlist"
)

// checkSeats refuses a membership of t past its plan's seats (403
// quota_exceeded, field seats), before anything of it is written. The
// members are counted in t's members list once it has projected t's log
// as far as it reaches now (for at most 2 s), so members added one after
// another are each counted; two added at the same moment may both pass
// the last seat.
func (p *Process) checkSeats(ctx context.Context, t tenant.ID) error {
	plan, ok := p.Catalog.PlanOf(t)
	if !ok || plan.Limits.Seats <= 0 {
		return nil
	}
	tctx := tenant.With(ctx, t)
	if p.Runner != nil {
		head, err := p.Store.Head(tctx)
		if err != nil {
			return err
		}
		err = atriumhttp.Waiting(ctx, func() error {
			wctx, cancel := context.WithTimeout(tctx, 2*time.Second)
			defer cancel()
			return p.Runner.WaitFor(wctx, head)
		})
		if err != nil {
			return err
		}
	}
	n, err := memberlist.NewQueries(p.Reads).Seats(tctx)
	if err != nil {
		return err
	}
	if n >= plan.Limits.Seats {
		return &domain.Error{Kind: domain.Forbidden, Code: "quota_exceeded", Field: "seats",
			Message: fmt.Sprintf("the tenant's plan (%s) allows %d members", plan.Name, plan.Limits.Seats)}
	}
	return nil
}
