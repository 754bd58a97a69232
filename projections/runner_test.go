package projections_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/commands"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/streams"
)

type threshold int64

// InvoicePolicy accepts EUR only, with the threshold t.
func (t threshold) InvoicePolicy(context.Context) (invoice.Policy, error) {
	return invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": money.New(int64(t), "EUR")}}, nil
}

// noMembers answers that the tenants have no members: these invoices name
// no sales_rep.
type noMembers struct{}

func (noMembers) Roles(context.Context, string) ([]user.Role, bool, error) { return nil, false, nil }

var today = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return today }

type stack struct {
	nc        *nats.Conn
	store     *jetstream.Store
	reg       *streams.Registry
	reads     *sqlite.Store
	readDir   string
	h         *invoicecmd.Handler
	list      *invoicelist.Queries
	aging     *aging.Queries
	projs     []projections.Projector
	ctx       context.Context
	newRunner func(t *testing.T) *projections.Runner
}

func newStack(t *testing.T) *stack {
	t.Helper()
	_, nc := jetstreamtest.Start(t)
	return newStackOn(t, nc)
}

// newStackOn is newStack on the server nc is connected to.
func newStackOn(t *testing.T, nc *nats.Conn) *stack {
	t.Helper()
	store, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg := streams.NewRegistry()
	streams.Register(reg, invoicecmd.Events()...)
	streams.Register(reg, commands.Events()...)
	dir := t.TempDir()
	reads, err := sqlite.Open(dir, sqlite.Config{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reads.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	s := &stack{nc: nc, store: store, reg: reg, reads: reads, readDir: dir, ctx: ctx,
		h:     invoicecmd.NewHandler(&commands.Executor{Store: store, Registry: reg}, threshold(1_000_000), noMembers{}, clock),
		list:  invoicelist.NewQueries(reads, clock),
		aging: aging.NewQueries(reads, clock),
		projs: []projections.Projector{invoicelist.New(), aging.New()},
	}
	poison, err := jetstream.NewPoisonPublisher(ctx, nc, jetstream.QuietLogger(slog.Default()))
	if err != nil {
		t.Fatal(err)
	}
	s.newRunner = func(t *testing.T) *projections.Runner {
		t.Helper()
		src, err := jetstream.NewSource(nc, jetstream.QuietLogger(slog.Default()))
		if err != nil {
			t.Fatal(err)
		}
		r, err := projections.NewRunner(projections.RunnerConfig{
			Store: reads, Migrator: reads, Registry: reg, Source: src, Projectors: s.projs, Poison: poison,
			BatchSize: 7, Retries: 1, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	for _, tn := range []tenant.ID{"acme", "globex"} {
		tctx := tenant.With(ctx, tn)
		if err := store.Provision(tctx); err != nil {
			t.Fatal(err)
		}
		if err := reads.Migrate(tctx, s.projs...); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func as(ctx context.Context, tn tenant.ID, role user.Role) context.Context {
	return user.With(tenant.With(ctx, tn), user.Principal{ID: user.ID("u-" + string(role)), Roles: []user.Role{role}})
}

func draft(client string, due string, price int64) invoicecmd.CreateInvoice {
	return invoicecmd.CreateInvoice{Client: invoicecmd.Client{ID: client, Name: "Client " + client}, Currency: "EUR", DueDate: due,
		Lines: []invoicecmd.Line{{Description: "Work", Quantity: 1, UnitPrice: money.New(price, "EUR")}}}
}

func wait(t *testing.T, r *projections.Runner, ctx context.Context, pos streams.Position) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := r.WaitFor(wctx, pos); err != nil {
		t.Fatalf("wait for %d: %v", pos, err)
	}
}

func TestProjectsInvoicesAndAging(t *testing.T) {
	s := newStack(t)
	r := s.newRunner(t)
	fin := as(s.ctx, "acme", user.Finance)
	if err := r.Start(fin); err != nil {
		t.Fatal(err)
	}
	var last streams.Position
	mk := func(client, due string, price, pay int64) string {
		c, err := s.h.Create(fin, draft(client, due, price))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.h.Issue(fin, invoicecmd.IssueInvoice{InvoiceID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
		if pay > 0 {
			res, err = s.h.Pay(fin, invoicecmd.RecordPayment{InvoiceID: c.ID, Amount: money.New(pay, "EUR"), PaidAt: today.Format(time.RFC3339)})
			if err != nil {
				t.Fatal(err)
			}
			last = res.Position
		}
		return c.ID
	}
	overdue := mk("C1", "2026-10-01", 50_000, 10_000) // 53 days late, 400.00 left
	mk("C1", "2026-12-01", 20_000, 0)                 // not yet due
	mk("C2", "2026-07-01", 30_000, 30_000)            // paid: not outstanding
	mk("C2", "2026-08-01", 70_000, 0)                 // 114 days late
	wait(t, r, fin, last)

	inv, err := s.list.Get(fin, overdue)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != "partially_paid" || inv.Paid.Amount != 10_000 || inv.Due.Amount != 40_000 || !inv.Overdue || inv.Number == "" || inv.Version != 3 {
		t.Fatalf("invoice %+v", inv)
	}
	report, err := s.aging.Report(fin)
	if err != nil {
		t.Fatal(err)
	}
	if len(report) != 2 {
		t.Fatalf("report %+v", report)
	}
	if c1 := report[0]; c1.ClientID != "C1" || c1.Current.Amount != 20_000 || c1.Days31To60.Amount != 40_000 || c1.Total.Amount != 60_000 {
		t.Fatalf("C1 %+v", c1)
	}
	if c2 := report[1]; c2.ClientID != "C2" || c2.Over90.Amount != 70_000 || c2.Total.Amount != 70_000 {
		t.Fatalf("C2 %+v", c2)
	}

	// Paging: 4 invoices, pages of 3 then 1.
	p1, err := s.list.List(fin, invoicelist.Filter{Limit: 3})
	if err != nil || len(p1.Items) != 3 || p1.NextCursor == "" {
		t.Fatalf("page 1: %d %q %v", len(p1.Items), p1.NextCursor, err)
	}
	p2, err := s.list.List(fin, invoicelist.Filter{Limit: 3, Cursor: p1.NextCursor})
	if err != nil || len(p2.Items) != 1 || p2.NextCursor != "" {
		t.Fatalf("page 2: %d %q %v", len(p2.Items), p2.NextCursor, err)
	}
	if _, err := s.list.List(fin, invoicelist.Filter{Cursor: "garbage"}); !errors.Is(err, invoicelist.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	paid, err := s.list.List(fin, invoicelist.Filter{Status: "paid"})
	if err != nil || len(paid.Items) != 1 {
		t.Fatalf("paid filter: %+v %v", paid, err)
	}

	// Nothing of acme's is in globex's database, and employees read nothing.
	gl, err := s.list.List(as(s.ctx, "globex", user.Finance), invoicelist.Filter{})
	if err != nil || len(gl.Items) != 0 {
		t.Fatalf("globex sees %d invoices (%v)", len(gl.Items), err)
	}
	if _, err := s.list.Get(as(s.ctx, "globex", user.Finance), overdue); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("globex reading acme's invoice: %v", err)
	}
	if _, err := s.list.List(as(s.ctx, "acme", user.Employee), invoicelist.Filter{}); err == nil {
		t.Fatal("an employee listed invoices")
	}
}

func TestRestartFromCheckpointChangesNothing(t *testing.T) {
	s := newStack(t)
	fin := as(s.ctx, "acme", user.Finance)
	r := s.newRunner(t)
	if err := r.Start(fin); err != nil {
		t.Fatal(err)
	}
	var last streams.Position
	for range 20 {
		c, err := s.h.Create(fin, draft("C1", "2026-12-31", 1000))
		if err != nil {
			t.Fatal(err)
		}
		last = c.Position
	}
	wait(t, r, fin, last)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// A second runner resumes from the committed checkpoint; more events
	// arrive; every invoice is there once.
	for range 5 {
		c, err := s.h.Create(fin, draft("C1", "2026-12-31", 1000))
		if err != nil {
			t.Fatal(err)
		}
		last = c.Position
	}
	r2 := s.newRunner(t)
	if err := r2.Start(fin); err != nil {
		t.Fatal(err)
	}
	wait(t, r2, fin, last)
	page, err := s.list.List(fin, invoicelist.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 25 {
		t.Fatalf("%d invoices after restart, want 25", len(page.Items))
	}
	if pos, err := r2.Position(fin); err != nil || pos != last {
		t.Fatalf("position %d (%v), want %d", pos, err, last)
	}
}

func TestWaitForLagsWhenNotProjected(t *testing.T) {
	s := newStack(t)
	fin := as(s.ctx, "acme", user.Finance)
	r := s.newRunner(t)
	if err := r.Start(fin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(fin, 100*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, 1_000_000); !errors.Is(err, projections.ErrLagging) {
		t.Fatalf("wait for a position never reached: %v", err)
	}
	if err := r.WaitFor(context.Background(), 1); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("wait without tenant: %v", err)
	}
}

func TestPoisonEventGoesToPoisonQueue(t *testing.T) {
	s := newStack(t)
	fin := as(s.ctx, "acme", user.Finance)
	// A registered type whose data cannot decode.
	n, _ := streams.NewName("acme", "invoice", uuid.NewString())
	if _, err := s.store.Append(fin, n, streams.NoStream, streams.EventData{ID: uuid.New(), Type: "invoice.drafted.v1", Data: []byte(`{"total":"lots"}`)}); err != nil {
		t.Fatal(err)
	}
	good, err := s.h.Create(fin, draft("C1", "2026-12-31", 1000))
	if err != nil {
		t.Fatal(err)
	}
	r := s.newRunner(t)
	if err := r.Start(fin); err != nil {
		t.Fatal(err)
	}
	wait(t, r, fin, good.Position)
	if _, err := s.list.Get(fin, good.ID); err != nil {
		t.Fatalf("the event after the poison one: %v", err)
	}
	js, _ := natsjs.New(s.nc)
	st, err := js.Stream(s.ctx, "ATRIUM_POISON")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(s.ctx, "poison.acme")
	if err != nil {
		t.Fatalf("no poison message for acme: %v", err)
	}
	if msg.Header.Get(streams.MetaStream) != string(n) {
		t.Fatalf("poison message is of stream %q", msg.Header.Get(streams.MetaStream))
	}
}

func TestSchemaBehindIsNotProjected(t *testing.T) {
	s := newStack(t)
	// A tenant whose database was never migrated.
	ctx := as(s.ctx, "initech", user.Finance)
	if err := s.store.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	r := s.newRunner(t)
	if err := r.Start(ctx); !errors.Is(err, projections.ErrSchemaBehind) {
		t.Fatalf("start on an unmigrated database: %v", err)
	}
	if err := s.reads.Migrate(ctx, s.projs...); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatalf("start after migrating: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.readDir, "tenants", "initech", "read.db")); err != nil {
		t.Fatalf("tenant database file: %v", err)
	}
}

func TestTenantsProjectSideBySide(t *testing.T) {
	s := newStack(t)
	r := s.newRunner(t)
	ctxs := map[tenant.ID]context.Context{"acme": as(s.ctx, "acme", user.Finance), "globex": as(s.ctx, "globex", user.Finance)}
	for _, ctx := range ctxs {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	last := map[tenant.ID]streams.Position{}
	var mu sync.Mutex
	for tn, ctx := range ctxs {
		wg.Go(func() {
			for i := range 15 {
				c, err := s.h.Create(ctx, draft("C-"+string(tn), "2026-12-31", 1000))
				if err != nil {
					t.Error(err)
					return
				}
				if tn == "acme" && i == 7 {
					// Stopped and started mid-flow: resumes from its checkpoint.
					if err := r.Stop(ctx); err != nil {
						t.Error(err)
					}
					if err := r.Start(ctx); err != nil {
						t.Error(err)
					}
				}
				mu.Lock()
				last[tn] = c.Position
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for tn, ctx := range ctxs {
		wait(t, r, ctx, last[tn])
		page, err := s.list.List(ctx, invoicelist.Filter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 15 {
			t.Fatalf("%s has %d invoices, want 15", tn, len(page.Items))
		}
		for _, inv := range page.Items {
			if inv.ClientID != "C-"+string(tn) {
				t.Fatalf("%s's database holds an invoice of client %s", tn, inv.ClientID)
			}
		}
	}
}

func TestProjectsEventsAppendedAfterTheConsumerIsLost(t *testing.T) {
	// The consumer is deleted underneath (the server says so), or the
	// server comes back without it, as a cluster node that held it does
	// (nothing says so: its heartbeats stop).
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, s *stack, srv *jetstreamtest.Restartable)
	}{
		{"deleted", func(t *testing.T, s *stack, _ *jetstreamtest.Restartable) {
			js, err := natsjs.New(s.nc)
			if err != nil {
				t.Fatal(err)
			}
			st, err := js.Stream(s.ctx, jetstream.StreamName("acme"))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for name := range st.ConsumerNames(s.ctx).Name() {
				if err := st.DeleteConsumer(s.ctx, name); err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 1 {
				t.Fatalf("%d consumers deleted, want acme's one", n)
			}
		}},
		{"lost with its server", func(t *testing.T, _ *stack, srv *jetstreamtest.Restartable) {
			srv.Stop()
			srv.ForgetConsumers(jetstream.StreamName("acme"))
			srv.Start()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := jetstreamtest.StartRestartable(t)
			s := newStackOn(t, srv.Connect(t.Name()))
			fin := as(s.ctx, "acme", user.Finance)
			r := s.newRunner(t)
			if err := r.Start(fin); err != nil {
				t.Fatal(err)
			}
			first, err := s.h.Create(fin, draft("C1", "2026-12-31", 1000))
			if err != nil {
				t.Fatal(err)
			}
			wait(t, r, fin, first.Position)
			tc.lose(t, s, srv)
			var later commands.Result
			deadline := time.Now().Add(10 * time.Second)
			for {
				// Appending may fail while the server restarts.
				if later, err = s.h.Create(fin, draft("C1", "2026-12-31", 1000)); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("append after the loss: %v", err)
				}
				time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
			}
			// A plain read, without waiting for a position: the invoice is
			// there within seconds, not after the client's default
			// heartbeat timeout (30 s).
			for {
				if _, err := s.list.Get(fin, later.ID); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("an invoice appended after the consumer was lost is not projected after 10s: %v", r.Status())
				}
				time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
			}
		})
	}
}
