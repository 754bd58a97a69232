package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
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

// benchTenants provisions n tenants in one process (each with its event
// stream, read database, migrations, first admin and running projections),
// then reports the time to provision one, the process's memory while it
// serves them all, and the time to migrate n fresh read databases.
func benchTenants(ctx context.Context, dir string, n, parallel int) error {
	st, err := assembly.Open(ctx, assembly.Config{DataDir: filepath.Join(dir, "tenants"), BaseDomain: "bench.test", Modules: modules.All()})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := provisionTenants(ctx, st, n); err != nil {
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
	fmt.Printf("%d fresh tenant read databases migrated (%d read models each) in %s, %d at once\n",
		n, len(st.Projectors), time.Since(mstart).Round(time.Millisecond), parallel)
	return nil
}

// provisionTenants provisions n tenants one after another through the
// tenancy command, as an operator does, and reports the time each took
// and the process's memory once it serves them all.
func provisionTenants(ctx context.Context, st *assembly.Process, n int) error {
	heapBefore, rssBefore := memory()
	admin := user.With(ctx, user.Principal{ID: "bench", Roles: []user.Role{user.PlatformAdmin}})
	took := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{
			Request: commands.Request{CommandID: newCommandID()}, Slug: fmt.Sprintf("t%05d", i), Name: fmt.Sprintf("Tenant %d", i),
			Admin: tenancycmd.FirstAdmin{Email: fmt.Sprintf("admin@t%05d.example", i), Name: "Admin", Password: "bench admin password"},
		}); err != nil {
			return fmt.Errorf("provision tenant %d: %w", i, err)
		}
		took = append(took, time.Since(t0))
	}
	total := time.Since(start)
	runtime.GC()
	heapAfter, rssAfter := memory()
	slices.Sort(took)
	fmt.Printf("\n%d tenants provisioned one after another in %s: p50 %s, p99 %s each (first admin's argon2id hash included)\n",
		n, total.Round(time.Millisecond), took[n/2].Round(time.Millisecond), took[n*99/100].Round(time.Millisecond))
	fmt.Printf("one process serving %d tenants: heap in use %s (%s before), resident %s (%s before); %d read pools open (bounded)\n",
		n, mib(heapAfter), mib(heapBefore), mib(rssAfter), mib(rssBefore), st.Reads.OpenCount())
	return nil
}

func memory() (heap, rss uint64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	heap = m.HeapInuse
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	return heap, rss
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
