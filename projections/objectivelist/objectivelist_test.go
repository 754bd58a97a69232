package objectivelist_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/readstores"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/objectivelist"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

func eur(n int64) money.Money { return money.New(n, "EUR") }

// list sets a 2026-Q4 objective of target for rep (and one for another
// rep), projects payments credited to rep in November, and lists the
// objectives.
func list(t *testing.T, target int64, payments ...money.Money) ([]objectivelist.Objective, error) {
	t.Helper()
	reads := readstores.Open(t)
	ctx := tenant.With(context.Background(), "acme")
	if err := reads.Migrate(ctx, objectivelist.New()); err != nil {
		t.Fatal(err)
	}
	reg := streams.NewRegistry()
	streams.Register(reg, objective.Set{}, invoice.PaymentRecorded{})
	log := projectiontest.NewLog("acme", reg)
	recs := []streams.Record{
		log.Append(t, log.Stream(t, "objective", "o-rep"), objective.Set{ObjectiveID: "o-rep", Assignee: "rep", Period: "2026-Q4", Metric: "revenue", Target: eur(target)}),
		log.Append(t, log.Stream(t, "objective", "o-other"), objective.Set{ObjectiveID: "o-other", Assignee: "other", Period: "2026-Q4", Metric: "revenue", Target: eur(100)}),
	}
	for i, m := range payments {
		id := fmt.Sprint("inv-", i)
		recs = append(recs, log.Append(t, log.Stream(t, "invoice", id), invoice.PaymentRecorded{InvoiceID: id, PaymentID: "p", Amount: m,
			PaidAt: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), SalesRep: "rep"}))
	}
	db, err := reads.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	projectiontest.Apply(t, db, reg, []projections.Projector{objectivelist.New()}, recs...)
	db.Release()
	items, _, err := objectivelist.NewQueries(reads).List(user.With(ctx, user.Principal{ID: "mgr", Roles: []user.Role{user.Manager}}), objectivelist.Filter{})
	return items, err
}

func TestProgressIsChecked(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		t.Run("at the bound, exact", func(t *testing.T) {
			t.Parallel()
			got, err := list(t, money.MaxAmount/2, eur(money.MaxAmount-1), eur(1), money.New(7, "USD"))
			if err != nil || len(got) != 2 {
				t.Fatalf("objectives %+v (%v)", got, err)
			}
			rep, other := got[1], got[0] // newest first
			if rep.Progress != eur(money.MaxAmount) || rep.AchievedRatio != 2 || other.Progress != eur(0) || other.AchievedRatio != 0 {
				t.Fatalf("rep %+v, other %+v", rep, other)
			}
		})
		for name, payments := range map[string][]money.Money{
			"two of 5e18, whose SQL SUM overflows": {eur(5_000_000_000_000_000_000), eur(5_000_000_000_000_000_000)},
			"one of 9e18":                          {eur(9_000_000_000_000_000_000)},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if got, err := list(t, 100, payments...); !errors.Is(err, &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range"}) {
					t.Fatalf("objectives %+v (%v), want total_out_of_range", got, err)
				}
			})
		}
	})
}

func TestRatio(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		tests := []struct {
			progress, target int64
			want             float64
		}{
			{30_000, 100_000, 0.3},
			{2 * money.MaxAmount, money.MaxAmount, 2},
			{2, 3, 0.6666},
			{money.MaxTotal, 1, float64(money.MaxTotal)},
			{1, 3, 0.3333},
			{5, 0, 0},
			{math.MaxInt64, 2, float64(math.MaxInt64 / 2)}, // × 10,000 does not fit 64 bits
		}
		for _, tc := range tests {
			if got := objectivelist.Ratio(tc.progress, tc.target); got != tc.want {
				t.Errorf("Ratio(%d, %d) = %v, want %v", tc.progress, tc.target, got, tc.want)
			}
		}
	})
}
