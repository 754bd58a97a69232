package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/assembly"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
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
	Cluster  bool          `default:"true" negatable:"" help:"Measure replicated appends on an in-process 3-node NATS cluster."`
	HTTP     bool          `name:"http" default:"true" negatable:"" help:"Measure the API over loopback HTTP (1 and 16 clients) against the in-process command path and query."`
	Invoices int           `default:"1000" help:"Invoices the HTTP reads choose from."`
	Replay   int           `default:"100000" help:"Events of the tenant an auditor's replay rebuilds, against the projector's rebuild of the same (0 skips it)."`
	Rounds   int           `default:"3" help:"Rounds of the projection measure: the raw baseline and the projector in turn, each on tenants of its own; the medians are printed."`
	// PostgresURL names the server of the PostgreSQL measures.
	PostgresURL  string `name:"postgres-url" env:"ATRIUM_BENCH_POSTGRES_URL" help:"PostgreSQL server (a superuser's URL) for the PostgreSQL read store measures; empty: one started from the machine's PostgreSQL binaries, or none."`
	Postgres     bool   `default:"true" negatable:"" help:"Measure the PostgreSQL read store (see --postgres-url)."`
	ReadMaxConns int    `default:"50" help:"ATRIUM_READ_MAX_CONNS of the PostgreSQL measures."`
	JSON         bool   `name:"json" help:"Print the figures as one JSON object on stdout ({\"ratios\",\"figures\",\"machine\"}); the report goes to stderr."`
}

func (b *benchCmd) Run() error {
	if !b.JSON {
		_, err := b.run(newBenchReport(os.Stdout))
		return err
	}
	res, err := b.run(newBenchReport(os.Stderr))
	if err != nil {
		return err
	}
	return res.writeJSON(os.Stdout)
}

