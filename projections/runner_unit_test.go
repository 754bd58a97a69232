package projections_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

// flaky is a test read model: one row per event it is given, and failures
// on demand.
type flaky struct {
	failAt       streams.Position // Apply writes, then fails, at this position...
	fails        atomic.Int32     // ...this many times (negative: always)
	panicAt      streams.Position
	commitFailAt streams.Position // writes a row that breaks a deferred foreign key
	versions     int              // how many migrations it has; default 1
}

func (*flaky) Name() string { return "flaky" }

func (f *flaky) Migrations(projections.Dialect) (fs.FS, error) {
	m := fstest.MapFS{"00001_flaky.sql": {Data: []byte(`-- +goose Up
CREATE TABLE flaky (position INTEGER PRIMARY KEY);
CREATE TABLE flaky_parent (id INTEGER PRIMARY KEY);
CREATE TABLE flaky_child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES flaky_parent (id) DEFERRABLE INITIALLY DEFERRED);
-- +goose Down
DROP TABLE flaky_child;
DROP TABLE flaky_parent;
DROP TABLE flaky;
`)}}
	if f.versions > 1 {
		m["00002_note.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nALTER TABLE flaky ADD COLUMN note TEXT;\n-- +goose Down\nALTER TABLE flaky DROP COLUMN note;\n")}
	}
	return m, nil
}

