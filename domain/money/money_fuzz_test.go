package money

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"testing"
)

// isCode reports whether s is three upper-case ASCII letters, written
// without the package's pattern so the two can disagree.
func isCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// FuzzParseCurrency: whatever the input, a currency accepted is three
// upper-case letters and is the input itself; anything else is
// ErrInvalidCurrency.
func FuzzParseCurrency(f *testing.F) {
	for _, s := range []string{"EUR", "USD", "Eur", "ZZZ", "EURO", "EU", "", "EUR\n", "\nEUR", "E\x00R", "ЕUR", "ＥＵＲ", "\xff\xfe\xfd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCurrency(s)
		if err == nil && !isCode(s) {
			// Only well-formed codes are currencies; of those, only the
			// ones ISO 4217 lists as in use.
			t.Fatalf("ParseCurrency(%q) = %q, %v", s, c, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidCurrency) || c != "" {
				t.Fatalf("ParseCurrency(%q) = %q, %v, want ErrInvalidCurrency", s, c, err)
			}
			return
		}
		if string(c) != s {
			t.Fatalf("ParseCurrency(%q) = %q", s, c)
		}
	})
}

// FuzzMoneyJSON decodes arbitrary bytes into a Money as a request body
// does: a decoded amount is exactly the number written (never rounded,
// clamped or wrapped), and the value encodes and decodes to itself.
func FuzzMoneyJSON(f *testing.F) {
	for _, s := range []string{
		`{"amount":95000,"currency":"EUR"}`,
		`{"amount":-1,"currency":"USD"}`,
		`{"amount":9223372036854775807,"currency":"EUR"}`,
		`{"amount":9223372036854775808,"currency":"EUR"}`,
		`{"amount":-9223372036854775809,"currency":"EUR"}`,
		`{"amount":9e18,"currency":"EUR"}`,
		`{"amount":1.5,"currency":"EUR"}`,
		`{"amount":"100","currency":"EUR"}`,
		`{"amount":100,"currency":"ZZZ"}`,
		`{"amount":100,"currency":"eur\u0000"}`,
		`{"AMOUNT":1,"amount":2,"Currency":"EUR"}`,
		`{"amount":null,"currency":null}`,
		`null`,
		`[]`,
		"{\"amount\":1,\"currency\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Money
		if err := json.Unmarshal(data, &m); err != nil {
			return
		}
		var raw struct {
			Amount json.Number `json:"amount"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("%q decodes as Money %+v but its amount is not a number: %v", data, m, err)
		}
		want := new(big.Int)
		if raw.Amount != "" {
			if _, ok := want.SetString(string(raw.Amount), 10); !ok {
				t.Fatalf("%q decodes as Money %+v from the amount %s, not an integer", data, m, raw.Amount)
			}
		}
		if !want.IsInt64() || want.Int64() != m.Amount {
			t.Fatalf("%q decodes to the amount %d, but it says %s", data, m.Amount, raw.Amount)
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Money %+v does not encode: %v", m, err)
		}
		var back Money
		if err := json.Unmarshal(out, &back); err != nil || back != m {
			t.Fatalf("Money %+v encodes as %s, which decodes to %+v, %v", m, out, back, err)
		}
	})
}

// FuzzArithmetic compares Add, Sub, Mul and Cmp with math/big: each gives
// the exact result, or an error when the currencies differ, or
// ErrOutOfRange when an amount or the result is beyond ±MaxAmount, and
// never wraps around.
func FuzzArithmetic(f *testing.F) {
	type seed struct {
		a, b, n int64
		ca, cb  string
	}
	for _, s := range []seed{
		{150, 275, 3, "EUR", "EUR"},
		{math.MaxInt64, 1, 2, "EUR", "EUR"},
		{math.MinInt64, -1, -1, "EUR", "EUR"},
		{0, math.MinInt64, math.MinInt64, "USD", "USD"},
		{-1, math.MaxInt64, math.MaxInt64, "EUR", "EUR"},
		{9e18, 9e18, 2, "EUR", "EUR"},
		{1 << 32, 1 << 31, 1 << 31, "EUR", "EUR"},
		{1, 1, 1, "EUR", "USD"},
		{0, 0, 0, "", ""},
		{1, 1, 1, "ZZZ", "ZZZ\x00"},
	} {
		f.Add(s.a, s.b, s.n, s.ca, s.cb)
	}
	f.Fuzz(func(t *testing.T, a, b, n int64, ca, cb string) {
		m, o := New(a, Currency(ca)), New(b, Currency(cb))
		x, y, k := big.NewInt(a), big.NewInt(b), big.NewInt(n)
		mismatch := ca != cb

		operands := InRange(a) && InRange(b)
		got, err := m.Add(o)
		checkResult(t, "Add", m, o, got, err, new(big.Int).Add(x, y), mismatch, operands)
		got, err = m.Sub(o)
		checkResult(t, "Sub", m, o, got, err, new(big.Int).Sub(x, y), mismatch, operands)
		got, err = m.Mul(n)
		checkResult(t, "Mul", m, n, got, err, new(big.Int).Mul(x, k), false, InRange(a))

		c, err := m.Cmp(o)
		switch {
		case mismatch && !errors.Is(err, ErrCurrencyMismatch):
			t.Fatalf("%v.Cmp(%v) = %d, %v, want ErrCurrencyMismatch", m, o, c, err)
		case !mismatch && (err != nil || c != x.Cmp(y)):
			t.Fatalf("%v.Cmp(%v) = %d, %v, want %d", m, o, c, err, x.Cmp(y))
		}
		_ = m.String()
	})
}

// checkResult holds got, err of m op arg against the exact result want: the
// result when the operands and it are within ±MaxAmount (ErrOutOfRange
// otherwise), an error whenever the currencies differ.
func checkResult(t *testing.T, op string, m Money, arg any, got Money, err error, want *big.Int, mismatch, operandsInRange bool) {
	t.Helper()
	bound := big.NewInt(MaxAmount)
	switch {
	case mismatch:
		if err == nil {
			t.Fatalf("%v.%s(%v) = %v with different currencies", m, op, arg, got)
		}
	case !operandsInRange || want.CmpAbs(bound) > 0:
		if !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("%v.%s(%v) = %v, %v: an operand or the exact result %s is beyond the bound, want ErrOutOfRange", m, op, arg, got, err, want)
		}
	case err != nil:
		t.Fatalf("%v.%s(%v): %v, but the operands and the exact result %s are within the bound", m, op, arg, err, want)
	case got.Amount != want.Int64() || got.Currency != m.Currency:
		t.Fatalf("%v.%s(%v) = %v, want %s %s", m, op, arg, got, want, m.Currency)
	}
}
