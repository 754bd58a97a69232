package expenselist_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/atrium-platform/atrium/adapters/readstores"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/expenselist"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

// totals projects an approved claim per amount (category meals, November,
// owner emp, in EUR but where a currency is given) and reads the totals by
// category.
func totals(t *testing.T, claims ...money.Money) ([]expenselist.Total, error) {
	t.Helper()
	reads := readstores.Open(t)
	ctx := tenant.With(context.Background(), "acme")
	if err := reads.Migrate(ctx, expenselist.New()); err != nil {
		t.Fatal(err)
	}
	reg := streams.NewRegistry()
	streams.Register(reg, expense.Drafted{}, expense.Submitted{}, expense.Approved{})
	log := projectiontest.NewLog("acme", reg)
	var recs []streams.Record
	for i, m := range claims {
		id := fmt.Sprint("e-", i)
		s := log.Stream(t, "expense", id)
		recs = append(recs,
			log.Append(t, s, expense.Drafted{ExpenseID: id, Owner: "emp", Category: "meals", Amount: m, SpentOn: "2026-11-20"}),
			log.Append(t, s, expense.Submitted{ExpenseID: id, By: "emp"}),
			log.Append(t, s, expense.Approved{ExpenseID: id, By: "mgr"}))
	}
	db, err := reads.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	projectiontest.Apply(t, db, reg, []projections.Projector{expenselist.New()}, recs...)
	db.Release()
	return expenselist.NewQueries(reads).Totals(user.With(ctx, user.Principal{ID: "mgr", Roles: []user.Role{user.Manager}}), "category")
}

func TestTotalsAreChecked(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		eur := func(n int64) money.Money { return money.New(n, "EUR") }
		t.Run("at the bound, exact and per currency", func(t *testing.T) {
			t.Parallel()
			got, err := totals(t, eur(money.MaxAmount), eur(money.MaxAmount), money.New(5, "USD"), eur(1))
			want := []expenselist.Total{
				{Month: "2026-11", Key: "meals", Amount: eur(2*money.MaxAmount + 1), Expenses: 3},
				{Month: "2026-11", Key: "meals", Amount: money.New(5, "USD"), Expenses: 1},
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("totals %+v (%v), want %+v", got, err, want)
			}
		})
		for name, claims := range map[string][]money.Money{
			"two of 5e18, whose SQL SUM overflows": {eur(5_000_000_000_000_000_000), eur(5_000_000_000_000_000_000)},
			"one of 9e18":                          {eur(9_000_000_000_000_000_000)},
			"ten at the bound":                     {eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount), eur(money.MaxAmount)},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if got, err := totals(t, claims...); !errors.Is(err, &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range"}) {
					t.Fatalf("totals %+v (%v), want total_out_of_range", got, err)
				}
			})
		}
	})
}
