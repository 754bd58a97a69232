package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/commands"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
	"golang.org/x/sync/errgroup"
)

// tenantsFigure is what the tenants part measured, as `atrium bench
// --json` prints it.
type tenantsFigure struct {
	Tenants          int          `json:"tenants"`
	ProvisionTotalMs float64      `json:"provision_total_ms"`
	Provision        lagFigure    `json:"provision_one"`
	Memory           memoryFigure `json:"memory"`
	ReadPoolsOpen    int          `json:"read_pools_open"`
	MigrateMs        float64      `json:"migrate_ms,omitempty"`
	MigrateParallel  int          `json:"migrate_parallel,omitempty"`
}

// benchTenants provisions n tenants in one process (each with its event
// stream, read database, migrations, first admin and running projections),
// then reports the time to provision one, the process's memory while it
// serves them all, and the time to migrate n fresh read databases.
func benchTenants(ctx context.Context, rep *benchReport, dir string, n, parallel int) error {
	st, err := assembly.Open(ctx, assembly.Config{DataDir: filepath.Join(dir, "tenants"), BaseDomain: "bench.test", Modules: modules.All()})
	if err != nil {
		return err
	}
	defer st.Close()
	fig, err := provisionTenants(ctx, rep, st, n)
	if err != nil {
		return err
	}

	// Migrating n read databases from nothing, as `atrium migrate` does.
	reads, err := sqlite.Open(filepath.Join(dir, "migrate"), sqlite.Config{})
	if err != nil {
		return err
	}
	defer reads.Close()
	mstart := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i := range n {
		g.Go(func() error {
			return reads.Migrate(tenant.With(gctx, tenant.ID(fmt.Sprintf("t%05d", i))), st.Projectors...)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	took := time.Since(mstart)
	rep.printf("%d fresh tenant read databases migrated (%d read models each) in %s, %d at once\n",
		n, len(st.Projectors), took.Round(time.Millisecond), parallel)
	fig.MigrateMs, fig.MigrateParallel = ms(took), parallel
	rep.figure("tenants", fig)
	return nil
}

// provisionTenants provisions n tenants one after another through the
// tenancy command, as an operator does, and reports the time each took
// and what the process's memory grew by once it serves them all.
func provisionTenants(ctx context.Context, rep *benchReport, st *assembly.Process, n int) (tenantsFigure, error) {
	before := settledMemory()
	admin := user.With(ctx, user.Principal{ID: "bench", Roles: []user.Role{user.PlatformAdmin}})
	took := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{
			Request: commands.Request{CommandID: newCommandID()}, Slug: fmt.Sprintf("t%05d", i), Name: fmt.Sprintf("Tenant %d", i),
			Admin: tenancycmd.FirstAdmin{Email: fmt.Sprintf("admin@t%05d.example", i), Name: "Admin", Password: "bench admin password"},
		}); err != nil {
			return tenantsFigure{}, fmt.Errorf("provision tenant %d: %w", i, err)
		}
		took = append(took, time.Since(t0))
	}
	total := time.Since(start)
	after := settledMemory()
	p50, p99 := p50p99(took)
	fig := tenantsFigure{Tenants: n, ProvisionTotalMs: ms(total), Provision: lag(p50, p99),
		Memory: perTenant(before, after, n), ReadPoolsOpen: st.Reads.OpenCount()}
	fig.Memory.JetStream.account(ctx, st.NC)
	rep.printf("\n%d tenants provisioned one after another in %s: p50 %s, p99 %s each (first admin's argon2id hash included)\n",
		n, total.Round(time.Millisecond), p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	fig.Memory.print(rep, n)
	rep.printf("%d read pools open (bounded)\n", fig.ReadPoolsOpen)
	return fig, nil
}
