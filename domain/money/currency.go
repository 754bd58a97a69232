package money

import (
	"fmt"

	"github.com/bojanz/currency"
)

// Currency is an ISO 4217 code, three upper-case letters, of a currency in
// use (see ParseCurrency).
type Currency string

// funds are ISO 4217 codes of funds and units of account: codes of the
// list, but nobody's means of payment, so no invoice or claim is in them.
var funds = map[Currency]bool{
	"BOV": true, "CHE": true, "CHW": true, "CLF": true, "COU": true,
	"MXV": true, "USN": true, "UYI": true, "UYW": true,
}

// ParseCurrency validates s as a currency code: three upper-case letters
// naming a current ISO 4217 currency, as github.com/bojanz/currency knows
// it from CLDR's ISO 4217 data. Refused, with ErrInvalidCurrency: codes that
// name no currency ("ZZZ"), lower case ("eur"), the codes for no currency
// and for testing (XXX, XTS), precious metals (XAU, XAG, XPT, XPD), funds
// and units of account (CLF, USN, XDR...), and withdrawn currencies (DEM,
// FRF, HRK).
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if !c.Valid() {
		return "", fmt.Errorf("%w: %q", ErrInvalidCurrency, s)
	}
	return c, nil
}

// Valid reports whether c is a currency ParseCurrency accepts.
func (c Currency) Valid() bool {
	return len(c) == 3 && currency.IsValid(string(c)) && !funds[c]
}

// Scale is the number of decimals of c's minor unit: 2 for EUR and USD, 0
// for JPY, 3 for KWD; 2 for a code that is not a currency.
func (c Currency) Scale() int {
	if d, ok := currency.GetDigits(string(c)); ok && c.Valid() {
		return int(d)
	}
	return 2
}
