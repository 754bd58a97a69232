// Package money holds amounts in integer minor units with their currency.
// There is no floating point anywhere in this package.
package money

import (
	"errors"
	"fmt"
	"math"
	"regexp"
)

// Currency is an ISO 4217 code, three upper-case letters.
type Currency string

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

var (
	// ErrInvalidCurrency is returned for a code that is not three upper-case letters.
	ErrInvalidCurrency = errors.New("money: invalid currency")
	// ErrCurrencyMismatch is returned when two amounts of different currencies meet.
	ErrCurrencyMismatch = errors.New("money: currency mismatch")
	// ErrOverflow is returned when a result does not fit in 64 bits.
	ErrOverflow = errors.New("money: amount overflow")
)

// ParseCurrency validates s as a currency code.
func ParseCurrency(s string) (Currency, error) {
	if !currencyPattern.MatchString(s) {
		return "", fmt.Errorf("%w: %q", ErrInvalidCurrency, s)
	}
	return Currency(s), nil
}

// Money is an amount in minor units (cents) of a currency.
type Money struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// New returns amount minor units of currency c.
func New(amount int64, c Currency) Money { return Money{Amount: amount, Currency: c} }

// Zero returns nothing of currency c.
func Zero(c Currency) Money { return Money{Currency: c} }

// Add returns m+o, or an error when the currencies differ or the sum overflows.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	if (o.Amount > 0 && m.Amount > math.MaxInt64-o.Amount) || (o.Amount < 0 && m.Amount < math.MinInt64-o.Amount) {
		return Money{}, ErrOverflow
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// Sub returns m-o, or an error when the currencies differ or the result overflows.
func (m Money) Sub(o Money) (Money, error) {
	if o.Amount == math.MinInt64 {
		return Money{}, ErrOverflow
	}
	return m.Add(Money{Amount: -o.Amount, Currency: o.Currency})
}

// Mul returns m*n, or ErrOverflow.
func (m Money) Mul(n int64) (Money, error) {
	if m.Amount == 0 || n == 0 {
		return Money{Currency: m.Currency}, nil
	}
	r := m.Amount * n
	if r/n != m.Amount || (m.Amount == -1 && n == math.MinInt64) || (n == -1 && m.Amount == math.MinInt64) {
		return Money{}, ErrOverflow
	}
	return Money{Amount: r, Currency: m.Currency}, nil
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

// String formats m as "12.34 EUR" for logs and messages; two decimals are
// assumed, which holds for the currencies this product uses.
func (m Money) String() string {
	sign := ""
	a := m.Amount
	if a < 0 {
		sign = "-"
		a = -a
	}
	if a < 0 { // MinInt64
		return fmt.Sprintf("%d minor units %s", m.Amount, m.Currency)
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.Currency)
}
