package aging_test

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
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

var today = time.Date(2026, 11, 23, 18, 30, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	reads readstores.Store
	reg   *streams.Registry
	log   *projectiontest.Log
	q     *aging.Queries
	ctx   context.Context
	n     int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reads := readstores.Open(t)
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{}, invoice.SubmittedForValidation{}, invoice.Approved{}, invoice.Rejected{},
		invoice.Issued{}, invoice.PaymentRecorded{}, invoice.Cancelled{}, invoice.NumberAssigned{})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := reads.Migrate(tenant.With(context.Background(), tn), aging.New()); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{t: t, reads: reads, reg: reg, log: projectiontest.NewLog("acme", reg),
		q:   aging.NewQueries(reads, func() time.Time { return today }),
		ctx: as("acme", user.Finance)}
}

func as(tn tenant.ID, roles ...user.Role) context.Context {
	return user.With(tenant.With(context.Background(), tn), user.Principal{ID: "u-1", Roles: roles})
}

func (f *fixture) apply(recs ...streams.Record) {
	f.t.Helper()
	db, err := f.reads.Open(tenant.With(context.Background(), "acme"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Release()
	projectiontest.Apply(f.t, db, f.reg, []projections.Projector{aging.New()}, recs...)
}

func m(n int64, c money.Currency) money.Money { return money.New(n, c) }

// issued drafts and issues an invoice of total, due daysLate days before
// today (negative: not yet due); it returns its id and events.
func (f *fixture) issued(client string, cur money.Currency, total int64, daysLate int) (string, []streams.Record) {
	f.t.Helper()
	f.n++
	id := fmt.Sprint("inv-", f.n)
	due := today.AddDate(0, 0, -daysLate).Format(time.DateOnly)
	s := f.log.Stream(f.t, "invoice", id)
	return id, []streams.Record{
		f.log.Append(f.t, s, invoice.Drafted{InvoiceID: id, Client: invoice.Client{ID: client, Name: "Name " + client}, Currency: cur, DueDate: due, Total: m(total, cur)}),
		f.log.Append(f.t, s, invoice.Issued{InvoiceID: id, Number: "N" + id, Total: m(total, cur), DueDate: due}),
	}
}

func (f *fixture) on(id string, ev domain.Event) streams.Record {
	return f.log.Append(f.t, f.log.Stream(f.t, "invoice", id), ev)
}

func TestBuckets(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		tests := []struct {
			daysLate int
			bucket   string
		}{
			{-10, "current"}, {0, "current"}, {1, "1_30"}, {30, "1_30"}, {31, "31_60"}, {60, "31_60"},
			{61, "61_90"}, {90, "61_90"}, {91, "over_90"}, {400, "over_90"},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprint(tc.daysLate), func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				_, recs := f.issued("C1", "EUR", 1_000, tc.daysLate)
				f.apply(recs...)
				report, err := f.q.Report(f.ctx)
				if err != nil || len(report) != 1 {
					t.Fatalf("report %+v (%v)", report, err)
				}
				got := map[string]int64{"current": report[0].Current.Amount, "1_30": report[0].Days1To30.Amount,
					"31_60": report[0].Days31To60.Amount, "61_90": report[0].Days61To90.Amount, "over_90": report[0].Over90.Amount}
				for b, amount := range got {
					want := int64(0)
					if b == tc.bucket {
						want = 1_000
					}
					if amount != want {
						t.Errorf("%d days late: bucket %s holds %d, want %d", tc.daysLate, b, amount, want)
					}
				}
				if report[0].Total != m(1_000, "EUR") {
					t.Errorf("total %v", report[0].Total)
				}
			})
		}
	})
}