// run runs every part of the bench, reporting to rep.out, and returns rep
// with every figure recorded.
func (b *benchCmd) run(rep *benchReport) (*benchReport, error) {
	dir := b.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "atrium-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if b.Profile != "" {
		f, err := os.Create(b.Profile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	always, interval, err := (&storeConfig{NATSSync: b.Sync}).syncPolicy()
	if err != nil {
		return nil, err
	}
	// The process as serve builds it: the raw baselines run on its own NATS
	// connection and read store, side by side with the product's paths.
	p, err := assembly.Open(ctx, assembly.Config{DataDir: filepath.Join(dir, "process"), SyncAlways: always, SyncInterval: interval,
		BaseDomain: "bench.test", Modules: modules.All(),
		// The ERP receiver is local.
		ERP: assembly.ERPConfig{AllowPrivateTargets: true}})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	nc := p.NC

	rep.printf("atrium bench: %s per phase, %d CPUs, embedded JetStream (sync %s), SQLite read store\n\n", b.Duration, runtime.GOMAXPROCS(0), b.Sync)
	rep.printf("%-44s %14s %14s %8s\n", "measure", "raw", "atrium", "ratio")
	maxRate := 0.0 // the fastest command rate measured
	for _, writers := range []int{1, 16} {
		raw, err := rawPublish(ctx, nc, writers, b.Duration, 1)
		if err != nil {
			return nil, fmt.Errorf("raw publish: %w", err)
		}
		cmd, err := commandAppends(ctx, p, writers, b.Duration)
		if err != nil {
			return nil, fmt.Errorf("command appends: %w", err)
		}
		rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", fmt.Sprintf("appends, %d writer(s) (publish vs command)", writers), raw, cmd,
			rep.rate(fmt.Sprintf("append_%d", writers), raw, cmd))
		maxRate = max(maxRate, cmd)
	}

	raw, proj, p50, p99, err := b.projectionRounds(ctx, p)
	if err != nil {
		return nil, err
	}
	rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", projectionLabel(b.Rounds), raw, proj, rep.rate("projector", raw, proj))
	rep.printf("%-44s %14s %14s\n", "append-to-visible lag p50 / p99", p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	rep.figure("append_to_visible_lag", lag(p50, p99))
	tr, err := trickle(ctx, p, maxRate/2, b.Duration)
	if err != nil {
		return nil, err
	}
	rep.printf("%-44s %14s %14s\n", fmt.Sprintf("live trickle at %.0f/s (half the max), lag p50 / p99", tr.Rate),
		tr.P50.Round(time.Microsecond), tr.P99.Round(time.Microsecond))
	rep.printf("  (%d commands, %.1f events per commit, lag seen by polling every 100µs)\n", tr.Sent, tr.EventsPerCommit)
	rep.figure("trickle", trickleFigure{Rate: tr.Rate, Commands: tr.Sent, Lag: lag(tr.P50, tr.P99), EventsPerCommit: tr.EventsPerCommit})
	e, err := benchERP(ctx, p, b.Duration, b.Lag)
	if err != nil {
		return nil, fmt.Errorf("erp delivery: %w", err)
	}
	rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", "ERP webhooks (signed POSTs vs a tenant's backlog)", e.Raw, e.Atrium, rep.rate("erp_delivery", e.Raw, e.Atrium))
	rep.printf("  (%d messages, on the bus %s after the last command; delivery one at a time, in order, state committed before each ack)\n", e.Messages, e.Published.Round(time.Millisecond))
	rep.printf("%-44s %14s %14s\n", "event-to-delivered lag p50 / p99", e.P50.Round(time.Microsecond), e.P99.Round(time.Microsecond))
	rep.figure("erp_backlog", erpFigure{Messages: e.Messages, PublishedMs: ms(e.Published)})
	rep.figure("event_to_delivered_lag", lag(e.P50, e.P99))
	// The parts below start processes of their own: this one is closed
	// so that it weighs on none of them (on the tenants' memory least of
	// all).
	if err := p.Close(); err != nil {
		return nil, err
	}
	if b.Replay > 0 {
		r, err := benchReplay(ctx, dir, b.Replay)
		if err != nil {
			return nil, fmt.Errorf("audit replay: %w", err)
		}
		rebuild, replay := float64(r.Events)/r.Rebuild.Seconds(), float64(r.Replayed)/r.Replay.Seconds()
		rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", fmt.Sprintf("audit replay of %d events (rebuild vs replay)", r.Events), rebuild, replay,
			rep.rate("audit_replay", rebuild, replay))
		rep.printf("  (every read model but the audit chain rebuilt by the projector in %s; every one, the chain too, replayed as of now into a file of its own in %s)\n",
			r.Rebuild.Round(time.Millisecond), r.Replay.Round(time.Millisecond))
		rep.figure("audit_replay", replayFigure{Events: r.Events, RebuildS: r.Rebuild.Seconds(), ReplayS: r.Replay.Seconds(), RebuildPS: rebuild, ReplayPS: replay})
	}
	if b.HTTP {
		rs, err := benchHTTP(ctx, dir, b.Duration, []int{1, 16}, b.Invoices)
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		reportHTTP(rep, rs)
	}
	if b.Cluster {
		rs, err := benchReplicated(ctx, dir, b.Duration)
		if err != nil {
			return nil, fmt.Errorf("replicated appends: %w", err)
		}
		rep.printf("\nreplicated appends through the event store, one event each with its expected version, over loopback TCP\n")
		rep.printf("(a single server vs a 3-node cluster in this process, 3 replicas, JetStream's default fsync):\n")
		for _, r := range rs {
			key := fmt.Sprintf("replicated_append_%d", r.Writers)
			rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", fmt.Sprintf("appends, %d writer(s) (1 server vs 3 replicas)", r.Writers), r.Single, r.Cluster,
				rep.rate(key, r.Single, r.Cluster))
			rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", "  on the cluster (publish vs event store)", r.Raw, r.Cluster,
				rep.rate(key+"_vs_publish", r.Raw, r.Cluster))
		}
	}
	if b.Noisy > 0 {
		n, err := benchNoisy(ctx, dir, b.Noisy)
		if err != nil {
			return nil, fmt.Errorf("noisy neighbour: %w", err)
		}
		rep.printf("\nnoisy neighbour over loopback HTTP, default tenant limits; the quiet tenant sends %d requests/s (commands and read-your-writes reads):\n", quietRate)
		rep.printf("  quiet alone:                                  %s\n", n.Alone)
		rep.printf("  beside %d noisy clients honouring Retry-After: %s\n", noisyClients, n.Beside)
		rep.printf("    (the noisy tenant: %d commands served, %d refused 429)\n", n.NoisyServed, n.NoisyRefused)
		rep.printf("  beside %d noisy clients ignoring Retry-After:  %s\n", noisyClients, n.BesideRude)
		rep.printf("    (the noisy tenant: %d commands served, %d refused 429)\n", n.RudeServed, n.RudeRefused)
		rep.printf("%-44s %14s %14s %8.2f\n", "noisy neighbour: quiet p99, beside vs alone", "", "", n.ratio())
		rep.ratio("noisy_neighbour_p99", n.ratio())
		rep.figure("noisy_neighbour_p99", n.figure())
	}
	if b.Tenants > 0 {
		if err := benchTenants(ctx, rep, dir, b.Tenants, b.Parallel); err != nil {
			return nil, err
		}
	}
	if !b.Postgres {
		return rep, nil
	}
	return rep, b.benchPostgres(ctx, rep, dir)
}

