package http_test

import (
	"encoding/json"
	"testing"
)

// usdPolicy accepts USD beside EUR on acme, with its own threshold (5,000.00),
// receipt threshold (30.00) and travel ceiling (60.00).
const usdPolicy = `{"currencies":["EUR","USD"],
	"expense_policy":{"category_ceilings":{"travel":{"amount":50000,"currency":"EUR"}}},
	"currency_policies":{"USD":{"invoice_validation_threshold":500000,"receipt_required_above":3000,"category_ceilings":{"travel":6000}}}}`

// TestCurrencySettings: the currencies a tenant accepts and their
// policies are settings; invalid ones are 400 naming the field and change
// nothing.
func TestCurrencySettings(t *testing.T) {
	app := newApp(t)
	admin := as(t, app, "acme", "u-adm", "admin")

	s := admin.do("GET", "/api/v1/settings", "").json(t)
	if cs, _ := s["currencies"].([]any); len(cs) != 1 || cs[0] != "EUR" {
		t.Fatalf("default currencies %v", s["currencies"])
	}
	if p, ok := s["currency_policies"].(map[string]any); !ok || len(p) != 0 {
		t.Fatalf("default currency policies %v", s["currency_policies"])
	}
	before := admin.do("GET", "/api/v1/settings", "").body

	bad := []struct{ name, body, code, field string }{
		{"not a currency", `{"currencies":["EUR","ZZZ"]}`, "invalid_currency", "currencies[1]"},
		{"the testing code", `{"currencies":["EUR","XTS"]}`, "invalid_currency", "currencies[1]"},
		{"gold", `{"currencies":["EUR","XAU"]}`, "invalid_currency", "currencies[1]"},
		{"primary currency left out", `{"currencies":["USD"]}`, "invalid_currencies", "currencies"},
		{"listed twice", `{"currencies":["EUR","USD","USD"]}`, "invalid_currencies", "currencies[2]"},
		{"primary currency that is none", `{"currency":"ZZZ"}`, "invalid_currency", "currency"},
		{"accepted without a policy", `{"currencies":["EUR","USD"]}`, "currency_policy_required", "currency_policies.USD"},
		{"policy without its receipt threshold", `{"currencies":["EUR","USD"],"currency_policies":{"USD":{"invoice_validation_threshold":100}}}`,
			"required", "currency_policies.USD.receipt_required_above"},
		{"policy without a ceiling the primary currency has", `{"currencies":["EUR","USD"],
			"expense_policy":{"category_ceilings":{"meals":{"amount":5000,"currency":"EUR"}}},
			"currency_policies":{"USD":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"required", "currency_policies.USD.category_ceilings.meals"},
		{"policy of a currency not accepted", `{"currency_policies":{"GBP":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"currency_not_accepted", "currency_policies.GBP"},
		{"policy of the primary currency", `{"currency_policies":{"EUR":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"invalid_currency_policy", "currency_policies.EUR"},
		{"threshold in another accepted currency", `{"currencies":["EUR","USD"],"invoice_validation_threshold":{"amount":100,"currency":"USD"},
			"currency_policies":{"USD":{"invoice_validation_threshold":100,"receipt_required_above":100}}}`,
			"currency_mismatch", "invoice_validation_threshold"},
		{"threshold beyond the bound", `{"invoice_validation_threshold":{"amount":1000000000000001,"currency":"EUR"}}`,
			"amount_out_of_range", "invoice_validation_threshold"},
		{"policy threshold beyond the bound", `{"currencies":["EUR","USD"],"currency_policies":{"USD":{"invoice_validation_threshold":1000000000000001,"receipt_required_above":100}}}`,
			"amount_out_of_range", "currency_policies.USD.invoice_validation_threshold"},
	}
	for _, tc := range bad {
		r := admin.do("PUT", "/api/v1/settings", tc.body)
		if code := problemCode(t, r, 400); code != tc.code || r.json(t)["field"] != tc.field {
			t.Errorf("%s: %s, want %s naming %s", tc.name, r.body, tc.code, tc.field)
		}
	}
	if after := admin.do("GET", "/api/v1/settings", "").body; string(after) != string(before) {
		t.Fatalf("refused changes changed the settings:\n%s\n%s", before, after)
	}

	r := admin.do("PUT", "/api/v1/settings", usdPolicy)
	if r.status != 200 {
		t.Fatalf("accept USD: %d %s", r.status, r.body)
	}
	var got struct {
		Currencies       []string `json:"currencies"`
		CurrencyPolicies map[string]struct {
			InvoiceValidationThreshold int64            `json:"invoice_validation_threshold"`
			ReceiptRequiredAbove       int64            `json:"receipt_required_above"`
			CategoryCeilings           map[string]int64 `json:"category_ceilings"`
		} `json:"currency_policies"`
	}
	if err := json.Unmarshal(admin.do("GET", "/api/v1/settings", "").body, &got); err != nil {
		t.Fatal(err)
	}
	usd := got.CurrencyPolicies["USD"]
	if len(got.Currencies) != 2 || got.Currencies[1] != "USD" || usd.InvoiceValidationThreshold != 500_000 ||
		usd.ReceiptRequiredAbove != 3000 || usd.CategoryCeilings["travel"] != 6000 {
		t.Fatalf("settings after accepting USD: %+v", got)
	}
	// A merge keeps them; dropping USD needs its policy dropped too.
	if r := admin.do("PUT", "/api/v1/settings", `{"time_zone":"Europe/Paris"}`); r.status != 200 || len(r.json(t)["currencies"].([]any)) != 2 {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	if r := admin.do("PUT", "/api/v1/settings", `{"currencies":["EUR"]}`); problemCode(t, r, 400) != "currency_not_accepted" {
		t.Fatalf("dropping USD, keeping its policy: %s", r.body)
	}
	if r := admin.do("PUT", "/api/v1/settings", `{"currencies":["EUR"],"currency_policies":{}}`); r.status != 200 {
		t.Fatalf("dropping USD: %d %s", r.status, r.body)
	}
	// Another tenant is untouched.
	if g := as(t, app, "globex", "u-g", "admin").do("GET", "/api/v1/settings", "").json(t); len(g["currencies"].([]any)) != 1 {
		t.Fatalf("globex %v", g)
	}
}
