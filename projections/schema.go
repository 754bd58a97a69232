package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Migrator reports a tenant's schema version for a read model: the version
// its database is at, and the latest version the read model has. The tenant
// comes from ctx.
type Migrator interface {
	SchemaStatus(ctx context.Context, p Projector) (current, latest int64, err error)
}

// ErrSchemaBehind is returned by Start for a tenant whose read database is
// not migrated to its projectors' latest version: it is not projected into
// until it is.
var ErrSchemaBehind = errors.New("projections: read database schema is behind")

// schemaReady returns nil when tenant t's read database (the ctx tenant's)
// is at the latest version of the checkpoint table and of every projector,
// ErrSchemaBehind when one is behind, or the migrator's error.
func (r *Runner) schemaReady(ctx context.Context, t tenant.ID) error {
	for _, p := range r.gate {
		cur, latest, err := r.cfg.Migrator.SchemaStatus(ctx, p)
		if err != nil {
			r.cfg.Logger.Error("tenant not projected: schema status", "tenant", string(t), "read_model", p.Name(), "err", err)
			return fmt.Errorf("start projections of %s: %w", t, err)
		}
		if cur < latest {
			r.cfg.Logger.Warn("tenant not projected: read database schema behind", "tenant", string(t),
				"read_model", p.Name(), "version", cur, "latest", latest)
			return fmt.Errorf("%w: %s: %s at version %d of %d", ErrSchemaBehind, t, p.Name(), cur, latest)
		}
	}
	return nil
}
