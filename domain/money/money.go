// Package money holds amounts in integer minor units with their currency.
// There is no floating point anywhere in this package.
//
// Amounts are bounded: a single amount (a price, a line, a document's
// total, a payment, a policy's threshold) is at most MaxAmount minor units,
// and every sum or product of amounts is checked against that bound
// instead of wrapping around. Reports that add up many documents are
// bounded by MaxTotal.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// MaxAmount is the largest amount, in minor units, of anything a client
// sends or a document holds: 10^15 (ten trillion euros in cents, a
// quadrillion yen). It is below 2^53, so every amount travels through JSON
// exactly, JavaScript clients included, and the products and sums of a
// few amounts fit in 64 bits.
const MaxAmount int64 = 1_000_000_000_000_000

// MaxTotal is the largest total a report answers (a client's outstanding
// amount, a month's expenses, a salesperson's revenue): 2^53 - 1, the
// largest integer every JSON client reads exactly.
const MaxTotal int64 = 1<<53 - 1

var (
	// ErrInvalidCurrency is returned for a code that is not an ISO 4217
	// currency in use (see ParseCurrency).
	ErrInvalidCurrency = errors.New("money: invalid currency")
	// ErrCurrencyMismatch is returned when two amounts of different currencies meet.
	ErrCurrencyMismatch = errors.New("money: currency mismatch")
	// ErrOutOfRange is returned when an amount, or the result of arithmetic
	// on amounts, is beyond ±MaxAmount.
	ErrOutOfRange = errors.New("money: amount out of range")
	// ErrTotalOutOfRange is returned when a report's total is beyond ±MaxTotal.
	ErrTotalOutOfRange = errors.New("money: total out of range")
)

// Money is an amount in minor units (cents) of a currency.
type Money struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// New returns amount minor units of currency c.
func New(amount int64, c Currency) Money { return Money{Amount: amount, Currency: c} }

// Zero returns nothing of currency c.
func Zero(c Currency) Money { return Money{Currency: c} }

// InRange reports whether a is within ±MaxAmount.
func InRange(a int64) bool { return a >= -MaxAmount && a <= MaxAmount }

// Add returns m+o, or an error when the currencies differ, or ErrOutOfRange
// when m, o or the sum is beyond ±MaxAmount.
func (m Money) Add(o Money) (Money, error) {
	return m.add(o, MaxAmount, ErrOutOfRange)
}

// Sub returns m-o, or an error when the currencies differ, or ErrOutOfRange
// when m, o or the result is beyond ±MaxAmount.
func (m Money) Sub(o Money) (Money, error) {
	if o.Amount == math.MinInt64 {
		return Money{}, ErrOutOfRange
	}
	return m.Add(Money{Amount: -o.Amount, Currency: o.Currency})
}

// Mul returns m*n, or ErrOutOfRange when m or the product is beyond
// ±MaxAmount.
func (m Money) Mul(n int64) (Money, error) {
	hi, lo := bits.Mul64(abs(m.Amount), abs(n))
	if hi != 0 || lo > uint64(MaxAmount) || !InRange(m.Amount) {
		return Money{}, ErrOutOfRange
	}
	r := int64(lo)
	if (m.Amount < 0) != (n < 0) {
		r = -r
	}
	return Money{Amount: r, Currency: m.Currency}, nil
}

// Sum returns the sum of ms in currency c, or an error when one of them is
// in another currency or the sum, or any amount, is beyond ±MaxAmount.
func Sum(c Currency, ms ...Money) (Money, error) {
	total := Zero(c)
	for _, m := range ms {
		if !InRange(m.Amount) {
			return Money{}, ErrOutOfRange
		}
		var err error
		if total, err = total.Add(m); err != nil {
			return Money{}, err
		}
	}
	return total, nil
}

// AddTotal returns total+m for a report that adds up many amounts: an error
// when the currencies differ or the result is beyond ±MaxTotal
// (ErrTotalOutOfRange). It never wraps around.
func AddTotal(total, m Money) (Money, error) {
	return total.add(m, MaxTotal, ErrTotalOutOfRange)
}

func (m Money) add(o Money, bound int64, errBound error) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	// Both within ±bound (< 2^62), so the sum cannot wrap before it is checked.
	if m.Amount < -bound || m.Amount > bound || o.Amount < -bound || o.Amount > bound {
		return Money{}, errBound
	}
	r := m.Amount + o.Amount
	if r < -bound || r > bound {
		return Money{}, errBound
	}
	return Money{Amount: r, Currency: m.Currency}, nil
}

// MulDiv returns a*b/d rounded toward zero, computed without intermediate
// overflow; an error when d is zero or the result does not fit in 64 bits.
func MulDiv(a, b, d int64) (int64, error) {
	if d == 0 {
		return 0, errors.New("money: division by zero")
	}
	hi, lo := bits.Mul64(abs(a), abs(b))
	if hi >= abs(d) {
		return 0, ErrOutOfRange
	}
	q, _ := bits.Div64(hi, lo, abs(d))
	neg := (a < 0) != (b < 0) != (d < 0)
	if q > math.MaxInt64 {
		return 0, ErrOutOfRange
	}
	if neg {
		return -int64(q), nil
	}
	return int64(q), nil
}

// abs is |n| as an unsigned number, exact for MinInt64 too.
func abs(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1
	}
	return uint64(n)
}

// Cmp compares m and o of the same currency: -1, 0 or +1. Comparing different
// currencies is an error.
func (m Money) Cmp(o Money) (int, error) {
	if m.Currency != o.Currency {
		return 0, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	switch {
	case m.Amount < o.Amount:
		return -1, nil
	case m.Amount > o.Amount:
		return 1, nil
	}
	return 0, nil
}

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.Amount == 0 }

// String formats m for logs and messages with its currency's decimals:
// "12.34 EUR", "1234 JPY", "1.234 KWD".
func (m Money) String() string {
	sign := ""
	a := abs(m.Amount)
	if m.Amount < 0 {
		sign = "-"
	}
	scale := m.Currency.Scale()
	if scale == 0 {
		return fmt.Sprintf("%s%d %s", sign, a, m.Currency)
	}
	unit := uint64(1)
	for range scale {
		unit *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, a/unit, scale, a%unit, m.Currency)
}
