package invoicelist_test

import (
	"context"
	"encoding/base64"
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
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

var today = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	reads readstores.Store
	reg   *streams.Registry
	log   *projectiontest.Log
	q     *invoicelist.Queries
	ctx   context.Context // acme, finance
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reads := readstores.Open(t)
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{}, invoice.SubmittedForValidation{}, invoice.Approved{}, invoice.Rejected{},
		invoice.Issued{}, invoice.PaymentRecorded{}, invoice.Cancelled{}, invoice.NumberAssigned{})
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := reads.Migrate(tenant.With(context.Background(), tn), invoicelist.New()); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{t: t, reads: reads, reg: reg, log: projectiontest.NewLog("acme", reg),
		q:   invoicelist.NewQueries(reads, func() time.Time { return today }),
		ctx: as("acme", user.Finance)}
}

func as(tn tenant.ID, roles ...user.Role) context.Context {
	return user.With(tenant.With(context.Background(), tn), user.Principal{ID: "u-1", Roles: roles})
}

// apply projects recs into tenant tn's read database in one transaction.
func (f *fixture) apply(tn tenant.ID, recs ...streams.Record) {
	f.t.Helper()
	db, err := f.reads.Open(tenant.With(context.Background(), tn))
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Release()
	projectiontest.Apply(f.t, db, f.reg, []projections.Projector{invoicelist.New()}, recs...)
}

func eur(n int64) money.Money { return money.New(n, "EUR") }

func (f *fixture) draft(id, client, due string, total int64) streams.Record {
	f.t.Helper()
	lines := []invoice.Line{{Description: "Work", Quantity: 2, UnitPrice: eur(total / 2), Total: eur(total)}}
	return f.log.Append(f.t, f.log.Stream(f.t, "invoice", id), invoice.Drafted{
		InvoiceID: id, Client: invoice.Client{ID: client, Name: "Client " + client}, Currency: "EUR", DueDate: due,
		SalesRep: "rep-1", Lines: lines, Total: eur(total), CreatedBy: "u-creator", CreatedAt: f.log.At,
	})
}

func (f *fixture) on(id string, ev domain.Event) streams.Record {
	f.t.Helper()
	return f.log.Append(f.t, f.log.Stream(f.t, "invoice", id), ev)
}

func TestInvoiceLifecycle(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
		type step func(f *fixture, id string) streams.Record
		issue := func(f *fixture, id string) streams.Record {
			return f.on(id, invoice.Issued{InvoiceID: id, Number: "INV-2026-000001", Total: eur(10_000), DueDate: "2026-12-01", IssuedAt: at})
		}
		pay := func(paid int64) step {
			return func(f *fixture, id string) streams.Record {
				return f.on(id, invoice.PaymentRecorded{InvoiceID: id, PaymentID: fmt.Sprint("p", paid), Amount: eur(paid), Paid: eur(paid), Due: eur(10_000 - paid), PaidAt: at})
			}
		}
		submit := func(f *fixture, id string) streams.Record {
			return f.on(id, invoice.SubmittedForValidation{InvoiceID: id, Threshold: eur(5_000), SubmittedAt: at})
		}
		approve := func(f *fixture, id string) streams.Record {
			return f.on(id, invoice.Approved{InvoiceID: id, ApprovedBy: "u-manager", ApprovedAt: at})
		}
		reject := func(f *fixture, id string) streams.Record {
			return f.on(id, invoice.Rejected{InvoiceID: id, Reason: "no", RejectedAt: at})
		}
		cancel := func(f *fixture, id string) streams.Record {
			return f.on(id, invoice.Cancelled{InvoiceID: id, Reason: "duplicate", CancelledAt: at})
		}
		tests := []struct {
			name    string
			steps   []step
			status  invoice.Status
			number  string
			paid    int64
			issued  bool
			version int64
		}{
			{"draft", nil, invoice.StatusDraft, "", 0, false, 1},
			{"issued", []step{issue}, invoice.StatusIssued, "INV-2026-000001", 0, true, 2},
			{"partially paid", []step{issue, pay(4_000)}, invoice.StatusPartiallyPaid, "INV-2026-000001", 4_000, true, 3},
			{"paid", []step{issue, pay(10_000)}, invoice.StatusPaid, "INV-2026-000001", 10_000, true, 3},
			{"pending validation", []step{submit}, invoice.StatusPendingValidation, "", 0, false, 2},
			{"approved and issued", []step{submit, approve, issue}, invoice.StatusIssued, "INV-2026-000001", 0, true, 4},
			{"rejected", []step{submit, reject}, invoice.StatusRejected, "", 0, false, 3},
			{"cancelled", []step{cancel}, invoice.StatusCancelled, "", 0, false, 2},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				recs := []streams.Record{f.draft("inv-1", "C1", "2026-12-01", 10_000)}
				for _, s := range tc.steps {
					recs = append(recs, s(f, "inv-1"))
				}
				f.apply("acme", recs...)
				got, err := f.q.Get(f.ctx, "inv-1")
				if err != nil {
					t.Fatal(err)
				}
				last := recs[len(recs)-1]
				if got.ID != "inv-1" || got.Status != string(tc.status) || got.Number != tc.number || got.Version != tc.version ||
					got.Position != int64(last.Position) || !got.UpdatedAt.Equal(last.RecordedAt) {
					t.Fatalf("got %+v", got)
				}
				if got.Total != eur(10_000) || got.Paid != eur(tc.paid) || got.Due != eur(10_000-tc.paid) || got.Currency != "EUR" {
					t.Fatalf("amounts: total %v paid %v due %v", got.Total, got.Paid, got.Due)
				}
				if got.ClientID != "C1" || got.ClientName != "Client C1" || got.DueDate != "2026-12-01" || got.SalesRep != "rep-1" ||
					got.CreatedBy != "u-creator" || !got.CreatedAt.Equal(f.log.At) {
					t.Fatalf("draft fields: %+v", got)
				}
				if len(got.Lines) != 1 || got.Lines[0].Quantity != 2 || got.Lines[0].Total != eur(10_000) {
					t.Fatalf("lines %+v", got.Lines)
				}
				if (got.IssuedAt != nil) != tc.issued || (tc.issued && !got.IssuedAt.Equal(at)) {
					t.Fatalf("issued at %v", got.IssuedAt)
				}
			})
		}
	})
}

