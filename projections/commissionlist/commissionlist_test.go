package commissionlist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/readstores"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/commissionlist"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

func eur(n int64) money.Money { return money.New(n, "EUR") }

// world is a tenant's log and read database with the commissionlist
// projector: append events, then read.
type world struct {
	t     *testing.T
	ctx   context.Context
	reads readstores.Store
	reg   *streams.Registry
	log   *projectiontest.Log
	n     int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	reads := readstores.Open(t)
	ctx := tenant.With(context.Background(), "acme")
	if err := reads.Migrate(ctx, commissionlist.New()); err != nil {
		t.Fatal(err)
	}
	reg := streams.NewRegistry()
	streams.Register(reg, commission.PlanSet{}, commission.StatementFrozen{}, commission.StatementApproved{},
		commission.StatementRejected{}, commission.StatementPaid{}, objective.Set{}, invoice.PaymentRecorded{}, invoice.Cancelled{})
	return &world{t: t, ctx: ctx, reads: reads, reg: reg, log: projectiontest.NewLog("acme", reg)}
}

// apply appends e to stream aggregate-id and projects it, with the
// checkpoint as the runner writes it.
func (w *world) apply(aggregate, id string, e domain.Event) streams.Record {
	w.t.Helper()
	rec := w.log.Append(w.t, w.log.Stream(w.t, aggregate, id), e)
	db, err := w.reads.Open(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Release()
	projectiontest.Apply(w.t, db, w.reg, []projections.Projector{commissionlist.New()}, rec)
	if _, err := db.ExecContext(w.ctx, `DELETE FROM projection_checkpoint WHERE projector = ?`, commissionlist.Name); err != nil {
		w.t.Fatal(err)
	}
	if _, err := db.ExecContext(w.ctx, `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)`,
		commissionlist.Name, int64(rec.Position), db.SQL.Time(time.Now())); err != nil {
		w.t.Fatal(err)
	}
	return rec
}

func (w *world) plan(userID string, p commission.Plan) {
	w.apply(commission.PlanCategory, userID, commission.PlanSet{UserID: userID, Plan: p, By: "mgr"})
}

func tiered(tiers ...commission.Tier) commission.Plan { return commission.Plan{Tiers: tiers} }

// pay records a payment of m on invoice inv credited to rep, paid on day.
func (w *world) pay(inv, rep, day string, m money.Money) {
	w.n++
	paidAt, err := time.Parse(time.DateOnly, day)
	if err != nil {
		w.t.Fatal(err)
	}
	w.apply(invoice.Category, inv, invoice.PaymentRecorded{InvoiceID: inv, PaymentID: "p" + string(rune('a'+w.n)), Amount: m, PaidAt: paidAt, SalesRep: rep})
}

func (w *world) objective(id, rep, period string, target int64) {
	w.apply(objective.Category, id, objective.Set{ObjectiveID: id, Assignee: rep, Period: period, Metric: "revenue", Target: eur(target)})
}

func (w *world) list(as user.Principal, f commissionlist.Filter) ([]commissionlist.Commission, error) {
	w.t.Helper()
	items, _, err := commissionlist.NewQueries(w.reads).List(user.With(w.ctx, as), f)
	return items, err
}

var manager = user.Principal{ID: "mgr", Roles: []user.Role{user.Manager}}

// earned returns rep's collected and commission for period in EUR.
func (w *world) earned(rep, period string) (collected, earned int64) {
	w.t.Helper()
	items, err := w.list(manager, commissionlist.Filter{UserID: rep, Period: period})
	if err != nil {
		w.t.Fatal(err)
	}
	var eurs []commissionlist.Commission
	for _, it := range items {
		if it.Collected.Currency == "EUR" {
			eurs = append(eurs, it)
		}
	}
	if len(eurs) != 1 {
		w.t.Fatalf("%d EUR rows for %s in %s: %+v", len(eurs), rep, period, items)
	}
	return eurs[0].Collected.Amount, eurs[0].Commission.Amount
}

// rates returns the rate of each payment credited to rep, by payment
// order; -1 for one with no plan in force.
func (w *world) rates(rep string) []int64 {
	w.t.Helper()
	db, err := w.reads.Open(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Release()
	rows, err := db.QueryContext(w.ctx, `SELECT COALESCE(rate_bps, -1) FROM commission_payments WHERE user_id = ? ORDER BY position`, rep)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// TestThePlanInForceWhenRecorded: a payment accrues under the plan set
// before it in the tenant's order; a payment before any plan accrues
// nothing, and a later plan does not re-price earlier payments.
func TestThePlanInForceWhenRecorded(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		w := newWorld(t)
		w.pay("i1", "rep", "2026-10-01", eur(100_000))
		if items, err := w.list(manager, commissionlist.Filter{}); err != nil || len(items) != 0 {
			t.Fatalf("before any plan: %+v (%v)", items, err)
		}
		w.plan("rep", commission.Flat(500))
		w.pay("i2", "rep", "2026-10-05", eur(12_345)) // 617.25
		w.pay("i3", "rep", "2026-11-05", eur(10_010)) // 500.5
		w.plan("rep", commission.Flat(1_000))
		w.pay("i4", "rep", "2026-12-31", eur(10_030)) // 1003
		w.pay("i5", "rep", "2026-09-30", eur(2_001))  // Q3: 200.1
		if collected, earned := w.earned("rep", "2026-Q4"); collected != 32_385 || earned != 617+500+1_003 {
			t.Fatalf("Q4: %d, %d", collected, earned)
		}
		if collected, earned := w.earned("rep", "2026-Q3"); collected != 2_001 || earned != 200 {
			t.Fatalf("Q3: %d, %d", collected, earned)
		}
		if got := w.rates("rep"); len(got) != 5 || got[0] != -1 || got[1] != 500 || got[2] != 500 || got[3] != 1_000 || got[4] != 1_000 {
			t.Fatalf("rates %v", got)
		}
		w.pay("i6", "other", "2026-11-01", eur(50_000)) // credited to someone without a plan
		if items, _ := w.list(manager, commissionlist.Filter{}); len(items) != 2 {
			t.Fatalf("rows %+v", items)
		}
	})
}

// TestTiersReprice: a tiered plan's rate is the rate of the tier the
// period's objective has reached, for every payment of the period: as
// achievement grows, as an objective is set after the payments (the last
// one set counts), and back when a cancelled invoice's payments reverse.
func TestTiersReprice(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		w := newWorld(t)
		w.plan("rep", tiered(commission.Tier{FromAchievedRatio: 0, RateBps: 300}, commission.Tier{FromAchievedRatio: commission.RatioOne, RateBps: 600}))
		w.pay("i1", "rep", "2026-10-10", eur(60_000))
		if _, earned := w.earned("rep", "2026-Q4"); earned != 1_800 {
			t.Fatalf("no objective: %d", earned)
		}
		w.objective("o1", "rep", "2026-Q4", 200_000)
		w.pay("i2", "rep", "2026-11-10", eur(50_000)) // achieved 0.55
		if _, earned := w.earned("rep", "2026-Q4"); earned != 3_300 {
			t.Fatalf("below the objective: %d", earned)
		}
		w.objective("o2", "rep", "2026-Q4", 100_000) // set last: achieved 1.1
		if collected, earned := w.earned("rep", "2026-Q4"); collected != 110_000 || earned != 6_600 {
			t.Fatalf("objective reached: %d, %d", collected, earned)
		}
		if got := w.rates("rep"); got[0] != 600 || got[1] != 600 {
			t.Fatalf("rates %v", got)
		}
		w.objective("o3", "rep", "2026-Q3", 1) // another period's objective changes nothing here
		if _, earned := w.earned("rep", "2026-Q4"); earned != 6_600 {
			t.Fatalf("after another period's objective: %d", earned)
		}
		w.pay("i3", "rep", "2026-11-12", money.New(90_000, "USD")) // another currency: its own row, no progress
		items, err := w.list(manager, commissionlist.Filter{Period: "2026-Q4"})
		if err != nil || len(items) != 2 || items[0].Commission != money.New(5_400, "USD") {
			t.Fatalf("rows %+v (%v)", items, err)
		}

		// i2 cancelled: achieved 0.6 again, the first tier for what is left.
		w.apply(invoice.Category, "i2", invoice.Cancelled{InvoiceID: "i2", Reason: "duplicate"})
		if collected, earned := w.earned("rep", "2026-Q4"); collected != 60_000 || earned != 1_800 {
			t.Fatalf("after the reversal: %d, %d", collected, earned)
		}
		if items, _ := w.list(manager, commissionlist.Filter{Period: "2026-Q4"}); items[0].Commission != money.New(2_700, "USD") {
			t.Fatalf("the USD payment after the reversal: %+v", items)
		}
		// Cancelling i3 takes the USD row to zero; it stays, as a record.
		w.apply(invoice.Category, "i3", invoice.Cancelled{InvoiceID: "i3", Reason: "lost"})
		items, _ = w.list(manager, commissionlist.Filter{Period: "2026-Q4"})
		if len(items) != 2 || items[0].Collected != money.New(0, "USD") || items[0].Commission != money.New(0, "USD") || items[0].Accruals != 0 {
			t.Fatalf("rows after the USD reversal %+v", items)
		}
		// Cancelling an invoice nobody was credited with changes nothing.
		w.apply(invoice.Category, "i9", invoice.Cancelled{InvoiceID: "i9", Reason: "x"})
		if _, earned := w.earned("rep", "2026-Q4"); earned != 1_800 {
			t.Fatalf("after an unrelated cancellation: %d", earned)
		}
	})
}