// rawPublish is the baseline: each writer publishes to its own subject with
// Nats-Expected-Last-Subject-Sequence, waiting for every acknowledgement,
// to a stream of the given replicas. Each message carries what the event
// store writes for a drafted invoice (see benchDraft): a subject of the
// same form (an invoice's stream), a new event id as Nats-Msg-Id, the
// stream expected, the metadata header, and the data; built once per
// writer but the id.
func rawPublish(ctx context.Context, nc *nats.Conn, writers int, d time.Duration, replicas int) (float64, error) {
	js, err := natsjs.New(nc)
	if err != nil {
		return 0, err
	}
	name := fmt.Sprintf("BENCH_RAW_%d", writers)
	if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: name, Subjects: []string{"raw" + strconv.Itoa(writers) + ".>"}, Storage: natsjs.FileStorage, Replicas: replicas}); err != nil {
		return 0, err
	}
	return perSecond(writers, d, func(int) (func() error, error) {
		t := tenant.ID(fmt.Sprintf("benchcmd%d", writers))
		stream, ev, err := benchDraft(ctx, t, uuid.NewString())
		if err != nil {
			return nil, err
		}
		m := &nats.Msg{Subject: fmt.Sprintf("raw%d.%s.%s.%s", writers, t, stream.Aggregate(), stream.ID()), Data: ev.Data, Header: nats.Header{
			streams.MetaEvent:           {string(streams.AppendEventMeta(nil, stream, ev.Type, 1, time.Now(), ev.Metadata))},
			nats.MsgIdHdr:               {""},
			nats.ExpectedStreamHdr:      {name},
			nats.ExpectedLastSubjSeqHdr: {""},
		}}
		var last uint64
		return func() error {
			m.Header[nats.MsgIdHdr][0] = uuid.NewString()
			for {
				m.Header[nats.ExpectedLastSubjSeqHdr][0] = strconv.FormatUint(last, 10)
				ack, err := js.PublishMsg(ctx, m)
				var apiErr *natsjs.APIError
				if errors.As(err, &apiErr) && apiErr.ErrorCode == 10164 {
					// On a cluster: the subject's last write is not applied
					// yet; sent again, as the event store does.
					continue
				}
				if err != nil {
					return err
				}
				last = ack.Sequence
				return nil
			}
		}, nil
	})
}