func TestOutstandingFollowsTheInvoice(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		var recs []streams.Record
		add := func(id string, rs []streams.Record) string { recs = append(recs, rs...); return id }

		partly := add(f.issued("C1", "EUR", 50_000, 53))   // 31-60, 400.00 left after paying 100.00
		add(f.issued("C1", "EUR", 20_000, -8))             // current
		paid := add(f.issued("C2", "EUR", 30_000, 145))    // paid in full: gone
		add(f.issued("C2", "EUR", 70_000, 114))            // over 90
		cancelled := add(f.issued("C3", "EUR", 9_000, 10)) // cancelled: gone
		add(f.issued("C2", "USD", 5_000, 5))               // another currency: its own line
		recs = append(recs,
			f.on(partly, invoice.PaymentRecorded{InvoiceID: partly, Amount: m(10_000, "EUR"), Paid: m(10_000, "EUR"), Due: m(40_000, "EUR")}),
			f.on(paid, invoice.PaymentRecorded{InvoiceID: paid, Amount: m(30_000, "EUR"), Paid: m(30_000, "EUR"), Due: m(0, "EUR")}),
			f.on(cancelled, invoice.Cancelled{InvoiceID: cancelled, Reason: "duplicate"}),
		)
		// Drafts, pending, rejected and cancelled drafts owe nothing.
		s := f.log.Stream(t, "invoice", "draft")
		recs = append(recs,
			f.log.Append(t, s, invoice.Drafted{InvoiceID: "draft", Client: invoice.Client{ID: "C4", Name: "Name C4"}, Currency: "EUR", DueDate: "2026-01-01", Total: m(1, "EUR")}),
			f.log.Append(t, s, invoice.SubmittedForValidation{InvoiceID: "draft"}),
		)
		s = f.log.Stream(t, "invoice", "rejected")
		recs = append(recs,
			f.log.Append(t, s, invoice.Drafted{InvoiceID: "rejected", Client: invoice.Client{ID: "C4", Name: "Name C4"}, Currency: "EUR", DueDate: "2026-01-01", Total: m(1, "EUR")}),
			f.log.Append(t, s, invoice.SubmittedForValidation{InvoiceID: "rejected"}),
			f.log.Append(t, s, invoice.Rejected{InvoiceID: "rejected"}),
		)
		f.apply(recs...)

		report, err := f.q.Report(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		z := func(c money.Currency) money.Money { return money.Zero(c) }
		want := []aging.ClientAging{
			{ClientID: "C1", ClientName: "Name C1", Currency: "EUR", Current: m(20_000, "EUR"), Days1To30: z("EUR"), Days31To60: m(40_000, "EUR"), Days61To90: z("EUR"), Over90: z("EUR"), Total: m(60_000, "EUR")},
			{ClientID: "C2", ClientName: "Name C2", Currency: "EUR", Current: z("EUR"), Days1To30: z("EUR"), Days31To60: z("EUR"), Days61To90: z("EUR"), Over90: m(70_000, "EUR"), Total: m(70_000, "EUR")},
			{ClientID: "C2", ClientName: "Name C2", Currency: "USD", Current: z("USD"), Days1To30: m(5_000, "USD"), Days31To60: z("USD"), Days61To90: z("USD"), Over90: z("USD"), Total: m(5_000, "USD")},
		}
		if fmt.Sprint(report) != fmt.Sprint(want) {
			t.Fatalf("report\n%+v\nwant\n%+v", report, want)
		}

		// Another tenant sees none of it.
		other, err := f.q.Report(as("globex", user.Admin))
		if err != nil || len(other) != 0 {
			t.Fatalf("globex report %+v (%v)", other, err)
		}
	})
}

func TestReadPermission(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		for _, tc := range []struct {
			roles []user.Role
			ok    bool
		}{
			{[]user.Role{user.Admin}, true}, {[]user.Role{user.Finance}, true}, {[]user.Role{user.Manager}, true},
			{[]user.Role{user.Sales}, true}, {[]user.Role{user.Auditor}, true},
			{[]user.Role{user.Employee}, false}, {[]user.Role{user.PlatformAdmin}, false},
		} {
			_, err := f.q.Report(as("acme", tc.roles...))
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, &domain.Error{Kind: domain.Forbidden, Code: "forbidden"}) {
				t.Errorf("roles %v: %v", tc.roles, err)
			}
		}
		if _, err := f.q.Report(user.With(context.Background(), user.Principal{ID: "u", Roles: []user.Role{user.Admin}})); !errors.Is(err, tenant.ErrNoTenant) {
			t.Errorf("no tenant: %v", err)
		}
	})
}

// TestTotalsAreChecked: amounts at the bound add up exactly; totals that
// would pass money.MaxTotal, or amounts recorded before amounts were
// bounded, are the rejection total_out_of_range, never a wrapped number.
func TestTotalsAreChecked(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		tests := []struct {
			name    string
			amounts []int64
			total   int64
		}{
			{"two at the bound", []int64{money.MaxAmount, money.MaxAmount}, 2 * money.MaxAmount},
			{"nine at the bound", []int64{money.MaxAmount, money.MaxAmount, money.MaxAmount, money.MaxAmount, money.MaxAmount,
				money.MaxAmount, money.MaxAmount, money.MaxAmount, money.MaxAmount}, 9 * money.MaxAmount},
			{"up to MaxTotal", []int64{money.MaxAmount, money.MaxTotal - money.MaxAmount}, money.MaxTotal},
			{"beyond MaxTotal", []int64{money.MaxAmount, money.MaxTotal - money.MaxAmount + 1}, -1},
			{"two of 9e18, which wrap around 64 bits", []int64{9_000_000_000_000_000_000, 9_000_000_000_000_000_000}, -1},
			{"one of 9e18", []int64{9_000_000_000_000_000_000}, -1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				for _, a := range tc.amounts {
					_, recs := f.issued("C1", "EUR", a, 40)
					f.apply(recs...)
				}
				report, err := f.q.Report(f.ctx)
				if tc.total < 0 {
					if !errors.Is(err, &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range"}) {
						t.Fatalf("report %+v (%v), want total_out_of_range", report, err)
					}
					return
				}
				if err != nil || len(report) != 1 || report[0].Total.Amount != tc.total || report[0].Days31To60.Amount != tc.total {
					t.Fatalf("report %+v (%v), want a total of %d", report, err, tc.total)
				}
			})
		}
	})
}
