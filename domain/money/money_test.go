package money

import (
	"errors"
	"math"
	"testing"

	"github.com/atrium-platform/atrium/domain"
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
		{"mul negative", func() (Money, error) { return eur(-7).Mul(3) }, eur(-21), nil},
		{"mul by zero", func() (Money, error) { return eur(MaxAmount).Mul(0) }, eur(0), nil},
		{"currency mismatch", func() (Money, error) { return eur(1).Add(New(1, "USD")) }, Money{}, ErrCurrencyMismatch},
		{"add up to the bound", func() (Money, error) { return eur(MaxAmount - 1).Add(eur(1)) }, eur(MaxAmount), nil},
		{"add beyond the bound", func() (Money, error) { return eur(MaxAmount).Add(eur(1)) }, Money{}, ErrOutOfRange},
		{"add an operand beyond the bound", func() (Money, error) { return eur(math.MaxInt64).Add(eur(-math.MaxInt64)) }, Money{}, ErrOutOfRange},
		{"add that would wrap", func() (Money, error) { return eur(math.MaxInt64).Add(eur(1)) }, Money{}, ErrOutOfRange},
		{"sub beyond the bound", func() (Money, error) { return eur(-MaxAmount).Sub(eur(1)) }, Money{}, ErrOutOfRange},
		{"sub that would wrap", func() (Money, error) { return eur(math.MinInt64).Sub(eur(1)) }, Money{}, ErrOutOfRange},
		{"sub of min", func() (Money, error) { return eur(0).Sub(eur(math.MinInt64)) }, Money{}, ErrOutOfRange},
		{"mul up to the bound", func() (Money, error) { return eur(MaxAmount / 4).Mul(4) }, eur(MaxAmount), nil},
		{"mul beyond the bound", func() (Money, error) { return eur(MaxAmount/4 + 1).Mul(4) }, Money{}, ErrOutOfRange},
		{"mul that would wrap to a small number", func() (Money, error) { return eur(1 << 32).Mul(1 << 32) }, Money{}, ErrOutOfRange},
		{"mul 9e18", func() (Money, error) { return eur(9_000_000_000).Mul(1_000_000_000) }, Money{}, ErrOutOfRange},
		{"mul min by -1", func() (Money, error) { return eur(math.MinInt64).Mul(-1) }, Money{}, ErrOutOfRange},
		{"mul of an amount beyond the bound", func() (Money, error) { return eur(math.MaxInt64).Mul(1) }, Money{}, ErrOutOfRange},
		{"sum", func() (Money, error) { return Sum("EUR", eur(1), eur(2), eur(3)) }, eur(6), nil},
		{"sum of nothing", func() (Money, error) { return Sum("EUR") }, eur(0), nil},
		{"sum beyond the bound", func() (Money, error) { return Sum("EUR", eur(MaxAmount), eur(1)) }, Money{}, ErrOutOfRange},
		{"sum of wrapping amounts", func() (Money, error) { return Sum("EUR", eur(math.MaxInt64), eur(math.MaxInt64), eur(2)) }, Money{}, ErrOutOfRange},
		{"sum of two currencies", func() (Money, error) { return Sum("EUR", eur(1), New(1, "USD")) }, Money{}, ErrCurrencyMismatch},
		{"total", func() (Money, error) { return AddTotal(eur(MaxAmount), eur(MaxAmount)) }, eur(2 * MaxAmount), nil},
		{"total up to its bound", func() (Money, error) { return AddTotal(eur(MaxTotal-1), eur(1)) }, eur(MaxTotal), nil},
		{"total beyond its bound", func() (Money, error) { return AddTotal(eur(MaxTotal), eur(1)) }, Money{}, ErrTotalOutOfRange},
		{"total that would wrap", func() (Money, error) { return AddTotal(eur(math.MaxInt64), eur(math.MaxInt64)) }, Money{}, ErrTotalOutOfRange},
		{"total of two currencies", func() (Money, error) { return AddTotal(eur(1), New(1, "USD")) }, Money{}, ErrCurrencyMismatch},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if !errors.Is(err, tc.withError) || (err == nil && got != tc.want) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, err, tc.want, tc.withError)
		}
	}
}

// TestTotalsNeverWrap adds amounts at the bound until the total is refused:
// every accepted total is exact, and the refusal comes before any wrap.
func TestTotalsNeverWrap(t *testing.T) {
	total := Zero("EUR")
	var n int64
	for {
		next, err := AddTotal(total, New(MaxAmount, "EUR"))
		if err != nil {
			if !errors.Is(err, ErrTotalOutOfRange) {
				t.Fatal(err)
			}
			break
		}
		n++
		if next.Amount != n*MaxAmount {
			t.Fatalf("after %d amounts: %d", n, next.Amount)
		}
		total = next
	}
	if n != MaxTotal/MaxAmount {
		t.Fatalf("%d amounts at the bound were added, want %d", n, MaxTotal/MaxAmount)
	}
}

