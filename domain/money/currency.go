package money

import (
	"fmt"

	"golang.org/x/text/currency"
)

// Currency is an ISO 4217 code, three upper-case letters, of a currency in
// use (see ParseCurrency).
type Currency string

// tender is every currency that is legal tender today in some region,
// with its number of decimals, from the ISO 4217 and CLDR data of
// golang.org/x/text/currency. Built once, never changed.
var tender = func() map[Currency]int {
	m := map[Currency]int{}
	for it := currency.Query(); it.Next(); {
		u := it.Unit()
		scale, _ := currency.Standard.Rounding(u)
		m[Currency(u.String())] = scale
	}
	return m
}()

// ParseCurrency validates s as a currency code: three upper-case letters
// naming an ISO 4217 currency that is legal tender in some region today,
// as golang.org/x/text/currency knows it. Refused, with ErrInvalidCurrency:
// codes that name no currency ("ZZZ"), lower case ("eur"), the codes for no
// currency and for testing (XXX, XTS), precious metals (XAU, XAG, XPT, XPD),
// funds and units of account that are no one's tender (CLF, USN, XDR,
// XBA...), and withdrawn currencies (DEM, FRF).
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if !c.Valid() {
		return "", fmt.Errorf("%w: %q", ErrInvalidCurrency, s)
	}
	return c, nil
}

// Valid reports whether c is a currency ParseCurrency accepts.
func (c Currency) Valid() bool {
	_, ok := tender[c]
	return ok
}

// Scale is the number of decimals of c's minor unit: 2 for EUR and USD, 0
// for JPY, 3 for KWD; 2 for a code that is not a currency.
func (c Currency) Scale() int {
	if s, ok := tender[c]; ok {
		return s
	}
	return 2
}