func TestOverdue(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		tests := []struct {
			status string
			due    string
			left   int64
			want   bool
		}{
			{"issued", "2026-11-22", 100, true},
			{"partially_paid", "2026-01-01", 1, true},
			{"issued", "2026-11-23", 100, false}, // due today is not late
			{"issued", "2026-12-01", 100, false},
			{"paid", "2026-01-01", 0, false},
			{"issued", "2026-01-01", 0, false},
			{"draft", "2026-01-01", 100, false},
			{"pending_validation", "2026-01-01", 100, false},
			{"cancelled", "2026-01-01", 100, false},
			{"rejected", "2026-01-01", 100, false},
		}
		for _, tc := range tests {
			if got := invoicelist.Overdue(tc.status, tc.due, tc.left, today); got != tc.want {
				t.Errorf("Overdue(%s, %s, %d) = %v, want %v", tc.status, tc.due, tc.left, got, tc.want)
			}
		}

		// Through the query, with the injected clock.
		f := newFixture(t)
		f.apply("acme",
			f.draft("late", "C1", "2026-11-01", 100), f.on("late", invoice.Issued{InvoiceID: "late", Number: "N1", Total: eur(100), DueDate: "2026-11-01"}),
			f.draft("fine", "C1", "2026-12-01", 100), f.on("fine", invoice.Issued{InvoiceID: "fine", Number: "N2", Total: eur(100), DueDate: "2026-12-01"}),
		)
		for id, want := range map[string]bool{"late": true, "fine": false} {
			inv, err := f.q.Get(f.ctx, id)
			if err != nil || inv.Overdue != want {
				t.Fatalf("%s: overdue %v (%v), want %v", id, inv.Overdue, err, want)
			}
		}
	})
}

func TestListFiltersAndPages(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		var recs []streams.Record
		for i := range 7 {
			id := fmt.Sprint("inv-", i)
			client := "C1"
			if i%2 == 1 {
				client = "C2"
			}
			recs = append(recs, f.draft(id, client, "2026-12-01", 100))
			if i < 3 {
				recs = append(recs, f.on(id, invoice.Issued{InvoiceID: id, Number: fmt.Sprint("N", i), Total: eur(100), DueDate: "2026-12-01"}))
			}
		}
		f.apply("acme", recs...)

		tests := []struct {
			filter invoicelist.Filter
			want   []string
		}{
			{invoicelist.Filter{}, []string{"inv-6", "inv-5", "inv-4", "inv-3", "inv-2", "inv-1", "inv-0"}},
			{invoicelist.Filter{Status: "issued"}, []string{"inv-2", "inv-1", "inv-0"}},
			{invoicelist.Filter{ClientID: "C2"}, []string{"inv-5", "inv-3", "inv-1"}},
			{invoicelist.Filter{Status: "draft", ClientID: "C1"}, []string{"inv-6", "inv-4"}},
			{invoicelist.Filter{Status: "paid"}, nil},
		}
		for _, tc := range tests {
			page, err := f.q.List(f.ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Items); fmt.Sprint(got) != fmt.Sprint(tc.want) || page.NextCursor != "" {
				t.Errorf("List(%+v) = %v next %q, want %v", tc.filter, got, page.NextCursor, tc.want)
			}
		}

		// Pages of 3 walk the whole list once, newest first, with a filter kept.
		var walked []string
		filter := invoicelist.Filter{Limit: 3}
		for pages := 1; ; pages++ {
			page, err := f.q.List(f.ctx, filter)
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, ids(page.Items)...)
			if page.NextCursor == "" {
				if pages != 3 {
					t.Fatalf("%d pages, want 3", pages)
				}
				break
			}
			filter.Cursor = page.NextCursor
		}
		if fmt.Sprint(walked) != fmt.Sprint(tests[0].want) {
			t.Fatalf("paged walk %v", walked)
		}
		page, err := f.q.List(f.ctx, invoicelist.Filter{Limit: 2, ClientID: "C2"})
		if err != nil || fmt.Sprint(ids(page.Items)) != "[inv-5 inv-3]" || page.NextCursor == "" {
			t.Fatalf("filtered page 1: %v %q %v", ids(page.Items), page.NextCursor, err)
		}
		page, err = f.q.List(f.ctx, invoicelist.Filter{Limit: 2, ClientID: "C2", Cursor: page.NextCursor})
		if err != nil || fmt.Sprint(ids(page.Items)) != "[inv-1]" || page.NextCursor != "" {
			t.Fatalf("filtered page 2: %v %q %v", ids(page.Items), page.NextCursor, err)
		}
	})
}

