package clientrisk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/readstores"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/clientrisk"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

var today = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	reads readstores.Store
	reg   *streams.Registry
	log   *projectiontest.Log
	q     *clientrisk.Queries
	n     int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reads := readstores.Open(t)
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{}, invoice.Issued{}, invoice.PaymentRecorded{}, invoice.Cancelled{}, invoice.Rejected{})
	if err := reads.Migrate(tenant.With(context.Background(), "acme"), clientrisk.New()); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, reads: reads, reg: reg, log: projectiontest.NewLog("acme", reg),
		q: clientrisk.NewQueries(reads, func() time.Time { return today })}
}

func eur(n int64) money.Money { return money.New(n, "EUR") }

// invoice issues an invoice of total due on due, issued yesterday, and
// records a payment of paid on paidOn when paid is not zero.
func (f *fixture) invoice(total int64, due string, paid int64, paidOn time.Time) {
	f.t.Helper()
	f.n++
	id := fmt.Sprint("inv-", f.n)
	s := f.log.Stream(f.t, "invoice", id)
	recs := []streams.Record{
		f.log.Append(f.t, s, invoice.Drafted{InvoiceID: id, Client: invoice.Client{ID: "C1", Name: "Initrode"}, Currency: "EUR", DueDate: due, Total: eur(total)}),
		f.log.Append(f.t, s, invoice.Issued{InvoiceID: id, Number: "N" + id, Total: eur(total), DueDate: due, IssuedAt: today.AddDate(0, 0, -1)}),
	}
	if paid != 0 {
		recs = append(recs, f.log.Append(f.t, s, invoice.PaymentRecorded{InvoiceID: id, Amount: eur(paid), PaidAt: paidOn, Paid: eur(paid), Due: eur(total - paid)}))
	}
	db, err := f.reads.Open(tenant.With(context.Background(), "acme"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Release()
	projectiontest.Apply(f.t, db, f.reg, []projections.Projector{clientrisk.New()}, recs...)
}

func (f *fixture) report() ([]clientrisk.Client, error) {
	return f.q.Report(user.With(tenant.With(context.Background(), "acme"), user.Principal{ID: "u", Roles: []user.Role{user.Finance}}))
}

// TestTotalsAtTheBound: two invoices at the bound, paid in part, add up
// exactly, and days sales outstanding is computed without overflow.
func TestTotalsAtTheBound(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		f.invoice(money.MaxAmount, "2026-10-01", 1, today)
		f.invoice(money.MaxAmount, "2026-10-01", money.MaxAmount-1, today)
		report, err := f.report()
		if err != nil || len(report) != 1 {
			t.Fatalf("report %+v (%v)", report, err)
		}
		c := report[0]
		if c.Invoiced != eur(2*money.MaxAmount) || c.Outstanding != eur(money.MaxAmount) || c.Overdue != eur(money.MaxAmount) || c.DSO != 45 {
			t.Fatalf("client %+v", c)
		}
	})
}

// TestTotalsBeyondTheBound: amounts recorded before amounts were bounded
// make the report the rejection total_out_of_range, never negative totals.
func TestTotalsBeyondTheBound(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		tests := []struct {
			name  string
			setup func(f *fixture)
		}{
			{"two invoices of 9e18, outstanding", func(f *fixture) {
				f.invoice(9_000_000_000_000_000_000, "2026-10-01", 0, time.Time{})
				f.invoice(9_000_000_000_000_000_000, "2026-10-01", 0, time.Time{})
			}},
			{"one invoice of 9e18", func(f *fixture) { f.invoice(9_000_000_000_000_000_000, "2026-12-31", 0, time.Time{}) }},
			{"ten invoices at the bound", func(f *fixture) {
				for range 10 {
					f.invoice(money.MaxAmount, "2026-12-31", 0, time.Time{})
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				tc.setup(f)
				if report, err := f.report(); !errors.Is(err, &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range"}) {
					t.Fatalf("report %+v (%v), want total_out_of_range", report, err)
				}
			})
		}
	})
}

// TestDaysLateOverCenturies: days late are counted exactly between any two
// dates, beyond the 292 years a time.Duration holds.
func TestDaysLateOverCenturies(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		f.invoice(100, "1500-01-01", 100, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		report, err := f.report()
		want := int(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()-time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) / 86_400
		if err != nil || len(report) != 1 || report[0].PaidLate != 1 || report[0].AverageDaysLate != want {
			t.Fatalf("report %+v (%v), want %d days late", report, err, want)
		}
	})
}
