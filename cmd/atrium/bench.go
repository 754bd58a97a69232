package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
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

// benchCmd measures the product's paths against raw baselines in the same
// run, on the same machine, and prints each as a ratio: appends through the
// command path vs raw JetStream publishes with an expected sequence, projector
// events vs raw batched SQLite upserts, and append-to-visible lag.
type benchCmd struct {
	Duration time.Duration `default:"3s" help:"How long each throughput phase runs."`
	Events   int           `default:"20000" help:"Events projected in the projection phase."`
	Lag      int           `default:"500" help:"Commands timed for append-to-visible lag."`
	Dir      string        `help:"Working directory (default: a fresh temporary one)."`
	Profile  string        `help:"Write a CPU profile of the whole run to this file."`
	Sync     string        `default:"default" help:"Embedded JetStream fsync policy: default, always, or a duration."`
	Tenants  int           `default:"1000" help:"Tenants provisioned for the tenancy measures (0 skips them)."`
	Parallel int           `default:"8" help:"Tenants migrated at once in the tenancy measures."`
	Noisy    time.Duration `default:"30s" help:"How long the quiet tenant is measured in each noisy-neighbour condition, in 5 rounds (0 skips it)."`
}

func (b *benchCmd) Run() error {
	dir := b.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "atrium-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if b.Profile != "" {
		f, err := os.Create(b.Profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	always, interval, err := (&config{NATSSync: b.Sync}).syncPolicy()
	if err != nil {
		return err
	}
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: filepath.Join(dir, "js"), SyncAlways: always, SyncInterval: interval})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("bench")
	if err != nil {
		return err
	}
	defer nc.Close()

	fmt.Printf("atrium bench: %s per phase, %d CPUs, embedded JetStream (sync %s), SQLite read store\n\n", b.Duration, runtime.GOMAXPROCS(0), b.Sync)
	fmt.Printf("%-44s %14s %14s %8s\n", "measure", "raw", "atrium", "ratio")
	for _, writers := range []int{1, 16} {
		raw, err := rawPublish(ctx, nc, writers, b.Duration)
		if err != nil {
			return fmt.Errorf("raw publish: %w", err)
		}
		cmd, err := commandAppends(ctx, nc, dir, writers, b.Duration)
		if err != nil {
			return fmt.Errorf("command appends: %w", err)
		}
		fmt.Printf("%-44s %12.0f/s %12.0f/s %8.2f\n", fmt.Sprintf("appends, %d writer(s) (publish vs command)", writers), raw, cmd, cmd/raw)
	}

	raw, err := rawSQLite(ctx, filepath.Join(dir, "raw"), b.Events)
	if err != nil {
		return fmt.Errorf("raw sqlite: %w", err)
	}
	proj, p50, p99, err := b.projection(ctx, nc, log, dir)
	if err != nil {
		return fmt.Errorf("projection: %w", err)
	}
	fmt.Printf("%-44s %12.0f/s %12.0f/s %8.2f\n", "projection (same rows batched vs projector)", raw, proj, proj/raw)
	fmt.Printf("%-44s %14s %14s\n", "append-to-visible lag p50 / p99", p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	if b.Noisy > 0 {
		n, err := benchNoisy(ctx, dir, b.Noisy)
		if err != nil {
			return fmt.Errorf("noisy neighbour: %w", err)
		}
		fmt.Printf("\nnoisy neighbour over loopback HTTP, default tenant limits; the quiet tenant sends %d requests/s (commands and read-your-writes reads):\n", quietRate)
		fmt.Printf("  quiet alone:                                  %s\n", n.Alone)
		fmt.Printf("  beside %d noisy clients honouring Retry-After: %s\n", noisyClients, n.Beside)
		fmt.Printf("    (the noisy tenant: %d commands served, %d refused 429)\n", n.NoisyServed, n.NoisyRefused)
		fmt.Printf("  beside %d noisy clients ignoring Retry-After:  %s\n", noisyClients, n.BesideRude)
		fmt.Printf("    (the noisy tenant: %d commands served, %d refused 429)\n", n.RudeServed, n.RudeRefused)
		fmt.Printf("%-44s %14s %14s %8.2f\n", "noisy neighbour: quiet p99, beside vs alone", "", "", n.ratio())
	}
	if b.Tenants > 0 {
		return benchTenants(ctx, dir, b.Tenants, b.Parallel)
	}
	return nil
}

