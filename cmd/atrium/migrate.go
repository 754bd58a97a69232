package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// migrateCmd brings every tenant's read database to the latest version of
// every read model, in parallel with a cap, and reports each tenant.
type migrateCmd struct {
	storeConfig
	Parallel int `default:"8" help:"Tenants migrated at once."`
}

type migration struct {
	tenant  tenant.ID
	changes []string
	took    time.Duration
	err     error
}

func (m *migrateCmd) Run() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("bad configuration: %s", oneLine(err))
	}
	if m.Parallel < 1 {
		return fmt.Errorf("bad configuration: --parallel must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := m.process(m.logger())
	cfg.NoProjections = true
	st, err := assembly.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	results, took := migrateAll(ctx, st, m.Parallel)
	failed := 0
	for _, r := range results {
		status := "up to date"
		if len(r.changes) > 0 {
			status = strings.Join(r.changes, ", ")
		}
		if r.err != nil {
			status = "FAILED: " + oneLine(r.err)
			failed++
		}
		fmt.Printf("%-32s %-8s %s\n", r.tenant, r.took.Round(time.Millisecond), status)
	}
	fmt.Printf("%d tenants migrated in %s (%d at once), %d failed\n", len(results)-failed, took.Round(time.Millisecond), m.Parallel, failed)
	if failed > 0 {
		return fmt.Errorf("%d tenants failed to migrate", failed)
	}
	return nil
}

// migrateAll migrates every tenant of the catalog, at most parallel at once.
func migrateAll(ctx context.Context, st *assembly.Process, parallel int) ([]migration, time.Duration) {
	tenants := st.Catalog.List()
	start := time.Now()
	var mu sync.Mutex
	var results []migration
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, t := range tenants {
		g.Go(func() error {
			r := migrateOne(tenant.With(gctx, t.ID), st)
			r.tenant = t.ID
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			return nil // one tenant's failure does not stop the others
		})
	}
	_ = g.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].tenant < results[j].tenant })
	return results, time.Since(start)
}

func migrateOne(ctx context.Context, st *assembly.Process) migration {
	start := time.Now()
	var r migration
	before := map[string]int64{}
	for _, p := range st.Projectors {
		cur, _, err := st.Reads.SchemaStatus(ctx, p)
		if err != nil {
			r.err = err
			return r
		}
		before[p.Name()] = cur
	}
	if r.err = st.OpenTenant(ctx); r.err != nil {
		return r
	}
	for _, p := range st.Projectors {
		cur, _, err := st.Reads.SchemaStatus(ctx, p)
		if err != nil {
			r.err = err
			return r
		}
		if cur != before[p.Name()] {
			r.changes = append(r.changes, fmt.Sprintf("%s %d→%d", p.Name(), before[p.Name()], cur))
		}
	}
	r.took = time.Since(start)
	return r
}
