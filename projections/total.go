package projections

import (
	"errors"
	"fmt"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
)

// AddTotal returns total+m for a report that adds up stored amounts: every
// sum a query answers goes through it, never through a raw + in Go or a
// SUM in SQL. A result beyond money.MaxTotal, or an amount beyond it (one
// recorded before amounts were bounded), is the rejection
// total_out_of_range (422): a report never answers a total that wrapped
// around, nor one its JSON clients would round, nor a 500.
func AddTotal(total, m money.Money) (money.Money, error) {
	t, err := money.AddTotal(total, m)
	switch {
	case errors.Is(err, money.ErrTotalOutOfRange):
		return money.Money{}, TotalOutOfRange()
	case err != nil:
		return money.Money{}, fmt.Errorf("total: %w", err)
	}
	return t, nil
}

// TotalOutOfRange is the rejection of a report whose total is beyond
// money.MaxTotal.
func TotalOutOfRange() error {
	return &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range",
		Message: fmt.Sprintf("a total of this report is beyond %d minor units, the largest this API answers", money.MaxTotal)}
}
