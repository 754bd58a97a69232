package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/postgres"
	"github.com/atrium-platform/atrium/adapters/postgres/pglocal"
	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/modules"
)

// benchPostgres runs the projection and tenancy measures again with the
// read store on PostgreSQL: the server --postgres-url names, or one
// started from the machine's binaries with PostgreSQL's default
// max_connections (100).
func (b *benchCmd) benchPostgres(ctx context.Context, rep *benchReport, dir string) error {
	srv, err := pglocal.Start(b.PostgresURL, pglocal.Options{})
	if err != nil {
		if b.PostgresURL == "" {
			rep.printf("\nPostgreSQL read store: not measured (%v)\n", err)
			return nil
		}
		return err
	}
	defer srv.Admin.Close()
	var maxConns string
	if err := srv.Admin.QueryRowContext(ctx, `SHOW max_connections`).Scan(&maxConns); err != nil {
		return err
	}
	prefix := "bench" + pglocal.RandomHex(3) + "_"
	defer dropPrefixed(srv.URL, prefix)
	cfg := assembly.Config{DataDir: filepath.Join(dir, "pg"), BaseDomain: "bench.test", Modules: modules.All(),
		ReadStore: assembly.StorePostgres, ReadServerURL: srv.URL, ReadPrefix: prefix, ReadMaxConns: b.ReadMaxConns}
	p, err := assembly.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	rep.printf("\nPostgreSQL read store (server max_connections %s, ATRIUM_READ_MAX_CONNS %d):\n", maxConns, b.ReadMaxConns)
	raw, proj, p50, p99, err := b.projectionRounds(ctx, p)
	if err != nil {
		return fmt.Errorf("on postgres: %w", err)
	}
	rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", projectionLabel(b.Rounds), raw, proj, rep.rate("postgres_projector", raw, proj))
	rep.printf("%-44s %14s %14s\n", "append-to-visible lag p50 / p99", p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	rep.figure("postgres_append_to_visible_lag", lag(p50, p99))
	if b.Tenants == 0 {
		return nil
	}
	// The tenants are measured in a process of their own, this one closed.
	if err := p.Close(); err != nil {
		return err
	}
	return benchTenantsPostgres(ctx, rep, dir, cfg, srv, b.Tenants, b.Parallel)
}

// benchTenantsPostgres provisions n tenants, each with its own database
// and login, in a process whose read store holds at most
// ATRIUM_READ_MAX_CONNS connections; then reads from every tenant's
// projection, and migrates every database as `atrium migrate` does.
func benchTenantsPostgres(ctx context.Context, rep *benchReport, dir string, cfg assembly.Config, srv *pglocal.Server, n, parallel int) error {
	cfg.DataDir = filepath.Join(dir, "pgtenants")
	st, err := assembly.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fig, err := provisionTenants(ctx, rep, st, n)
	if err != nil {
		return err
	}
	// Every tenant's first admin, projected into its own database: read it.
	rstart := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4 * parallel)
	for i := range n {
		g.Go(func() error {
			tctx := tenant.With(gctx, tenant.ID(fmt.Sprintf("t%05d", i)))
			deadline := time.Now().Add(2 * time.Minute)
			for {
				db, err := st.Reads.Open(tctx)
				if err != nil {
					return err
				}
				var members int
				err = db.QueryRowContext(tctx, `SELECT COUNT(*) FROM members`).Scan(&members)
				db.Release()
				if err != nil {
					return fmt.Errorf("tenant %d: %w", i, err)
				}
				if members == 1 {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("tenant %d: its first admin not projected after 2 minutes", i)
				}
				time.Sleep(100 * time.Millisecond) // the projection is another goroutine's work
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	rep.printf("every one of the %d tenants answered a read of its own projected members in %s\n", n, time.Since(rstart).Round(time.Millisecond))
	used, peak, _ := st.Reads.(*serverstore.Store).Budget().Stats()
	var server int
	if err := srv.Admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE starts_with(usename, $1)`, cfg.ReadPrefix).Scan(&server); err != nil {
		return err
	}
	rep.printf("connections to PostgreSQL: %d open now (%d seen by the server), at most %d at once, budget %d\n", used, server, peak, cfg.ReadMaxConns)

	mstart := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i := range n {
		g.Go(func() error {
			return st.Reads.Migrate(tenant.With(gctx, tenant.ID(fmt.Sprintf("t%05d", i))), st.Projectors...)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	took := time.Since(mstart)
	rep.printf("atrium migrate over the %d tenant databases (%d read models each, all at their latest version) in %s, %d at once\n",
		n, len(st.Projectors), took.Round(time.Millisecond), parallel)
	fig.MigrateMs, fig.MigrateParallel = ms(took), parallel
	rep.figure("postgres_tenants", fig)
	return nil
}

// dropPrefixed drops the databases and logins the bench created.
func dropPrefixed(url, prefix string) {
	s, err := serverstore.Open(postgresEngine(), serverstore.Config{URL: url, Prefix: prefix, Credentials: &serverstore.MemoryCredentials{}})
	if err != nil {
		return
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ts, _ := s.Tenants(ctx)
	for _, t := range ts {
		_ = s.Drop(tenant.With(ctx, t))
	}
}

func postgresEngine() serverstore.Engine { return postgres.Engine{} }