// TestStatementsInTheReadModel: a statement's events keep its row and the
// status of its period; Standing answers the totals with the position.
func TestStatementsInTheReadModel(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		w := newWorld(t)
		w.plan("rep", commission.Flat(500))
		w.pay("i1", "rep", "2026-11-01", eur(100_000))
		q := commissionlist.NewQueries(w.reads)
		st, err := q.Standing(w.ctx, "rep", "2026-Q4", "EUR")
		if err != nil || st.Collected != eur(100_000) || st.Commission != eur(5_000) || st.Position != uint64(w.log.Head()) {
			t.Fatalf("standing %+v (%v), head %d", st, err, w.log.Head())
		}
		if none, err := q.Standing(w.ctx, "rep", "2026-Q1", "EUR"); err != nil || none.Collected != eur(0) || none.Commission != eur(0) {
			t.Fatalf("standing of a period without accruals %+v (%v)", none, err)
		}

		frozen := commission.StatementFrozen{StatementID: "st-1", UserID: "rep", Period: "2026-Q4", Round: 1, Collected: eur(100_000),
			Commission: eur(5_000), PaidBefore: eur(0), Payable: eur(5_000), AsOfPosition: 2, By: "mgr", At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		steps := []struct {
			e    domain.Event
			want commission.Status
		}{
			{frozen, commission.StatusSubmitted},
			{commission.StatementRejected{StatementID: "st-1", UserID: "rep", Period: "2026-Q4", Round: 1, Reason: "why", By: "mgr2"}, commission.StatusRejected},
			{func() domain.Event { f := frozen; f.Round = 2; return f }(), commission.StatusSubmitted},
			{commission.StatementApproved{StatementID: "st-1", UserID: "rep", Period: "2026-Q4", Round: 2, Payable: eur(5_000), By: "mgr2"}, commission.StatusApproved},
			{commission.StatementPaid{StatementID: "st-1", UserID: "rep", Period: "2026-Q4", Round: 2, Amount: eur(5_000), By: "fin"}, commission.StatusPaid},
		}
		for i, s := range steps {
			w.apply(commission.StatementCategory, "st-1", s.e)
			items, err := w.list(manager, commissionlist.Filter{Status: string(s.want)})
			if err != nil || len(items) != 1 || items[0].StatementID != "st-1" {
				t.Fatalf("step %d: %+v (%v)", i, items, err)
			}
			got, err := q.Statement(user.With(w.ctx, manager), "st-1")
			if err != nil || got.Status != string(s.want) || got.Version != int64(i+1) {
				t.Fatalf("step %d: %+v (%v)", i, got, err)
			}
			if i == 2 && (got.Round != 2 || got.Reason != "" || got.DecidedBy != "") {
				t.Fatalf("a new round keeps the last one's decision: %+v", got)
			}
		}
		got, _ := q.Statement(user.With(w.ctx, manager), "st-1")
		if got.PaidBy != "fin" || got.PaidAt == nil || got.DecidedBy != "mgr2" || got.Payable != eur(5_000) || got.AsOfPosition != 2 {
			t.Fatalf("paid statement %+v", got)
		}
		if _, err := q.Statement(user.With(w.ctx, user.Principal{ID: "rep2", Roles: []user.Role{user.Sales}}), "st-1"); !errors.Is(err, projections.ErrNotFound) {
			t.Fatalf("another salesperson reading it: %v", err)
		}
		if s, err := q.Statement(user.With(w.ctx, user.Principal{ID: "rep", Roles: []user.Role{user.Sales}}), "st-1"); err != nil || s.ID != "st-1" {
			t.Fatalf("its beneficiary reading it: %v", err)
		}
	})
}