// rawPublish is the baseline: each writer publishes to its own subject with
// Nats-Expected-Last-Subject-Sequence, waiting for every acknowledgement.
func rawPublish(ctx context.Context, nc *nats.Conn, writers int, d time.Duration) (float64, error) {
	js, err := natsjs.New(nc)
	if err != nil {
		return 0, err
	}
	name := fmt.Sprintf("BENCH_RAW_%d", writers)
	if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: name, Subjects: []string{"raw" + strconv.Itoa(writers) + ".>"}, Storage: natsjs.FileStorage}); err != nil {
		return 0, err
	}
	var total atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subj := fmt.Sprintf("raw%d.w%d", writers, w)
			payload := []byte(`{"invoice_id":"00000000-0000-0000-0000-000000000000","client":{"id":"C-1","name":"Northwind"},"total":{"amount":100000,"currency":"EUR"}}`)
			var last uint64
			for time.Now().Before(deadline) {
				ack, err := js.Publish(ctx, subj, payload, natsjs.WithExpectLastSequencePerSubject(last))
				if err != nil {
					errs <- err
					return
				}
				last = ack.Sequence
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// commandAppends runs the command path (tenant and user from ctx, load,
// decide, append with expected version): each writer drafts invoices.
func commandAppends(ctx context.Context, nc *nats.Conn, dir string, writers int, d time.Duration) (float64, error) {
	store, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		return 0, err
	}
	t := tenant.ID(fmt.Sprintf("benchcmd%d", writers))
	ctx = user.With(tenant.With(ctx, t), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	if err := store.Provision(ctx); err != nil {
		return 0, err
	}
	reg := streams.NewRegistry()
	invoicecmd.Register(reg)
	h := invoicecmd.NewHandler(store, reg, benchSettings{}, benchMembers{}, time.Now)
	var total atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := h.Create(ctx, benchInvoice()); err != nil {
					errs <- err
					return
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

func benchInvoice() invoicecmd.CreateInvoice {
	return invoicecmd.CreateInvoice{
		Request:  commands.Request{CommandID: newCommandID()},
		ClientID: "C-1", ClientName: "Northwind", Currency: "EUR", DueDate: "2026-12-31",
		Lines: []invoicecmd.LineInput{{Description: "Consulting", Quantity: 1, UnitPrice: money.New(100_000, "EUR")}},
	}
}

// rawSQLite is the baseline: the rows the projectors write for n drafted
// invoices (one in invoices, one in aging_open_items), written directly in
// transactions of 500 through prepared statements, into the same schema,
// with the same pragmas, in a tenant database of the same read store.
func rawSQLite(ctx context.Context, dir string, n int) (float64, error) {
	reads, err := sqlite.Open(dir, sqlite.Config{})
	if err != nil {
		return 0, err
	}
	defer reads.Close()
	ctx = tenant.With(ctx, "benchraw")
	if err := reads.Migrate(ctx, invoicelist.New(), aging.New()); err != nil {
		return 0, err
	}
	db, err := reads.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Release()
	const batch = 500
	start := time.Now()
	for i := 0; i < n; i += batch {
		if err := rawBatch(ctx, db.DB, i, min(i+batch, n)); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// projection appends b.Events invoice events to a fresh tenant, then times the
// runner projecting all of them from position 0; then it times
// append-to-visible lag of single commands while the runner is live.
func (b *benchCmd) projection(ctx context.Context, nc *nats.Conn, log *slog.Logger, dir string) (float64, time.Duration, time.Duration, error) {
	store, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		return 0, 0, 0, err
	}
	t := tenant.ID("benchproj")
	ctx = user.With(tenant.With(ctx, t), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	if err := store.Provision(ctx); err != nil {
		return 0, 0, 0, err
	}
	reg := streams.NewRegistry()
	invoicecmd.Register(reg)
	h := invoicecmd.NewHandler(store, reg, benchSettings{}, benchMembers{}, time.Now)

	// Fill the stream with concurrent writers; this is not timed.
	var wg sync.WaitGroup
	var fillErr error
	var once sync.Once
	per := b.Events / 16
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := h.Create(ctx, benchInvoice()); err != nil {
					once.Do(func() { fillErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if fillErr != nil {
		return 0, 0, 0, fillErr
	}
	head, err := store.Head(ctx)
	if err != nil {
		return 0, 0, 0, err
	}

	reads, err := sqlite.Open(filepath.Join(dir, "read"), sqlite.Config{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer reads.Close()
	projectors := []projections.Projector{invoicelist.New(), aging.New()}
	if err := reads.Migrate(ctx, projectors...); err != nil {
		return 0, 0, 0, err
	}
	source, err := jetstream.NewSource(nc, jetstream.QuietLogger(log))
	if err != nil {
		return 0, 0, 0, err
	}
	poison, err := jetstream.NewPoisonPublisher(ctx, nc, jetstream.QuietLogger(log))
	if err != nil {
		return 0, 0, 0, err
	}
	runner, err := projections.NewRunner(projections.RunnerConfig{Store: reads, Migrator: reads, Registry: reg, Source: source, Projectors: projectors, Poison: poison, Logger: log})
	if err != nil {
		return 0, 0, 0, err
	}
	defer runner.Close()

	start := time.Now()
	if err := runner.Start(ctx); err != nil {
		return 0, 0, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = runner.WaitFor(wctx, head)
	cancel()
	if err != nil {
		return 0, 0, 0, err
	}
	rate := float64(head) / time.Since(start).Seconds()

	lags := make([]time.Duration, 0, b.Lag)
	for range b.Lag {
		t0 := time.Now()
		r, err := h.Create(ctx, benchInvoice())
		if err != nil {
			return 0, 0, 0, err
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = runner.WaitFor(wctx, r.Position)
		cancel()
		if err != nil {
			return 0, 0, 0, errors.Join(errors.New("waiting for a projected command"), err)
		}
		lags = append(lags, time.Since(t0))
	}
	slices.Sort(lags)
	return rate, lags[len(lags)/2], lags[len(lags)*99/100], nil
}

// rawBatch writes the rows of drafted invoices from..to in one transaction.
func rawBatch(ctx context.Context, db *sql.DB, from, to int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	inv, err := tx.PrepareContext(ctx, `INSERT INTO invoices (id, number, client_id, client_name, status, currency, total, paid, due,
		due_date, sales_rep, created_by, created_at, issued_at, updated_at, version, position, created_position, lines)
		VALUES (?, NULL, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer inv.Close()
	open, err := tx.PrepareContext(ctx, `INSERT INTO aging_open_items (invoice_id, client_id, client_name, currency, due_date, outstanding) VALUES (?, ?, ?, ?, ?, 0)`)
	if err != nil {
		return err
	}
	defer open.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	lines := `[{"description":"Consulting","quantity":1,"unit_price":{"amount":100000,"currency":"EUR"},"total":{"amount":100000,"currency":"EUR"}}]`
	for j := from; j < to; j++ {
		id := uuid.NewString()
		if _, err := inv.ExecContext(ctx, id, "C-1", "Northwind", "draft", "EUR", 100000, 100000, "2026-12-31", "", "u", now, now, 1, j+1, j+1, lines); err != nil {
			return err
		}
		if _, err := open.ExecContext(ctx, id, "C-1", "Northwind", "EUR", "2026-12-31"); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES ('raw', ?, ?)
		ON CONFLICT (projector) DO UPDATE SET position = excluded.position`, to, now); err != nil {
		return err
	}
	return tx.Commit()
}

// benchSettings gives every benchmark tenant the same policy: EUR, with
// the same validation threshold.
type benchSettings struct{}

func (benchSettings) InvoicePolicy(context.Context) (invoice.Policy, error) {
	return invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": money.New(1_000_000, "EUR")}}, nil
}

// benchMembers answers that benchmark tenants have no members: their
// invoices name no sales_rep, so nobody is asked.
type benchMembers struct{}

func (benchMembers) Roles(context.Context, string) ([]user.Role, bool, error) {
	return nil, false, nil
}
