package projections

import (
	"context"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Scheduler shares the process's work between tenants: Acquire returns
// once the tenant may run a piece of work, with the function that ends it,
// or ctx's error. A tenant's projection takes a turn for each event it
// applies and each batch it commits, alongside its requests, so a tenant
// at saturation does not keep more CPUs busy than its share.
type Scheduler interface {
	Acquire(ctx context.Context, t tenant.ID) (release func(), err error)
}

// turn waits for the tenant's turn to work, when the runner has a
// scheduler.
func (tr *tenantRun) turn(ctx context.Context) (func(), error) {
	if tr.r.cfg.Scheduler == nil {
		return func() {}, nil
	}
	return tr.r.cfg.Scheduler.Acquire(tenant.With(ctx, tr.t), tr.t)
}