func (f *flaky) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, _ domain.Event) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO flaky (position) VALUES (?)`, int64(rec.Position)); err != nil {
		return err
	}
	switch rec.Position {
	case f.panicAt:
		panic("flaky panics")
	case f.commitFailAt:
		_, err := tx.ExecContext(ctx, `INSERT INTO flaky_child (id, parent) VALUES (?, 404)`, int64(rec.Position))
		return err
	case f.failAt:
		if f.fails.Add(-1) >= 0 || f.fails.Load() < -1_000 {
			return errors.New("flaky fails")
		}
	}
	return nil
}

// poisonBox is a message.Publisher keeping what it is given.
type poisonBox struct {
	mu   sync.Mutex
	msgs map[string][]*message.Message
}

func (p *poisonBox) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]*message.Message{}
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	return nil
}

func (*poisonBox) Close() error { return nil }

// positions returns the positions of the events poisoned on topic.
func (p *poisonBox) positions(topic string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs[topic] {
		out = append(out, m.Metadata.Get(streams.MetaPosition))
	}
	return out
}

// sources dispatches subscriptions to each tenant's source.
type sources map[tenant.ID]*projectiontest.Source

func (s sources) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	src, ok := s[t]
	if !ok {
		return nil, fmt.Errorf("no events for %s", t)
	}
	return src.Subscribe(ctx, after)
}

type unit struct {
	t      *testing.T
	reads  *sqlite.Store
	reg    *streams.Registry
	logs   map[tenant.ID]*projectiontest.Log
	srcs   sources
	poison *poisonBox
	flaky  *flaky
	projs  []projections.Projector
	list   *invoicelist.Queries
	n      int
}

func newUnit(t *testing.T) *unit {
	t.Helper()
	reads, err := sqlite.Open(t.TempDir(), sqlite.Config{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reads.Close() })
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{}, invoice.Issued{}, invoice.PaymentRecorded{}, invoice.Cancelled{})
	u := &unit{t: t, reads: reads, reg: reg, logs: map[tenant.ID]*projectiontest.Log{}, srcs: sources{},
		poison: &poisonBox{}, flaky: &flaky{}}
	u.projs = []projections.Projector{invoicelist.New(), u.flaky}
	u.list = invoicelist.NewQueries(reads, time.Now)
	for _, tn := range []tenant.ID{"acme", "globex"} {
		u.logs[tn] = projectiontest.NewLog(tn, reg)
		u.srcs[tn] = projectiontest.NewSource(u.logs[tn])
		if err := reads.Migrate(tenant.With(context.Background(), tn), u.projs...); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func (u *unit) runner(mutate func(*projections.RunnerConfig)) *projections.Runner {
	u.t.Helper()
	cfg := projections.RunnerConfig{
		Store: u.reads, Registry: u.reg, Source: u.srcs, Projectors: u.projs, Poison: u.poison,
		Retries: 2, MaxBatchDelay: time.Hour, ResubscribeDelay: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := projections.NewRunner(cfg)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { _ = r.Close() })
	return r
}

func ctxOf(tn tenant.ID) context.Context {
	return user.With(tenant.With(context.Background(), tn), user.Principal{ID: "u-1", Roles: []user.Role{user.Finance}})
}

// drafts appends n drafted invoices to tn's log.
func (u *unit) drafts(tn tenant.ID, n int) {
	u.t.Helper()
	l := u.logs[tn]
	for range n {
		u.n++
		id := fmt.Sprint("inv-", u.n)
		l.Append(u.t, l.Stream(u.t, "invoice", id), invoice.Drafted{InvoiceID: id, Client: invoice.Client{ID: "C1", Name: "C1"},
			Currency: "EUR", DueDate: "2026-12-31", Total: money.New(100, "EUR")})
	}
}

func (u *unit) start(r *projections.Runner, tn tenant.ID) {
	u.t.Helper()
	if err := r.Start(ctxOf(tn)); err != nil {
		u.t.Fatal(err)
	}
}

func (u *unit) waitFor(r *projections.Runner, tn tenant.ID, pos streams.Position) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(ctxOf(tn), 20*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, pos); err != nil {
		u.t.Fatalf("%s: wait for %d: %v", tn, pos, err)
	}
}

func (u *unit) invoices(tn tenant.ID) []string {
	u.t.Helper()
	page, err := u.list.List(ctxOf(tn), invoicelist.Filter{Limit: 500})
	if err != nil {
		u.t.Fatal(err)
	}
	return ids(page.Items)
}

func ids(items []invoicelist.Invoice) []string {
	out := []string{}
	for _, i := range items {
		out = append(out, i.ID)
	}
	return out
}

// rows returns the positions in tn's flaky table, in order.
func (u *unit) rows(tn tenant.ID) []int64 {
	u.t.Helper()
	ctx := tenant.With(context.Background(), tn)
	db, err := u.reads.Open(ctx)
	if err != nil {
		u.t.Fatal(err)
	}
	defer db.Release()
	rs, err := db.QueryContext(ctx, `SELECT position FROM flaky ORDER BY position`)
	if err != nil {
		u.t.Fatal(err)
	}
	defer rs.Close()
	out := []int64{}
	for rs.Next() {
		var p int64
		if err := rs.Scan(&p); err != nil {
			u.t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rs.Err(); err != nil {
		u.t.Fatal(err)
	}
	return out
}

func (u *unit) checkpoints(tn tenant.ID) map[string]int64 {
	u.t.Helper()
	ctx := tenant.With(context.Background(), tn)
	db, err := u.reads.Open(ctx)
	if err != nil {
		u.t.Fatal(err)
	}
	defer db.Release()
	rs, err := db.QueryContext(ctx, `SELECT projector, position FROM projection_checkpoint`)
	if err != nil {
		u.t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]int64{}
	for rs.Next() {
		var name string
		var p int64
		if err := rs.Scan(&name, &p); err != nil {
			u.t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

func seq(from, to int64, skip ...int64) []int64 {
	out := []int64{}
	for i := from; i <= to; i++ {
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == i
		}
		if !skipped {
			out = append(out, i)
		}
	}
	return out
}

func TestCommitsAsSoonAsCaughtUp(t *testing.T) {
	u := newUnit(t)
	u.drafts("acme", 30)
	r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 10_000 }) // neither size nor timer commits
	u.start(r, "acme")
	u.waitFor(r, "acme", 30)
	if got := len(u.invoices("acme")); got != 30 {
		t.Fatalf("%d invoices, want 30", got)
	}
	if cp := u.checkpoints("acme"); cp["invoicelist"] != 30 || cp["flaky"] != 30 {
		t.Fatalf("checkpoints %v", cp)
	}
	u.drafts("acme", 5) // live events
	u.waitFor(r, "acme", 35)
	if pos, err := r.Position(ctxOf("acme")); err != nil || pos != 35 {
		t.Fatalf("position %d (%v)", pos, err)
	}
}

func TestCommitsFullBatchesAndOnTheTimer(t *testing.T) {
	t.Run("batch size", func(t *testing.T) {
		u := newUnit(t)
		u.srcs["acme"].NoPending = true
		u.drafts("acme", 12)
		r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 5 })
		u.start(r, "acme")
		u.waitFor(r, "acme", 10)
		ctx, cancel := context.WithTimeout(ctxOf("acme"), 50*time.Millisecond)
		defer cancel()
		if err := r.WaitFor(ctx, 11); !errors.Is(err, projections.ErrLagging) {
			t.Fatalf("an open batch was visible: %v", err)
		}
		if got := len(u.invoices("acme")); got != 10 {
			t.Fatalf("%d invoices visible before the batch commits, want 10", got)
		}
		if err := r.Stop(ctxOf("acme")); err != nil {
			t.Fatal(err)
		}
		// Stopping commits the open batch.
		if pos, err := r.Position(ctxOf("acme")); err != nil || pos != 12 {
			t.Fatalf("position after stop %d (%v), want 12", pos, err)
		}
	})
	t.Run("timer", func(t *testing.T) {
		u := newUnit(t)
		u.srcs["acme"].NoPending = true
		u.drafts("acme", 3)
		r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 10_000; c.MaxBatchDelay = 10 * time.Millisecond })
		u.start(r, "acme")
		u.waitFor(r, "acme", 3)
	})
}

func TestRedeliveryChangesNothing(t *testing.T) {
	u := newUnit(t)
	src := u.srcs["acme"]
	src.Duplicate, src.FromStart = true, true // every event twice, and from the start on every subscription
	u.drafts("acme", 6)
	l := u.logs["acme"]
	l.Append(t, l.Stream(t, "invoice", "inv-1"), invoice.Issued{InvoiceID: "inv-1", Number: "N1", Total: money.New(100, "EUR"), DueDate: "2026-12-31"})
	l.Append(t, l.Stream(t, "invoice", "inv-1"), invoice.PaymentRecorded{InvoiceID: "inv-1", Amount: money.New(40, "EUR"), Paid: money.New(40, "EUR"), Due: money.New(60, "EUR")})
	r := u.runner(nil)
	u.start(r, "acme")
	u.waitFor(r, "acme", 8)
	before, err := u.list.Get(ctxOf("acme"), "inv-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctxOf("acme")); err != nil {
		t.Fatal(err)
	}
	u.start(r, "acme") // everything delivered again, twice
	u.drafts("acme", 1)
	u.waitFor(r, "acme", 9)
	after, err := u.list.Get(ctxOf("acme"), "inv-1")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(before) != fmt.Sprint(after) || after.Version != 3 || after.Paid.Amount != 40 {
		t.Fatalf("redelivery changed the invoice:\n%+v\n%+v", before, after)
	}
	if got := u.rows("acme"); fmt.Sprint(got) != fmt.Sprint(seq(1, 9)) {
		t.Fatalf("flaky rows %v", got)
	}
	if got := len(u.invoices("acme")); got != 7 {
		t.Fatalf("%d invoices, want 7", got)
	}
	if p := u.poison.positions("poison.acme"); len(p) != 0 {
		t.Fatalf("poisoned %v", p)
	}
}

func TestResumesFromTheCommittedCheckpoint(t *testing.T) {
	u := newUnit(t)
	u.drafts("acme", 10)
	r := u.runner(nil)
	u.start(r, "acme")
	u.waitFor(r, "acme", 10)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctxOf("acme")); !errors.Is(err, projections.ErrClosed) {
		t.Fatalf("start on a closed runner: %v", err)
	}
	u.drafts("acme", 5)
	r2 := u.runner(nil)
	u.start(r2, "acme")
	u.waitFor(r2, "acme", 15)
	subs := u.srcs["acme"].Subscribes()
	if len(subs) != 2 || subs[0] != 0 || subs[1] != 10 {
		t.Fatalf("subscriptions from %v, want [0 10]", subs)
	}
	if got := u.rows("acme"); fmt.Sprint(got) != fmt.Sprint(seq(1, 15)) {
		t.Fatalf("rows %v", got)
	}
}

func TestUnknownEventTypeIsSkipped(t *testing.T) {
	u := newUnit(t)
	u.drafts("acme", 2)
	l := u.logs["acme"]
	l.AppendRaw(l.Stream(t, "invoice", "inv-1"), "invoice.renamed.v9", []byte(`{"whatever":true}`))
	r := u.runner(nil)
	u.start(r, "acme")
	u.waitFor(r, "acme", 3)
	if got := u.rows("acme"); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("rows %v: an unknown type reached a projector", got)
	}
	if p := u.poison.positions("poison.acme"); len(p) != 0 {
		t.Fatalf("an unknown type was poisoned: %v", p)
	}
}

func TestPoisonEventsAndTheRestFlows(t *testing.T) {
	u := newUnit(t)
	l := u.logs["acme"]
	u.drafts("acme", 1)
	// 2: a registered type whose data does not decode.
	l.AppendRaw(l.Stream(t, "invoice", "bad"), "invoice.drafted.v1", []byte(`{"total":"lots"}`))
	// 3: metadata that does not parse.
	bad := message.NewMessage("0b7c4b1e-44f4-4a4c-9b59-8c1d3c8b1a01", []byte(`{}`))
	bad.Metadata.Set(streams.MetaTenant, "acme")
	bad.Metadata.Set(streams.MetaStream, "acme.invoice-x")
	bad.Metadata.Set(streams.MetaType, "invoice.drafted.v1")
	bad.Metadata.Set(streams.MetaVersion, "one")
	bad.Metadata.Set(streams.MetaPosition, "3")
	l.AppendMessage(bad)
	u.drafts("acme", 1)
	r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 1 })
	u.start(r, "acme")
	u.waitFor(r, "acme", 4)
	if got := u.invoices("acme"); fmt.Sprint(got) != "[inv-2 inv-1]" {
		t.Fatalf("invoices %v", got)
	}
	if p := u.poison.positions("poison.acme"); fmt.Sprint(p) != "[2 3]" {
		t.Fatalf("poisoned %v, want [2 3]", p)
	}
	u.poison.mu.Lock()
	reason := u.poison.msgs["poison.acme"][0].Metadata.Get(middleware.ReasonForPoisonedKey)
	u.poison.mu.Unlock()
	if reason == "" {
		t.Fatal("a poisoned message has no reason")
	}
}

func TestFailingEventRollsBackOnlyItself(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *flaky)
		rows     []int64
		invoices int
		poisoned string
	}{
		{"fails always", func(f *flaky) { f.failAt = 3; f.fails.Store(-1 << 20) }, seq(1, 5, 3), 4, "[3]"},
		{"fails once", func(f *flaky) { f.failAt = 3; f.fails.Store(1) }, seq(1, 5), 5, "[]"},
		{"panics", func(f *flaky) { f.panicAt = 2 }, seq(1, 5, 2), 4, "[2]"},
		{"cannot commit", func(f *flaky) { f.commitFailAt = 3 }, seq(1, 5, 3), 4, "[3]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newUnit(t)
			tc.setup(u.flaky)
			u.drafts("acme", 5)
			r := u.runner(nil)
			u.start(r, "acme")
			u.waitFor(r, "acme", 5)
			// The savepoint takes back every projector's writes of the
			// failed event: the invoice list's row too.
			if got := u.rows("acme"); fmt.Sprint(got) != fmt.Sprint(tc.rows) {
				t.Errorf("flaky rows %v, want %v", got, tc.rows)
			}
			if got := len(u.invoices("acme")); got != tc.invoices {
				t.Errorf("%d invoices, want %d", got, tc.invoices)
			}
			if got := u.poison.positions("poison.acme"); fmt.Sprint(got) != tc.poisoned && (tc.poisoned != "[]" || len(got) != 0) {
				t.Errorf("poisoned %v, want %s", got, tc.poisoned)
			}
			if cp := u.checkpoints("acme"); cp["invoicelist"] != 5 || cp["flaky"] != 5 {
				t.Errorf("checkpoints %v", cp)
			}
		})
	}
}

func TestSubscriptionFailures(t *testing.T) {
	u := newUnit(t)
	src := u.srcs["acme"]
	src.FailNext(errors.New("stream not found"))
	u.drafts("acme", 6)
	r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 2 })
	if err := r.Start(ctxOf("acme")); err == nil {
		t.Fatal("start succeeded on a failing source")
	}
	// Not projected: answers come from the database.
	if pos, err := r.Position(ctxOf("acme")); err != nil || pos != 0 {
		t.Fatalf("position %d (%v)", pos, err)
	}
	// A subscription that ends, or fails to resume, is resumed from the
	// committed checkpoint.
	src.CutAfter(3)
	u.start(r, "acme")
	u.waitFor(r, "acme", 6)
	if got := u.rows("acme"); fmt.Sprint(got) != fmt.Sprint(seq(1, 6)) {
		t.Fatalf("rows %v", got)
	}
	subs := src.Subscribes()
	if len(subs) < 3 || subs[len(subs)-1] == 0 || subs[len(subs)-1] > 3 {
		t.Fatalf("subscriptions from %v: want a resumption from the checkpoint (2)", subs)
	}
}

func TestSchemaGate(t *testing.T) {
	u := newUnit(t)
	r := u.runner(nil)
	ctx := ctxOf("initech") // never migrated
	u.srcs["initech"] = projectiontest.NewSource(projectiontest.NewLog("initech", u.reg))
	if err := r.Start(ctx); !errors.Is(err, projections.ErrSchemaBehind) {
		t.Fatalf("start on an unmigrated database: %v", err)
	}
	if err := u.reads.Migrate(ctx, u.projs...); err != nil {
		t.Fatal(err)
	}
	// A new version of a read model: behind again until migrated.
	u.flaky.versions = 2
	if err := r.Start(ctx); !errors.Is(err, projections.ErrSchemaBehind) {
		t.Fatalf("start with a newer migration pending: %v", err)
	}
	if err := u.reads.Migrate(ctx, u.projs...); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatalf("start once migrated: %v", err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatalf("second start: %v", err)
	}
}

func TestWaitForAndPosition(t *testing.T) {
	u := newUnit(t)
	r := u.runner(nil)
	if err := r.WaitFor(context.Background(), 1); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("wait without a tenant: %v", err)
	}
	if _, err := r.Position(context.Background()); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("position without a tenant: %v", err)
	}
	if err := r.Start(context.Background()); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("start without a tenant: %v", err)
	}
	// Not projected: answered from the database, or lagging.
	if err := r.WaitFor(ctxOf("acme"), 0); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctxOf("acme"), 20*time.Millisecond)
	defer cancelShort()
	if err := r.WaitFor(short, 1); !errors.Is(err, projections.ErrLagging) {
		t.Fatalf("wait on a tenant not projected: %v", err)
	}
	u.start(r, "acme")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctxOf("acme"), 20*time.Second)
		defer cancel()
		done <- r.WaitFor(ctx, 3)
	}()
	u.drafts("acme", 3) // the waiter wakes on the commit
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctxOf("acme"), 20*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, 4); !errors.Is(err, projections.ErrLagging) {
		t.Fatalf("wait for a position never reached: %v", err)
	}

	// A waiter outlives a stop and start of its tenant.
	go func() {
		ctx, cancel := context.WithTimeout(ctxOf("acme"), 20*time.Second)
		defer cancel()
		done <- r.WaitFor(ctx, 5)
	}()
	if err := r.Stop(ctxOf("acme")); err != nil {
		t.Fatal(err)
	}
	u.start(r, "acme")
	u.drafts("acme", 2)
	if err := <-done; err != nil {
		t.Fatalf("waiting across a restart: %v", err)
	}
}

// TestWaitForATenantProjectedElsewhere waits, through a runner that does
// not project the tenant, for a position another runner (another instance,
// on a shared read database) commits.
func TestWaitForATenantProjectedElsewhere(t *testing.T) {
	u := newUnit(t)
	projecting, other := u.runner(nil), u.runner(nil)
	u.start(projecting, "acme")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctxOf("acme"), 20*time.Second)
		defer cancel()
		done <- other.WaitFor(ctx, 3)
	}()
	u.drafts("acme", 3)
	if err := <-done; err != nil {
		t.Fatalf("waiting for a tenant projected by another runner: %v", err)
	}
}

func TestTenantsNeverMix(t *testing.T) {
	u := newUnit(t)
	u.drafts("acme", 20)
	u.drafts("globex", 7)
	// A misrouted event in acme's log, claiming to be globex's.
	g := u.logs["globex"]
	rec := u.logs["globex"].Append(t, g.Stream(t, "invoice", "stray"), invoice.Drafted{InvoiceID: "stray", Currency: "EUR", DueDate: "2026-12-31"})
	m := message.NewMessage(rec.ID.String(), rec.Data)
	for k, v := range streams.RecordMetadata(rec) {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(streams.MetaPosition, "21")
	u.logs["acme"].AppendMessage(m)

	r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 3 })
	u.start(r, "acme")
	u.start(r, "globex")
	u.waitFor(r, "acme", 21)
	u.waitFor(r, "globex", 8)
	a, g2 := u.invoices("acme"), u.invoices("globex")
	if len(a) != 20 || len(g2) != 8 {
		t.Fatalf("acme has %d invoices, globex %d: want 20 and 8", len(a), len(g2))
	}
	for _, id := range a {
		for _, other := range g2 {
			if id == other {
				t.Fatalf("invoice %s in both tenants", id)
			}
		}
	}
	if p := u.poison.positions("poison.acme"); fmt.Sprint(p) != "[21]" {
		t.Fatalf("acme poisoned %v, want the stray event", p)
	}
	if p := u.poison.positions("poison.globex"); len(p) != 0 {
		t.Fatalf("globex poisoned %v", p)
	}
}

func TestStopAndStartWhileEventsFlow(t *testing.T) {
	u := newUnit(t)
	r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 7; c.MaxBatchDelay = time.Millisecond })
	u.start(r, "acme")
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20 {
			u.drafts("acme", 10)
		}
	})
	for range 10 {
		if err := r.Stop(ctxOf("acme")); err != nil {
			t.Error(err)
		}
		u.start(r, "acme")
	}
	wg.Wait()
	u.waitFor(r, "acme", 200)
	if got := u.rows("acme"); fmt.Sprint(got) != fmt.Sprint(seq(1, 200)) {
		t.Fatalf("%d rows, want 1..200", len(got))
	}
	if p := u.poison.positions("poison.acme"); len(p) != 0 {
		t.Fatalf("poisoned %v", p)
	}
}

func TestConfigValidate(t *testing.T) {
	_, err := projections.NewRunner(projections.RunnerConfig{BatchSize: -1, Projectors: []projections.Projector{invoicelist.New(), invoicelist.New()}})
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, want := range []string{"read store", "migrator", "registry", "source", "poison", "twice", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation %q does not mention %q", err, want)
		}
	}
}

// turns is a Scheduler that gives out the turns put into it, one each.
type turns chan struct{}

func (ts turns) Acquire(ctx context.Context, _ tenant.ID) (func(), error) {
	select {
	case <-ts:
		return func() {}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// status returns tn's status in r, failing when r does not project it.
func status(t *testing.T, r *projections.Runner, tn tenant.ID) projections.TenantStatus {
	t.Helper()
	for _, s := range r.Status() {
		if s.Tenant == tn {
			return s
		}
	}
	t.Fatalf("%s not in the runner's status %v", tn, r.Status())
	return projections.TenantStatus{}
}

// eventually waits until cond holds, failing at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not before the deadline", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestStatusReportsLag(t *testing.T) {
	u := newUnit(t)
	u.drafts("acme", 10)
	gate := make(turns, 10)
	r := u.runner(func(c *projections.RunnerConfig) { c.BatchSize = 2; c.Scheduler = gate })
	for range 3 {
		gate <- struct{}{}
	}
	u.start(r, "acme")
	// Three events applied, two committed, the fourth waiting for its turn:
	// the first event said nine more were pending.
	eventually(t, "two events committed", func() bool { return status(t, r, "acme").Position == 2 })
	s := status(t, r, "acme")
	// Not caught up since the run began, before it subscribed.
	if !s.Subscribed || s.Head != 10 || s.Lag() != 8 || !s.CaughtUp.Before(s.Since) {
		t.Fatalf("while behind: %+v (lag %d)", s, s.Lag())
	}
	if got := r.Status(); len(got) != 1 {
		t.Fatalf("status of %d tenants, want acme's only: %+v", len(got), got)
	}
	close(gate) // every turn given from now on
	u.waitFor(r, "acme", 10)
	if s := status(t, r, "acme"); s.Position != 10 || s.Lag() != 0 || !s.CaughtUp.After(s.Since) {
		t.Fatalf("caught up: %+v", s)
	}
}

func TestStatusReportsASubscriptionDownAndBack(t *testing.T) {
	u := newUnit(t)
	src := u.srcs["acme"]
	u.drafts("acme", 2)
	r := u.runner(nil)
	u.start(r, "acme")
	u.waitFor(r, "acme", 2)
	up := status(t, r, "acme")
	if !up.Subscribed {
		t.Fatalf("after start: %+v", up)
	}
	src.Down(errors.New("no server"))
	eventually(t, "subscription reported down", func() bool { return !status(t, r, "acme").Subscribed })
	down := status(t, r, "acme")
	if !down.Since.After(up.Since) {
		t.Fatalf("down since %v, before it was up (%v)", down.Since, up.Since)
	}
	u.drafts("acme", 3)
	// Attempts fail meanwhile, and do not move Since.
	eventually(t, "resubscription attempts", func() bool { return len(src.Subscribes()) >= 4 })
	if s := status(t, r, "acme"); s.Subscribed || !s.Since.Equal(down.Since) || s.Position != 2 {
		t.Fatalf("while the source is down: %+v", s)
	}
	src.Up()
	u.waitFor(r, "acme", 5)
	if s := status(t, r, "acme"); !s.Subscribed || !s.Since.After(down.Since) {
		t.Fatalf("after the source is back: %+v", s)
	}
	if err := r.Stop(ctxOf("acme")); err != nil {
		t.Fatal(err)
	}
	if got := r.Status(); len(got) != 0 {
		t.Fatalf("a stopped tenant in the status: %+v", got)
	}
}

// stalling is a Source whose subscriptions of one tenant, once stalled,
// wait until released, as one whose stream is electing a leader does
// before it answers or times out.
type stalling struct {
	projections.Source
	tenant  tenant.ID
	stall   atomic.Bool
	waiting atomic.Int32
	release chan struct{}
}

func (s *stalling) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	if t, _ := tenant.From(ctx); t == s.tenant && s.stall.Load() {
		s.waiting.Add(1)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Source.Subscribe(ctx, after)
}

func TestASlowSubscriptionHoldsUpNoOtherTenant(t *testing.T) {
	u := newUnit(t)
	src := &stalling{Source: u.srcs, tenant: "globex", release: make(chan struct{})}
	u.drafts("acme", 1)
	u.drafts("globex", 1)
	r := u.runner(func(c *projections.RunnerConfig) { c.Source = src })
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(src.release) }) }) // before the runner closes, on failure too
	u.start(r, "acme")
	u.start(r, "globex")
	u.waitFor(r, "acme", 1)
	u.waitFor(r, "globex", 1)

	// globex's subscription ends, and resubscribing it hangs.
	src.stall.Store(true)
	u.srcs["globex"].Down(errors.New("no leader"))
	u.srcs["globex"].Up()
	eventually(t, "globex resubscribing", func() bool { return src.waiting.Load() > 0 })

	// acme's ends too: it resumes meanwhile.
	u.srcs["acme"].Down(errors.New("connection lost"))
	u.srcs["acme"].Up()
	u.drafts("acme", 2)
	u.waitFor(r, "acme", 3)

	release.Do(func() { close(src.release) })
	u.drafts("globex", 1)
	u.waitFor(r, "globex", 2)
}

// A trickle of events, each the last one pending when it arrives, commits
// in groups while nobody waits; a WaitFor caller gets its commit at once.
func TestTrickleCommitsInGroupsUnlessSomeoneWaits(t *testing.T) {
	u := newUnit(t)
	r := u.runner(func(c *projections.RunnerConfig) { c.GroupDelay, c.MaxBatchDelay = 300*time.Millisecond, time.Hour })
	u.start(r, "acme")
	for range 6 {
		u.drafts("acme", 1)
		time.Sleep(5 * time.Millisecond) // a trickle: each event arrives with nothing pending after it
	}
	eventually(t, "the trickle projected", func() bool { return status(t, r, "acme").Position == 6 })
	if c := status(t, r, "acme").Commits; c == 0 || c > 3 {
		t.Fatalf("%d commits for a trickle of 6 events within one group delay, want 1 to 3", c)
	}
	// With a group delay of an hour, only a waiter's presence commits.
	r2 := u.runner(func(c *projections.RunnerConfig) { c.GroupDelay, c.MaxBatchDelay = time.Hour, time.Hour })
	u.start(r2, "globex")
	u.drafts("globex", 1)
	u.waitFor(r2, "globex", 1)
	before := status(t, r2, "globex").Commits
	u.drafts("globex", 1)
	u.waitFor(r2, "globex", 2)
	if c := status(t, r2, "globex").Commits; c != before+1 {
		t.Fatalf("commits %d after one more waited-for event, want %d", c, before+1)
	}
}

// TestTheChainCoversEveryEvent: the audit chain, an EveryEvent projector,
// links every event of the log, one no projector can decode, one of a type
// the registry does not know and one another projector fails on (each
// poisoned or skipped for the others), and its links are those a check
// recomputes from the log.
func TestTheChainCoversEveryEvent(t *testing.T) {
	u := newUnit(t)
	u.projs = append(u.projs, auditchain.New(0, nil))
	ctx := tenant.With(context.Background(), "acme")
	if err := u.reads.Migrate(ctx, u.projs...); err != nil {
		t.Fatal(err)
	}
	l := u.logs["acme"]
	u.drafts("acme", 1)
	l.AppendRaw(l.Stream(t, "invoice", "bad"), "invoice.drafted.v1", []byte(`{"total":"lots"}`)) // 2: does not decode
	l.AppendRaw(l.Stream(t, "gadget", "x"), "gadget.made.v1", []byte(`{}`))                      // 3: unknown type
	u.drafts("acme", 2)                                                                          // 4, 5
	u.flaky.failAt = 5
	u.flaky.fails.Store(-1 << 20) // 5: the flaky projector always fails on it
	r := u.runner(nil)
	u.start(r, "acme")
	u.waitFor(r, "acme", 5)
	// (2 may be poisoned twice: the batch that moved past it is rolled
	// back when 5 fails in it.)
	if p := slices.Compact(u.poison.positions("poison.acme")); fmt.Sprint(p) != "[2 5]" {
		t.Fatalf("poisoned %v", p)
	}
	stored, err := auditchain.NewQueries(u.reads).After(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var prev auditchain.Hash
	recs := l.Records(t)
	if len(stored) != len(recs) {
		t.Fatalf("%d links for %d events: %v", len(stored), len(recs), stored)
	}
	for i, rec := range recs {
		prev = auditchain.Link(prev, auditchain.LinkedOf(rec))
		if stored[i].Position != uint64(rec.Position) || stored[i].Hash != prev {
			t.Fatalf("link %d: %+v, want %d %s", i, stored[i], rec.Position, prev)
		}
	}
}

// TestReplayLeavesOutWhatAProjectorFailsOn: a replay applies a log as the
// live projection would: an event a projector fails on is left out of
// every table but the chain's, one that does not decode too, and the rest
// are applied.
func TestReplayLeavesOutWhatAProjectorFailsOn(t *testing.T) {
	u := newUnit(t)
	u.projs = append(u.projs, auditchain.New(0, nil))
	ctx := tenant.With(context.Background(), "globex") // a database the runner never touches
	if err := u.reads.Migrate(ctx, u.projs...); err != nil {
		t.Fatal(err)
	}
	l := u.logs["acme"]
	u.drafts("acme", 2)
	l.AppendRaw(l.Stream(t, "invoice", "bad"), "invoice.drafted.v1", []byte(`{"total":"lots"}`)) // 3: does not decode
	u.drafts("acme", 2)                                                                          // 4, 5
	u.flaky.failAt = 4
	u.flaky.fails.Store(-1 << 20)
	recs := l.Records(t)
	for i := range recs {
		recs[i].Metadata.Tenant = "globex" // applied into globex's database, as acme's log
	}
	db, err := u.reads.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	given := false
	applied, skipped, err := projections.Replay(ctx, db, u.reg, u.projs, func() ([]streams.Record, error) {
		if given {
			return nil, nil
		}
		given = true
		return recs, nil
	}, nil)
	if err != nil || applied != 5 || skipped != 2 {
		t.Fatalf("replay: %d applied, %d skipped, %v", applied, skipped, err)
	}
	if got := u.rows("globex"); fmt.Sprint(got) != "[1 2 5]" {
		t.Fatalf("flaky rows %v, want [1 2 5]", got)
	}
	if got := len(u.invoices("globex")); got != 3 {
		t.Fatalf("%d invoices, want 3 (1, 2 and 5)", got)
	}
	links, err := auditchain.NewQueries(u.reads).After(ctx, 0, 100)
	if err != nil || len(links) != 5 {
		t.Fatalf("%d links, %v", len(links), err)
	}
}
