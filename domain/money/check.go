package money

import (
	"slices"

	"github.com/atrium-platform/atrium/domain"
)

// CheckCurrency refuses a currency the tenant does not take, naming field:
// invalid_currency when c is no currency at all (see ParseCurrency),
// currency_not_accepted when it is one but not among accepted. Both are
// rejections (422): the request is well formed, the tenant refuses it.
func CheckCurrency(field string, c Currency, accepted []Currency) error {
	if _, err := ParseCurrency(string(c)); err != nil {
		return &domain.Error{Kind: domain.Rejected, Code: "invalid_currency", Field: field,
			Message: "currency must be an ISO 4217 currency code such as EUR"}
	}
	if !slices.Contains(accepted, c) {
		return &domain.Error{Kind: domain.Rejected, Code: "currency_not_accepted", Field: field,
			Message: "this tenant does not accept " + string(c) + "; see the currencies of its settings"}
	}
	return nil
}

// CheckAmount refuses an amount beyond ±MaxAmount, naming field: a
// rejection (422) with the code amount_out_of_range. Signs are the
// caller's rule.
func CheckAmount(field string, a int64) error {
	if InRange(a) {
		return nil
	}
	return OutOfRange(field)
}

// OutOfRange is the rejection (422 amount_out_of_range) of an amount, or of
// arithmetic on amounts, beyond ±MaxAmount, naming field.
func OutOfRange(field string) error {
	return &domain.Error{Kind: domain.Rejected, Code: "amount_out_of_range", Field: field,
		Message: field + " is beyond the largest amount, 1,000,000,000,000,000 minor units"}
}
