package tenancy

import (
	"fmt"
	"maps"
	"slices"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
)

// MaxCurrencies is how many currencies a tenant accepts at most.
const MaxCurrencies = 20

// CurrencyPolicy is a tenant's policies for documents in one of its
// accepted currencies other than its primary currency, in minor units of
// that currency: the same policies as the primary currency's
// invoice_validation_threshold and expense policy. Every field is
// required; a ceiling is required for every category that has one in the
// primary currency.
type CurrencyPolicy struct {
	InvoiceValidationThreshold *int64           `json:"invoice_validation_threshold"`
	ReceiptRequiredAbove       *int64           `json:"receipt_required_above"`
	CategoryCeilings           map[string]int64 `json:"category_ceilings"`
}

// Policy is what a tenant's settings say about documents in one accepted
// currency, with every amount in that currency.
type Policy struct {
	InvoiceValidationThreshold money.Money
	ReceiptRequiredAbove       money.Money
	CategoryCeilings           map[string]money.Money
}

// Accepted returns the currencies the tenant accepts, its primary currency
// first.
func (s Settings) Accepted() []money.Currency {
	if s.Currencies == nil {
		return []money.Currency{s.Currency}
	}
	return s.Currencies
}

// PolicyIn returns the tenant's policy for documents in c, and false when
// the tenant does not accept c or the settings hold no complete policy for
// it (which valid settings never lack): such documents are refused, never
// let through without a policy.
func (s Settings) PolicyIn(c money.Currency) (Policy, bool) {
	if !slices.Contains(s.Accepted(), c) {
		return Policy{}, false
	}
	if c == s.Currency {
		p := s.ExpensePolicy
		if s.InvoiceValidationThreshold.Currency != c || p.ReceiptRequiredAbove.Currency != c {
			return Policy{}, false
		}
		for _, m := range p.CategoryCeilings {
			if m.Currency != c {
				return Policy{}, false
			}
		}
		return Policy{InvoiceValidationThreshold: s.InvoiceValidationThreshold, ReceiptRequiredAbove: p.ReceiptRequiredAbove,
			CategoryCeilings: p.CategoryCeilings}, true
	}
	cp, ok := s.CurrencyPolicies[c]
	if !ok || cp.InvoiceValidationThreshold == nil || cp.ReceiptRequiredAbove == nil {
		return Policy{}, false
	}
	ceilings := make(map[string]money.Money, len(cp.CategoryCeilings))
	for cat, a := range cp.CategoryCeilings {
		ceilings[cat] = money.New(a, c)
	}
	for cat := range s.ExpensePolicy.CategoryCeilings {
		if _, ok := ceilings[cat]; !ok {
			return Policy{}, false
		}
	}
	return Policy{InvoiceValidationThreshold: money.New(*cp.InvoiceValidationThreshold, c),
		ReceiptRequiredAbove: money.New(*cp.ReceiptRequiredAbove, c), CategoryCeilings: ceilings}, true
}

// policyAmount checks an amount of a policy: not negative, within the bound.
func policyAmount(field string, a int64) error {
	if a < 0 {
		return domain.Invalidf(field, "invalid_amount", "%s must not be negative", field)
	}
	if !money.InRange(a) {
		return domain.Invalidf(field, "amount_out_of_range", "%s is beyond the largest amount, %d minor units", field, money.MaxAmount)
	}
	return nil
}

// validateCurrencies checks the accepted currencies and their policies:
// each an ISO 4217 currency, listed once, the primary currency among them,
// at most MaxCurrencies; a complete policy for each but the primary one,
// and no policy for a currency that is not accepted.
func validateCurrencies(s Settings) error {
	if s.Currencies != nil {
		if len(s.Currencies) == 0 || len(s.Currencies) > MaxCurrencies {
			return domain.Invalidf("currencies", "invalid_currencies", "currencies lists from 1 to %d currencies, the tenant's currency among them", MaxCurrencies)
		}
		for i, c := range s.Currencies {
			field := fmt.Sprintf("currencies[%d]", i)
			if _, err := money.ParseCurrency(string(c)); err != nil {
				return domain.Invalidf(field, "invalid_currency", "%q is not an ISO 4217 currency code such as EUR", c)
			}
			if slices.Contains(s.Currencies[:i], c) {
				return domain.Invalidf(field, "invalid_currencies", "%s is listed twice", c)
			}
		}
		if !slices.Contains(s.Currencies, s.Currency) {
			return domain.Invalidf("currencies", "invalid_currencies", "currencies must include the tenant's currency %s", s.Currency)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(s.CurrencyPolicies)) {
		field := "currency_policies." + string(c)
		switch {
		case c == s.Currency:
			return domain.Invalidf(field, "invalid_currency_policy", "the policy in %s, the tenant's currency, is invoice_validation_threshold and expense_policy", c)
		case !slices.Contains(s.Accepted(), c):
			return domain.Invalidf(field, "currency_not_accepted", "%q is not one of the currencies", c)
		}
	}
	for _, c := range s.Accepted() {
		if c == s.Currency {
			continue
		}
		cp, ok := s.CurrencyPolicies[c]
		if !ok {
			return domain.Invalidf("currency_policies."+string(c), "currency_policy_required",
				"%s is accepted: give its invoice_validation_threshold, receipt_required_above and category_ceilings", c)
		}
		if err := validatePolicy("currency_policies."+string(c), cp, s.ExpensePolicy); err != nil {
			return err
		}
	}
	return nil
}

// validatePolicy checks one currency's policy against the primary
// currency's expense policy.
func validatePolicy(field string, cp CurrencyPolicy, primary ExpensePolicy) error {
	for _, a := range []struct {
		name   string
		amount *int64
	}{{"invoice_validation_threshold", cp.InvoiceValidationThreshold}, {"receipt_required_above", cp.ReceiptRequiredAbove}} {
		if a.amount == nil {
			return domain.Invalidf(field+"."+a.name, "required", "%s.%s is required", field, a.name)
		}
		if err := policyAmount(field+"."+a.name, *a.amount); err != nil {
			return err
		}
	}
	for _, cat := range slices.Sorted(maps.Keys(cp.CategoryCeilings)) {
		f := field + ".category_ceilings." + cat
		if !slices.Contains(primary.Categories, cat) {
			return domain.Invalidf(f, "unknown_category", "%q is not one of the categories", cat)
		}
		if err := policyAmount(f, cp.CategoryCeilings[cat]); err != nil {
			return err
		}
	}
	for _, cat := range slices.Sorted(maps.Keys(primary.CategoryCeilings)) {
		if _, ok := cp.CategoryCeilings[cat]; !ok {
			return domain.Invalidf(field+".category_ceilings."+cat, "required",
				"%s has a ceiling in the tenant's currency, so it needs one in every accepted currency", cat)
		}
	}
	return nil
}