// TestSalesSeeTheirOwn: a salesperson's list is theirs, whatever the
// filter; an employee reads none.
func TestSalesSeeTheirOwn(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		w := newWorld(t)
		for _, rep := range []string{"a", "b"} {
			w.plan(rep, commission.Flat(100))
			w.pay("i-"+rep, rep, "2026-11-01", eur(10_000))
		}
		for _, f := range []commissionlist.Filter{{}, {UserID: "b"}} {
			items, err := w.list(user.Principal{ID: "a", Roles: []user.Role{user.Sales}}, f)
			if err != nil || len(items) != 1 || items[0].UserID != "a" {
				t.Fatalf("a asking %+v: %+v (%v)", f, items, err)
			}
		}
		if _, err := w.list(user.Principal{ID: "e", Roles: []user.Role{user.Employee}}, commissionlist.Filter{}); !errors.Is(err, &domain.Error{Kind: domain.Forbidden}) {
			t.Fatalf("an employee: %v", err)
		}
		if _, err := commissionlist.NewQueries(w.reads).Plan(user.With(w.ctx, user.Principal{ID: "a", Roles: []user.Role{user.Sales}}), "b"); !errors.Is(err, projections.ErrNotFound) {
			t.Fatalf("a reading b's plan: %v", err)
		}
	})
}