func TestListLimits(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		recs := make([]streams.Record, 0, 501)
		for i := range 501 {
			recs = append(recs, f.draft(fmt.Sprint("inv-", i), "C1", "2026-12-01", 100))
		}
		f.apply("acme", recs...)
		tests := []struct {
			limit, want int
		}{{0, 50}, {-1, 50}, {10, 10}, {500, 500}, {501, 500}, {100_000, 500}}
		for _, tc := range tests {
			page, err := f.q.List(f.ctx, invoicelist.Filter{Limit: tc.limit})
			if err != nil || len(page.Items) != tc.want || page.NextCursor == "" {
				t.Errorf("limit %d: %d items, next %q (%v), want %d", tc.limit, len(page.Items), page.NextCursor, err, tc.want)
			}
		}
	})
}

func TestBadCursor(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, c := range []string{"garbage!", enc("page:3"), enc("inv:"), enc("inv:-1"), enc("inv:x"), "aW52OjE="} {
			if _, err := f.q.List(f.ctx, invoicelist.Filter{Cursor: c}); !errors.Is(err, invoicelist.ErrBadCursor) {
				t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
			}
		}
	})
}

func TestReadPermission(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		f.apply("acme", f.draft("inv-1", "C1", "2026-12-01", 100))
		tests := []struct {
			roles []user.Role
			err   error
		}{
			{[]user.Role{user.Admin}, nil},
			{[]user.Role{user.Finance}, nil},
			{[]user.Role{user.Manager}, nil},
			{[]user.Role{user.Sales}, nil},
			{[]user.Role{user.Auditor}, nil},
			{[]user.Role{user.Employee, user.Sales}, nil},
			{[]user.Role{user.Employee}, &domain.Error{Kind: domain.Forbidden, Code: "forbidden"}},
			{nil, &domain.Error{Kind: domain.Forbidden, Code: "forbidden"}},
		}
		for _, tc := range tests {
			ctx := as("acme", tc.roles...)
			_, listErr := f.q.List(ctx, invoicelist.Filter{})
			_, getErr := f.q.Get(ctx, "inv-1")
			for _, err := range []error{listErr, getErr} {
				if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
					t.Errorf("roles %v: %v, want %v", tc.roles, err, tc.err)
				}
			}
		}
		if _, err := f.q.List(tenant.With(context.Background(), "acme"), invoicelist.Filter{}); !errors.Is(err, user.ErrNoPrincipal) {
			t.Errorf("no user: %v", err)
		}
		if _, err := f.q.Get(user.With(context.Background(), user.Principal{ID: "u", Roles: []user.Role{user.Admin}}), "inv-1"); !errors.Is(err, tenant.ErrNoTenant) {
			t.Errorf("no tenant: %v", err)
		}
	})
}

func TestTenantsAreApart(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		f.apply("acme", f.draft("inv-1", "C1", "2026-12-01", 100))
		if _, err := f.q.Get(as("globex", user.Admin), "inv-1"); !errors.Is(err, projections.ErrNotFound) {
			t.Fatalf("globex reads acme's invoice: %v", err)
		}
		page, err := f.q.List(as("globex", user.Admin), invoicelist.Filter{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("globex lists %d invoices (%v)", len(page.Items), err)
		}
		if _, err := f.q.Get(f.ctx, "nope"); !errors.Is(err, projections.ErrNotFound) {
			t.Fatalf("missing invoice: %v", err)
		}
	})
}

func TestOtherStreamsAreIgnored(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		f := newFixture(t)
		f.apply("acme",
			f.log.Append(t, f.log.Stream(t, "invoicenumber", "2026"), invoice.NumberAssigned{Year: 2026, Sequence: 1, Number: "N1", InvoiceID: "inv-1"}),
			f.log.Append(t, f.log.Stream(t, "expense", "x"), invoice.Cancelled{InvoiceID: "x"}),
		)
		page, err := f.q.List(f.ctx, invoicelist.Filter{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("%d rows from other streams (%v)", len(page.Items), err)
		}
	})
}

func ids(items []invoicelist.Invoice) []string {
	out := make([]string, 0, len(items))
	for _, i := range items {
		out = append(out, i.ID)
	}
	return out
}
