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

// seatLock is one tenant's turn to take a seat: a membership is counted
// and written while its holder has it.
type seatLock chan struct{}

// checkSeats refuses a membership of t past its plan's seats (403
// quota_exceeded, field seats), before anything of it is written. Within
// this process one membership of a tenant is checked and written at a
// time (the seat is held until release): the members are counted in t's
// members list once it has projected t's log as far as it reaches then
// (for at most 2 s), so the one before is counted. Two instances adding a
// member of one tenant at the same moment may both take its last seat.
func (p *Process) checkSeats(ctx context.Context, t tenant.ID) (release func(), err error) {
	plan, ok := p.Catalog.PlanOf(t)
	if !ok || plan.Limits.Seats <= 0 {
		return func() {}, nil
	}
	v, _ := p.seats.LoadOrStore(t, make(seatLock, 1))
	lock := v.(seatLock)
	tctx := tenant.With(ctx, t)
	// Waiting for the turn and for the projection needs no CPU: the
	// request's own turn of the tenant's work is given up meanwhile.
	err = atriumhttp.Waiting(ctx, func() error {
		select {
		case lock <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.Runner == nil {
			return nil
		}
		head, err := p.Store.Head(tctx)
		if err == nil {
			wctx, cancel := context.WithTimeout(tctx, 2*time.Second)
			err = p.Runner.WaitFor(wctx, head)
			cancel()
		}
		if err != nil {
			<-lock
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	release = func() { <-lock }
	n, err := memberlist.NewQueries(p.Reads).Seats(tctx)
	if err != nil {
		release()
		return nil, err
	}
	if n >= plan.Limits.Seats {
		release()
		return nil, &domain.Error{Kind: domain.Forbidden, Code: "quota_exceeded", Field: "seats",
			Message: fmt.Sprintf("the tenant's plan (%s) allows %d members", plan.Name, plan.Limits.Seats)}
	}
	return release, nil
}
