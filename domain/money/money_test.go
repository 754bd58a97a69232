package money

import (
	"errors"
	"math"
	"testing"
)

func TestArithmetic(t *testing.T) {
	eur := func(n int64) Money { return New(n, "EUR") }
	tests := []struct {
		name      string
		got       func() (Money, error)
		want      Money
		withError error
	}{
		{"add", func() (Money, error) { return eur(150).Add(eur(275)) }, eur(425), nil},
		{"sub", func() (Money, error) { return eur(150).Sub(eur(275)) }, eur(-125), nil},
		{"mul", func() (Money, error) { return eur(1999).Mul(3) }, eur(5997), nil},
		{"currency mismatch", func() (Money, error) { return eur(1).Add(New(1, "USD")) }, Money{}, ErrCurrencyMismatch},
		{"add overflow", func() (Money, error) { return eur(math.MaxInt64).Add(eur(1)) }, Money{}, ErrOverflow},
		{"sub overflow", func() (Money, error) { return eur(math.MinInt64).Sub(eur(1)) }, Money{}, ErrOverflow},
		{"sub of min", func() (Money, error) { return eur(0).Sub(eur(math.MinInt64)) }, Money{}, ErrOverflow},
		{"mul overflow", func() (Money, error) { return eur(1 << 62).Mul(4) }, Money{}, ErrOverflow},
		{"mul min by -1", func() (Money, error) { return eur(math.MinInt64).Mul(-1) }, Money{}, ErrOverflow},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if !errors.Is(err, tc.withError) || (err == nil && got != tc.want) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, err, tc.want, tc.withError)
		}
	}
	if s := New(-12345, "EUR").String(); s != "-123.45 EUR" {
		t.Fatal(s)
	}
	if _, err := ParseCurrency("Eur"); !errors.Is(err, ErrInvalidCurrency) {
		t.Fatal(err)
	}
}
