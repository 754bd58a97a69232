package assembly_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/auth"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/postgres/pglocal"
	"github.com/atrium-platform/atrium/adapters/postgres/pgtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/modules"
	"github.com/atrium-platform/atrium/projections"
	atriumstreams "github.com/atrium-platform/atrium/streams"
)

// TestRebuildOnASharedReadStore runs two instances on one NATS and one
// PostgreSQL server. A rebuild asked of the instance that does not hold
// the tenant's lease is done by the one that does: the read model is
// emptied and projected again there, and the asking instance never starts
// projecting the tenant (two projecting instances would race on every
// batch, and the lease would no longer say who writes).
func TestRebuildOnASharedReadStore(t *testing.T) {
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown) // after the instances' own clean-ups
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "rb" + pglocal.RandomHex(4) + "_"
	open := func() *assembly.Process {
		p, err := assembly.Open(ctx, assembly.Config{DataDir: t.TempDir(), NATSURL: srv.ClientURL(),
			ReadStore: assembly.StorePostgres, ReadServerURL: pg.URL, ReadPrefix: prefix, ReadMaxConns: 8,
			SecretKey:  "k1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			BaseDomain: "atrium.test", Modules: modules.All(), Passwords: auth.Argon2{MemoryKiB: 1024, Passes: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	a := open()
	provision(t, a, "acme")
	b := open()
	acme := tenant.With(ctx, "acme")

	projects := func(p *assembly.Process) bool {
		return slices.ContainsFunc(p.Runner.Status(), func(s projections.TenantStatus) bool { return s.Tenant == "acme" })
	}
	// The lease goes to the instance whose fair share it is (the first
	// in name order), which may be b: a, which took it alone, gives it
	// back at its next round (every 2 s). The holder is the instance that
	// still projects acme alone two rounds later.
	var holder, other *assembly.Process
	for holder == nil {
		var h, o *assembly.Process
		switch pa, pb := projects(a), projects(b); {
		case pa && !pb:
			h, o = a, b
		case pb && !pa:
			h, o = b, a
		case ctx.Err() != nil:
			t.Fatalf("acme projected by a: %v, by b: %v", pa, pb)
		default:
			time.Sleep(50 * time.Millisecond) // the leases settle
			continue
		}
		time.Sleep(5 * time.Second)
		if projects(h) && !projects(o) {
			holder, other = h, o
		}
	}
	exec := func(query string, args ...any) {
		db, err := holder.Reads.Open(acme)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Release()
		if _, err := db.ExecContext(acme, query, args...); err != nil {
			t.Fatal(err)
		}
	}
	members := func() (n int) {
		db, err := holder.Reads.Open(acme)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Release()
		if err := db.QueryRowContext(acme, `SELECT COUNT(*) FROM members`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitMembers := func(want int) {
		for members() != want {
			if ctx.Err() != nil {
				t.Fatalf("%d members in acme's read model, want %d", members(), want)
			}
			time.Sleep(20 * time.Millisecond) // the replay
		}
	}
	waitMembers(1) // the first admin
	if err := holder.Runner.WaitFor(acme, mustHead(t, holder, acme)); err != nil {
		t.Fatal(err)
	}

	for i, p := range []*assembly.Process{other, holder, other} {
		// A row no event made: a rebuild replaces it with the events' rows.
		exec(`INSERT INTO members (user_id, email, name, roles, added_at, position, status) VALUES ('ghost', 'ghost@example.com', 'Ghost', '[]', '2026-01-01T00:00:00Z', 999999, 'active')`)
		waitMembers(2)
		if err := p.Rebuild(acme, "memberlist"); err != nil {
			t.Fatalf("rebuild %d: %v", i, err)
		}
		waitMembers(1)
		if projects(other) {
			t.Fatalf("rebuild %d: acme is projected by the instance without its lease", i)
		}
		if !projects(holder) {
			t.Fatalf("rebuild %d: acme is no longer projected by the lease holder", i)
		}
	}
	if err := other.Rebuild(acme, "nothing"); !errors.Is(err, projections.ErrUnknownReadModel) {
		t.Fatalf("rebuild of an unknown read model: %v", err)
	}
}

func mustHead(t *testing.T, p *assembly.Process, ctx context.Context) atriumstreams.Position {
	t.Helper()
	h, err := p.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
