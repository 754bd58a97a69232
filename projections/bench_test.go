package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

// The two benchmarks write the same rows (one in invoices, one in
// aging_open_items per drafted invoice) into the same schema of the same
// read store: BenchmarkProjector through the runner (the tenant's handler
// with its middleware, decoding, both projectors, checkpoints, commits of
// 500), from an in-memory source so that the event store is not measured;
// BenchmarkRawSQLiteBatchInsert as prepared upserts in transactions of 500.
// Compare their events/s:
//
//	go test -run '^$' -bench 'Projector|RawSQLite' -benchtime 20000x ./projections/

func benchStore(b *testing.B) (*sqlite.Store, context.Context) {
	b.Helper()
	reads, err := sqlite.Open(b.TempDir(), sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reads.Close() })
	ctx := tenant.With(context.Background(), "bench")
	if err := reads.Migrate(ctx, invoicelist.New(), aging.New()); err != nil {
		b.Fatal(err)
	}
	return reads, ctx
}

func benchDraft(i int) invoice.Drafted {
	id := fmt.Sprintf("inv-%08d", i)
	price := money.New(100_000, "EUR")
	return invoice.Drafted{InvoiceID: id, Client: invoice.Client{ID: "C-1", Name: "Northwind"}, Currency: "EUR",
		DueDate: "2026-12-31", Lines: []invoice.Line{{Description: "Consulting", Quantity: 1, UnitPrice: price, Total: price}},
		Total: price, CreatedBy: "u-1", CreatedAt: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
}

func BenchmarkProjector(b *testing.B) {
	reads, ctx := benchStore(b)
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{})
	log := projectiontest.NewLog("bench", reg)
	for i := range b.N {
		log.Append(b, log.Stream(b, "invoice", fmt.Sprintf("inv-%08d", i)), benchDraft(i))
	}
	r, err := projections.NewRunner(projections.RunnerConfig{
		Store: reads, Registry: reg, Source: projectiontest.NewSource(log),
		Projectors: []projections.Projector{invoicelist.New(), aging.New()}, Poison: &poisonBox{},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	b.ResetTimer()
	start := time.Now()
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := r.WaitFor(ctx, streams.Position(b.N)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkRawSQLiteBatchInsert(b *testing.B) {
	reads, ctx := benchStore(b)
	rows := make([]rawRow, b.N)
	for i := range rows {
		ev := benchDraft(i)
		lines, err := json.Marshal(ev.Lines)
		if err != nil {
			b.Fatal(err)
		}
		rows[i] = rawRow{ev, string(lines)}
	}
	db, err := reads.Open(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Release()
	const batch = 500
	b.ResetTimer()
	start := time.Now()
	for from := 0; from < len(rows); from += batch {
		if err := rawBatch(ctx, db, rows[from:min(from+batch, len(rows))], from); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// rawRow is a drafted invoice with its lines already encoded.
type rawRow struct {
	ev    invoice.Drafted
	lines string
}

func rawBatch(ctx context.Context, db projections.DB, rows []rawRow, offset int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	inv, err := tx.PrepareContext(ctx, `INSERT INTO invoices (id, number, client_id, client_name, status, currency, total, paid, due,
		due_date, sales_rep, created_by, created_at, issued_at, updated_at, version, position, created_position, lines)
		VALUES (?, NULL, ?, ?, 'draft', ?, ?, 0, ?, ?, ?, ?, ?, NULL, ?, 1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, version = excluded.version, position = excluded.position`)
	if err != nil {
		return err
	}
	defer inv.Close()
	open, err := tx.PrepareContext(ctx, `INSERT INTO aging_open_items (invoice_id, client_id, client_name, currency, due_date, outstanding)
		VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (invoice_id) DO UPDATE SET outstanding = excluded.outstanding`)
	if err != nil {
		return err
	}
	defer open.Close()
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	for i, e := range rows {
		pos := int64(offset + i + 1)
		if _, err := inv.ExecContext(ctx, e.ev.InvoiceID, e.ev.Client.ID, e.ev.Client.Name, string(e.ev.Currency), e.ev.Total.Amount, e.ev.Total.Amount,
			e.ev.DueDate, e.ev.SalesRep, e.ev.CreatedBy, at, at, pos, pos, e.lines); err != nil {
			return err
		}
		if _, err := open.ExecContext(ctx, e.ev.InvoiceID, e.ev.Client.ID, e.ev.Client.Name, string(e.ev.Currency), e.ev.DueDate); err != nil {
			return err
		}
	}
	last := int64(offset + len(rows))
	for _, name := range []string{"invoicelist", "aging"} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (projector) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`, name, last, at); err != nil {
			return err
		}
	}
	return tx.Commit()
}