// TestTotalsAreChecked: totals past money.MaxTotal, and an amount recorded
// beyond money.MaxAmount before amounts were bounded, are answered as
// total_out_of_range, never as a number that wrapped around.
func TestTotalsAreChecked(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		tooBig := &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range"}
		t.Run("at the bound, exact", func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.plan("rep", commission.Flat(10_000))
			for i := range 9 {
				w.pay(string(rune('a'+i)), "rep", "2026-11-01", eur(money.MaxAmount))
			}
			if collected, earned := w.earned("rep", "2026-Q4"); collected != 9*money.MaxAmount || earned != 9*money.MaxAmount {
				t.Fatalf("%d, %d", collected, earned)
			}
			w.pay("j", "rep", "2026-11-01", eur(money.MaxAmount)) // 10^16 > 2^53 - 1
			if _, err := w.list(manager, commissionlist.Filter{}); !errors.Is(err, tooBig) {
				t.Fatalf("%v", err)
			}
			if _, err := commissionlist.NewQueries(w.reads).Standing(w.ctx, "rep", "2026-Q4", "EUR"); !errors.Is(err, tooBig) {
				t.Fatalf("standing: %v", err)
			}
		})
		t.Run("an amount recorded beyond the bound", func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.plan("rep", commission.Flat(500))
			w.pay("a", "rep", "2026-11-01", eur(9_000_000_000_000_000_000))
			if _, err := w.list(manager, commissionlist.Filter{}); !errors.Is(err, tooBig) {
				t.Fatalf("%v", err)
			}
		})
	})
}