// perSecond runs writers goroutines, each calling the step newStep made for
// it until d has passed, and answers the steps done per second; the first
// error ends the measure.
func perSecond(writers int, d time.Duration, newStep func(w int) (func() error, error)) (float64, error) {
	var total atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			step, err := newStep(w)
			if err != nil {
				errs <- err
				return
			}
			for time.Now().Before(deadline) {
				if err := step(); err != nil {
					errs <- err
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// commandAppends runs the command path (tenant and user from ctx, roles,
// load, decide, append with expected version, through the process's
// pipeline): each writer drafts invoices.
func commandAppends(ctx context.Context, p *assembly.Process, writers int, d time.Duration) (float64, error) {
	t := tenant.ID(fmt.Sprintf("benchcmd%d", writers))
	ctx = user.With(tenant.With(ctx, t), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	if err := p.Store.Provision(ctx); err != nil {
		return 0, err
	}
	h := invoicecmd.NewHandler(p.Commands, benchSettings{}, benchMembers{}, time.Now)
	return perSecond(writers, d, func(int) (func() error, error) {
		return func() error {
			_, err := h.Create(ctx, benchInvoice())
			return err
		}, nil
	})
}

func benchInvoice() invoicecmd.CreateInvoice {
	return invoicecmd.CreateInvoice{
		Client: invoicecmd.Client{ID: "C-1", Name: "Northwind"}, Currency: "EUR", DueDate: "2026-12-31",
		Lines: []invoicecmd.Line{{Description: "Consulting", Quantity: 1, UnitPrice: money.New(100_000, "EUR")}},
	}
}

// rawSQLite is the baseline: the rows the projectors write for n drafted
// invoices (one in invoices, one in aging_open_items, one in
// client_invoices, one in audit_chain, and the day's usage counted),
// written directly in transactions of 500 through prepared statements,
// into the same schema, with the same pragmas, in a tenant database of
// the process's read store.
func rawSQLite(ctx context.Context, p *assembly.Process, t tenant.ID, n int) (float64, error) {
	reads := p.Reads
	ctx = tenant.With(ctx, t)
	if err := reads.Migrate(ctx, p.Projectors...); err != nil {
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

// projectionRounds measures the raw baseline and the projector b.Rounds
// times, in turn, each time on tenants of their own (the tables start
// empty for both), and returns the median of each; then the
// append-to-visible lag on the last round's tenant. Taking turns keeps the
// two sides in the same minutes, so that a slower spell of the machine
// weighs on both.
func (b *benchCmd) projectionRounds(ctx context.Context, p *assembly.Process) (raw, proj float64, p50, p99 time.Duration, err error) {
	rounds := max(1, b.Rounds)
	raws, projs := make([]float64, 0, rounds), make([]float64, 0, rounds)
	var h *invoicecmd.Handler
	var tctx context.Context
	for r := range rounds {
		rw, err := rawSQLite(ctx, p, tenant.ID(fmt.Sprintf("benchraw%d", r)), b.Events)
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("raw: %w", err)
		}
		pj, hr, c, err := b.projection(ctx, p, tenant.ID(fmt.Sprintf("benchproj%d", r)))
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("projection: %w", err)
		}
		raws, projs, h, tctx = append(raws, rw), append(projs, pj), hr, c
	}
	p50, p99, err = b.visibleLag(tctx, p, h)
	return median(raws), median(projs), p50, p99, err
}

// projectionLabel names the projection's line: the medians of rounds.
func projectionLabel(rounds int) string {
	if rounds <= 1 {
		return "projection (same rows batched vs projector)"
	}
	return fmt.Sprintf("projection (batched vs projector, %d rounds)", rounds)
}

// median is the middle value of xs (the mean of the two middle ones for an
// even count); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// projection appends b.Events invoice events to tenant t, fresh, then
// times the process's runner projecting all of them, into every read
// model, from position 0. It returns the rate, and the command handler and
// context of t, for the lag measure.
func (b *benchCmd) projection(ctx context.Context, p *assembly.Process, t tenant.ID) (float64, *invoicecmd.Handler, context.Context, error) {
	ctx = user.With(tenant.With(ctx, t), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	if err := p.OpenTenant(ctx); err != nil {
		return 0, nil, nil, err
	}
	h := invoicecmd.NewHandler(p.Commands, benchSettings{}, benchMembers{}, time.Now)

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
		return 0, nil, nil, fillErr
	}
	head, err := p.Store.Head(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	runner := p.Runner

	start := time.Now()
	if err := runner.Start(ctx); err != nil {
		return 0, nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = runner.WaitFor(wctx, head)
	cancel()
	if err != nil {
		return 0, nil, nil, err
	}
	rate := float64(head) / time.Since(start).Seconds()
	return rate, h, ctx, nil
}

// visibleLag times b.Lag single commands of h, on the ctx tenant, from
// their start until the runner has projected them (WaitFor).
func (b *benchCmd) visibleLag(ctx context.Context, p *assembly.Process, h *invoicecmd.Handler) (time.Duration, time.Duration, error) {
	runner := p.Runner
	lags := make([]time.Duration, 0, b.Lag)
	for range b.Lag {
		t0 := time.Now()
		r, err := h.Create(ctx, benchInvoice())
		if err != nil {
			return 0, 0, err
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = runner.WaitFor(wctx, r.Position)
		cancel()
		if err != nil {
			return 0, 0, errors.Join(errors.New("waiting for a projected command"), err)
		}
		lags = append(lags, time.Since(t0))
	}
	p50, p99 := p50p99(lags)
	return p50, p99, nil
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
	client, err := tx.PrepareContext(ctx, `INSERT INTO client_invoices (invoice_id, client_id, client_name, currency, total, paid, issued_on, due_date, last_paid_on, settled_on)
		VALUES (?, ?, ?, ?, ?, 0, NULL, ?, NULL, NULL)`)
	if err != nil {
		return err
	}
	defer client.Close()
	chain, err := tx.PrepareContext(ctx, `INSERT INTO audit_chain (position, hash, seq) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer chain.Close()
	// The usage of the day: the row once, its member once a batch, and
	// each event counted as the projector counts it.
	day := time.Now().UTC().Format(time.DateOnly)
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_days (day) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM usage_days WHERE day = ?)`, day, day); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_members (day, user_id) SELECT ?, ?
		WHERE EXISTS (SELECT 1 FROM members WHERE user_id = ?)
		AND NOT EXISTS (SELECT 1 FROM usage_members WHERE day = ? AND user_id = ?)`, day, "u", "u", day, "u"); err != nil {
		return err
	}
	counted, err := tx.PrepareContext(ctx, `UPDATE usage_days SET events = events + 1, event_bytes = event_bytes + ?,
		commands = commands + CASE WHEN ? = '' OR last_command = ? THEN 0 ELSE 1 END,
		erp_inbound = erp_inbound + CASE WHEN ? = '' OR last_command = ? THEN 0 ELSE ? END,
		last_command = ? WHERE day = ?`)
	if err != nil {
		return err
	}
	defer counted.Close()
	link := strings.Repeat("ab", 32)
	for j := from; j < to; j++ {
		id := uuid.Must(uuid.NewV7()).String() // as the command path gives them
		if _, err := inv.ExecContext(ctx, id, "C-1", "Northwind", "draft", "EUR", 100000, 100000, "2026-12-31", "", "u", now, now, 1, j+1, j+1, lines); err != nil {
			return err
		}
		if _, err := open.ExecContext(ctx, id, "C-1", "Northwind", "EUR", "2026-12-31"); err != nil {
			return err
		}
		if _, err := client.ExecContext(ctx, id, "C-1", "Northwind", "EUR", 100000, "2026-12-31"); err != nil {
			return err
		}
		if _, err := chain.ExecContext(ctx, j+1, link, j+1); err != nil {
			return err
		}
		if _, err := counted.ExecContext(ctx, len(lines)+300, id, id, id, id, 0, id, day); err != nil {
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
