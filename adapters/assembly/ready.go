package assembly

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// readyChecks are what /readyz asks: the NATS connection, the event store
// (the platform log's head) and the read store (a tenant's database).
func (p *Process) readyChecks() []atriumhttp.ReadyCheck {
	return []atriumhttp.ReadyCheck{
		{Name: "nats", Check: func(context.Context) error {
			if status := p.NC.Status(); status != nats.CONNECTED {
				return errors.New("nats connection " + status.String())
			}
			return nil
		}},
		{Name: "event_store", Check: func(ctx context.Context) error {
			_, err := p.Store.Head(tenant.With(ctx, tenant.Platform))
			return err
		}},
		{Name: "read_store", Check: func(ctx context.Context) error {
			ts := p.Catalog.List()
			if len(ts) == 0 {
				return nil
			}
			db, err := p.Reads.Open(tenant.With(ctx, ts[0].ID))
			if err != nil {
				return err
			}
			defer db.Release()
			return db.PingContext(ctx)
		}},
	}
}