func TestMulDiv(t *testing.T) {
	tests := []struct {
		a, b, d int64
		want    int64
		fails   bool
	}{
		{30_000, 10_000, 100_000, 3_000, false},
		{MaxTotal, 10_000, 1, 0, true}, // 9e19 does not fit
		{MaxTotal, 10_000, 1_000_000, MaxTotal / 100, false},
		{MaxTotal, 90, MaxAmount, 810, false},
		{-10, 3, 4, -7, false},
		{10, -3, -4, 7, false},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, false},
		{math.MinInt64, 1, 1, 0, true},
		{1, 1, 0, 0, true},
	}
	for _, tc := range tests {
		got, err := MulDiv(tc.a, tc.b, tc.d)
		if (err != nil) != tc.fails || (!tc.fails && got != tc.want) {
			t.Errorf("MulDiv(%d, %d, %d) = %d, %v; want %d (fails %v)", tc.a, tc.b, tc.d, got, err, tc.want, tc.fails)
		}
	}
}

func TestCurrencies(t *testing.T) {
	tests := []struct {
		code  string
		ok    bool
		scale int
	}{
		{"EUR", true, 2},
		{"USD", true, 2},
		{"JPY", true, 0},
		{"KWD", true, 3},
		{"CHF", true, 2},
		{"XOF", true, 0}, // West African CFA franc: legal tender of several regions
		{"ZZZ", false, 0},
		{"Eur", false, 0},
		{"eur", false, 0},
		{"EURO", false, 0},
		{"", false, 0},
		{"XXX", false, 0}, // no currency
		{"XTS", false, 0}, // testing
		{"XAU", false, 0}, // gold
		{"XDR", false, 0}, // special drawing rights
		{"USN", false, 0}, // a fund, not tender
		{"CLF", false, 0}, // a unit of account, not tender
		{"DEM", false, 0}, // withdrawn
	}
	for _, tc := range tests {
		c, err := ParseCurrency(tc.code)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrInvalidCurrency)) {
			t.Errorf("ParseCurrency(%q): %v, want ok %v", tc.code, err, tc.ok)
			continue
		}
		if tc.ok && (c.Scale() != tc.scale || !c.Valid()) {
			t.Errorf("%s: scale %d, want %d", tc.code, c.Scale(), tc.scale)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{New(-12345, "EUR"), "-123.45 EUR"},
		{New(5, "EUR"), "0.05 EUR"},
		{New(12345, "JPY"), "12345 JPY"},
		{New(12345, "KWD"), "12.345 KWD"},
		{New(MaxAmount, "USD"), "10000000000000.00 USD"},
		{New(math.MinInt64, "EUR"), "-92233720368547758.08 EUR"},
	}
	for _, tc := range tests {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		code, field string
	}{
		{"accepted", CheckCurrency("currency", "EUR", []Currency{"EUR"}), "", ""},
		{"not accepted", CheckCurrency("currency", "USD", []Currency{"EUR"}), "currency_not_accepted", "currency"},
		{"no currency", CheckCurrency("amount.currency", "ZZZ", []Currency{"EUR", "ZZZ"}), "invalid_currency", "amount.currency"},
		{"in range", CheckAmount("amount", MaxAmount), "", ""},
		{"beyond the bound", CheckAmount("amount.amount", MaxAmount+1), "amount_out_of_range", "amount.amount"},
		{"below the bound", CheckAmount("amount.amount", math.MinInt64), "amount_out_of_range", "amount.amount"},
	}
	for _, tc := range tests {
		if tc.code == "" {
			if tc.err != nil {
				t.Errorf("%s: %v", tc.name, tc.err)
			}
			continue
		}
		var de *domain.Error
		if !errors.As(tc.err, &de) || de.Code != tc.code || de.Field != tc.field || de.Kind != domain.Rejected {
			t.Errorf("%s: %v, want a rejection %s naming %s", tc.name, tc.err, tc.code, tc.field)
		}
	}
}

// The list is ISO 4217 as it stands: currencies introduced lately are
// accepted, withdrawn ones and funds refused.
func TestCurrencyListIsCurrent(t *testing.T) {
	for _, c := range []string{"VES", "MRU", "SLE", "ZWG", "XCG", "EUR", "JPY"} {
		if _, err := ParseCurrency(c); err != nil {
			t.Errorf("%s refused: %v", c, err)
		}
	}
	for _, c := range []string{"HRK", "VEF", "MRO", "DEM", "CLF", "USN", "BOV", "XXX", "XTS", "XAU", "XDR", "ZZZ", "eur", "EURO"} {
		if _, err := ParseCurrency(c); err == nil {
			t.Errorf("%s accepted", c)
		}
	}
	if got := Currency("IDR").Scale(); got != 2 {
		t.Errorf("IDR has %d decimals, ISO 4217 says 2", got)
	}
}
