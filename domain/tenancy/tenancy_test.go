package tenancy_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenancy"
)

func amount(n int64) *int64 { return &n }

// multi is an EUR tenant that accepts USD and JPY too, with a meals ceiling.
func multi() tenancy.Settings {
	s := tenancy.DefaultSettings("EUR")
	s.Currencies = []money.Currency{"EUR", "USD", "JPY"}
	s.ExpensePolicy.CategoryCeilings = map[string]money.Money{"meals": money.New(5_000, "EUR")}
	s.CurrencyPolicies = map[money.Currency]tenancy.CurrencyPolicy{
		"USD": {InvoiceValidationThreshold: amount(1_100_000), ReceiptRequiredAbove: amount(3_000), CategoryCeilings: map[string]int64{"meals": 6_000}},
		"JPY": {InvoiceValidationThreshold: amount(1_500_000), ReceiptRequiredAbove: amount(4_000), CategoryCeilings: map[string]int64{"meals": 8_000, "travel": 90_000}},
	}
	return s
}

func TestValidateSettings(t *testing.T) {
	tests := []struct {
		name        string
		change      func(s *tenancy.Settings)
		code, field string
	}{
		{"defaults", func(*tenancy.Settings) {}, "", ""},
		{"several currencies", func(s *tenancy.Settings) { *s = multi() }, "", ""},
		{"settings recorded before currencies", func(s *tenancy.Settings) { s.Currencies = nil }, "", ""},
		{"not a currency", func(s *tenancy.Settings) { s.Currency = "ZZZ" }, "invalid_currency", "currency"},
		{"no currency at all", func(s *tenancy.Settings) { s.Currency = "XXX" }, "invalid_currency", "currency"},
		{"threshold beyond the bound", func(s *tenancy.Settings) {
			s.InvoiceValidationThreshold = money.New(money.MaxAmount+1, "EUR")
		}, "amount_out_of_range", "invoice_validation_threshold"},
		{"threshold at the bound", func(s *tenancy.Settings) { s.InvoiceValidationThreshold = money.New(money.MaxAmount, "EUR") }, "", ""},
		{"threshold in another currency", func(s *tenancy.Settings) {
			*s = multi()
			s.InvoiceValidationThreshold = money.New(1, "USD")
		}, "currency_mismatch", "invoice_validation_threshold"},
		{"ceiling in another currency", func(s *tenancy.Settings) {
			*s = multi()
			s.ExpensePolicy.CategoryCeilings["meals"] = money.New(1, "USD")
		}, "currency_mismatch", "expense_policy.category_ceilings.meals"},
		{"receipt threshold beyond the bound", func(s *tenancy.Settings) {
			s.ExpensePolicy.ReceiptRequiredAbove = money.New(money.MaxAmount*2, "EUR")
		}, "amount_out_of_range", "expense_policy.receipt_required_above"},
		{"empty currencies", func(s *tenancy.Settings) { s.Currencies = []money.Currency{} }, "invalid_currencies", "currencies"},
		{"currencies without the primary one", func(s *tenancy.Settings) { s.Currencies = []money.Currency{"USD"} }, "invalid_currencies", "currencies"},
		{"a currency that is none", func(s *tenancy.Settings) { s.Currencies = []money.Currency{"EUR", "ZZZ"} }, "invalid_currency", "currencies[1]"},
		{"lower case", func(s *tenancy.Settings) { s.Currencies = []money.Currency{"EUR", "usd"} }, "invalid_currency", "currencies[1]"},
		{"twice", func(s *tenancy.Settings) { s.Currencies = []money.Currency{"EUR", "EUR"} }, "invalid_currencies", "currencies[1]"},
		{"too many", func(s *tenancy.Settings) {
			s.Currencies = []money.Currency{"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF",
				"RON", "BGN", "CAD", "AUD", "NZD", "SGD", "HKD", "CNY", "INR", "BRL"}
		}, "invalid_currencies", "currencies"},
		{"an accepted currency without a policy", func(s *tenancy.Settings) {
			*s = multi()
			delete(s.CurrencyPolicies, "JPY")
		}, "currency_policy_required", "currency_policies.JPY"},
		{"a policy without its threshold", func(s *tenancy.Settings) {
			*s = multi()
			p := s.CurrencyPolicies["USD"]
			p.InvoiceValidationThreshold = nil
			s.CurrencyPolicies["USD"] = p
		}, "required", "currency_policies.USD.invoice_validation_threshold"},
		{"a policy without its receipt threshold", func(s *tenancy.Settings) {
			*s = multi()
			p := s.CurrencyPolicies["USD"]
			p.ReceiptRequiredAbove = nil
			s.CurrencyPolicies["USD"] = p
		}, "required", "currency_policies.USD.receipt_required_above"},
		{"a policy without a ceiling the primary currency has", func(s *tenancy.Settings) {
			*s = multi()
			p := s.CurrencyPolicies["USD"]
			p.CategoryCeilings = nil
			s.CurrencyPolicies["USD"] = p
		}, "required", "currency_policies.USD.category_ceilings.meals"},
		{"a ceiling of no category", func(s *tenancy.Settings) {
			*s = multi()
			s.CurrencyPolicies["USD"].CategoryCeilings["yachts"] = 1
		}, "unknown_category", "currency_policies.USD.category_ceilings.yachts"},
		{"a negative threshold", func(s *tenancy.Settings) {
			*s = multi()
			p := s.CurrencyPolicies["USD"]
			p.InvoiceValidationThreshold = amount(-1)
			s.CurrencyPolicies["USD"] = p
		}, "invalid_amount", "currency_policies.USD.invoice_validation_threshold"},
		{"a ceiling beyond the bound", func(s *tenancy.Settings) {
			*s = multi()
			s.CurrencyPolicies["USD"].CategoryCeilings["meals"] = money.MaxAmount + 1
		}, "amount_out_of_range", "currency_policies.USD.category_ceilings.meals"},
		{"a policy for a currency not accepted", func(s *tenancy.Settings) {
			*s = multi()
			s.CurrencyPolicies["GBP"] = s.CurrencyPolicies["USD"]
		}, "currency_not_accepted", "currency_policies.GBP"},
		{"a policy for the primary currency", func(s *tenancy.Settings) {
			*s = multi()
			s.CurrencyPolicies["EUR"] = s.CurrencyPolicies["USD"]
		}, "invalid_currency_policy", "currency_policies.EUR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tenancy.DefaultSettings("EUR")
			tc.change(&s)
			err := tenancy.ValidateSettings(s)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != tc.code || de.Field != tc.field || de.Kind != domain.Invalid {
				t.Fatalf("%v, want invalid %s naming %s", err, tc.code, tc.field)
			}
		})
	}
}

func TestPolicyIn(t *testing.T) {
	s := multi()
	if err := tenancy.ValidateSettings(s); err != nil {
		t.Fatal(err)
	}
	// Every accepted currency has a whole policy, in that currency.
	for _, c := range s.Accepted() {
		p, ok := s.PolicyIn(c)
		if !ok || p.InvoiceValidationThreshold.Currency != c || p.ReceiptRequiredAbove.Currency != c || p.CategoryCeilings["meals"].Currency != c {
			t.Fatalf("%s: %+v %v", c, p, ok)
		}
	}
	if p, _ := s.PolicyIn("USD"); p.InvoiceValidationThreshold.Amount != 1_100_000 || p.CategoryCeilings["meals"].Amount != 6_000 {
		t.Fatalf("USD policy %+v", p)
	}
	if p, _ := s.PolicyIn("EUR"); p.InvoiceValidationThreshold.Amount != 1_000_000 || p.CategoryCeilings["meals"].Amount != 5_000 {
		t.Fatalf("EUR policy %+v", p)
	}
	for _, c := range []money.Currency{"GBP", "ZZZ", ""} {
		if _, ok := s.PolicyIn(c); ok {
			t.Errorf("%q has a policy", c)
		}
	}
	// Settings that lack a policy never give a partial one.
	broken := multi()
	broken.CurrencyPolicies["USD"] = tenancy.CurrencyPolicy{InvoiceValidationThreshold: amount(1), ReceiptRequiredAbove: amount(1)}
	if _, ok := broken.PolicyIn("USD"); ok {
		t.Fatal("a policy without the meals ceiling was given")
	}
}

// TestSettingsRecordedBefore decodes settings as they were stored before
// tenants chose currencies: they accept their currency only.
func TestSettingsRecordedBefore(t *testing.T) {
	var e tenancy.SettingsChanged
	old := `{"tenant":"acme","settings":{"currency":"EUR","time_zone":"UTC",
		"invoice_validation_threshold":{"amount":1000000,"currency":"EUR"},
		"expense_policy":{"categories":["meals"],"receipt_required_above":{"amount":2500,"currency":"EUR"},"category_ceilings":{},"max_receipt_bytes":10485760}},
		"by":"u","at":"2026-01-01T00:00:00Z"}`
	if err := json.Unmarshal([]byte(old), &e); err != nil {
		t.Fatal(err)
	}
	s := e.Settings
	if !slices.Equal(s.Accepted(), []money.Currency{"EUR"}) {
		t.Fatalf("accepted %v", s.Accepted())
	}
	if err := tenancy.ValidateSettings(s); err != nil {
		t.Fatal(err)
	}
	if p, ok := s.PolicyIn("EUR"); !ok || p.InvoiceValidationThreshold.Amount != 1_000_000 {
		t.Fatalf("EUR policy %+v %v", p, ok)
	}
	if _, ok := s.PolicyIn("USD"); ok {
		t.Fatal("USD accepted by old settings")
	}
}

func TestPatch(t *testing.T) {
	usd := money.Currency("USD")
	gbp := money.Currency("GBP")
	// A tenant accepting its currency only follows a change of currency.
	s := tenancy.SettingsPatch{Currency: &usd}.Apply(tenancy.DefaultSettings("EUR"))
	if !slices.Equal(s.Accepted(), []money.Currency{"USD"}) {
		t.Fatalf("after a change of currency: %v", s.Accepted())
	}
	s = tenancy.Settings{Currency: "EUR"} // recorded before currencies
	if s = (tenancy.SettingsPatch{Currency: &usd}).Apply(s); !slices.Equal(s.Accepted(), []money.Currency{"USD"}) {
		t.Fatalf("old settings after a change of currency: %v", s.Accepted())
	}
	// One that accepts several keeps them, and the change must say what becomes of them.
	s = tenancy.SettingsPatch{Currency: &gbp}.Apply(multi())
	if !slices.Equal(s.Accepted(), []money.Currency{"EUR", "USD", "JPY"}) {
		t.Fatalf("several currencies after a change of currency: %v", s.Accepted())
	}
	// Lists and maps are replaced whole; what the patch does not name stays.
	list := []money.Currency{"EUR", "USD"}
	policies := map[money.Currency]tenancy.CurrencyPolicy{"USD": multi().CurrencyPolicies["USD"]}
	s = tenancy.SettingsPatch{Currencies: &list, CurrencyPolicies: &policies}.Apply(multi())
	if !slices.Equal(s.Accepted(), list) || len(s.CurrencyPolicies) != 1 || s.Currency != "EUR" || s.InvoiceValidationThreshold.Amount != 1_000_000 {
		t.Fatalf("patched %+v", s)
	}
	if err := tenancy.ValidateSettings(s); err != nil {
		t.Fatal(err)
	}
}

// A logo is shown by browsers: only http(s) URLs with a host, or paths on
// this service; never a protocol-relative or backslashed one that a
// browser reads as another host.
func TestLogoURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://acme.example/logo.svg", true},
		{"http://acme.example/logo.svg", true},
		{"/static/logo.svg", true},
		{"", true},
		{"//evil.example/x.svg", false},
		{"/\\evil.example/x.svg", false},
		{"https://", false},
		{"https://user@evil.example/x", false},
		{"javascript:alert(1)", false},
		{"https://acme.example/lo go.svg", false},
		{"data:image/svg+xml,<svg/>", false},
	} {
		err := tenancy.ValidateBranding(tenancy.Branding{Name: "Acme", LogoURL: tc.url})
		if (err == nil) != tc.ok {
			t.Errorf("logo_url %q: %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}

// A deleted tenant's record is a tombstone: every change of it is
// tenant_not_found, as for a tenant that never was, and writes nothing;
// only its deletion may be asked again (to finish it), writing nothing.
func TestDeletedTenantIsNotChanged(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := tenancy.Evolve(tenancy.State{}, tenancy.Provisioned{Tenant: "acme", Name: "Acme", Settings: tenancy.DefaultSettings("EUR"), At: at})
	s = tenancy.Evolve(s, tenancy.OffboardingStarted{Tenant: "acme", At: at})
	if evs, err := tenancy.DecideDomains(s, []string{"acme.example"}, "root", at); err != nil || len(evs) == 0 {
		t.Fatalf("a read-only tenant's domains: %v %v", evs, err) // the platform may still move them
	}
	// What its archive holds of it no longer changes.
	if evs, err := tenancy.DecideBranding(s, tenancy.Branding{Name: "Changed"}, "u-adm", at); !errors.Is(err, &domain.Error{Code: "tenant_read_only"}) || len(evs) > 0 {
		t.Fatalf("a read-only tenant's branding: %v %v", evs, err)
	}
	if evs, err := tenancy.DecideSettings(s, tenancy.DefaultSettings("USD"), "u-adm", at); !errors.Is(err, &domain.Error{Code: "tenant_read_only"}) || len(evs) > 0 {
		t.Fatalf("a read-only tenant's settings: %v %v", evs, err)
	}
	s = tenancy.Evolve(s, tenancy.Deleted{Tenant: "acme", At: at})
	for name, decide := range map[string]func() ([]domain.Event, error){
		"suspend":  func() ([]domain.Event, error) { return tenancy.DecideSuspend(s, "", "root", at) },
		"resume":   func() ([]domain.Event, error) { return tenancy.DecideResume(s, "root", at) },
		"offboard": func() ([]domain.Event, error) { return tenancy.DecideOffboard(s, "root", at) },
		"limits":   func() ([]domain.Event, error) { return tenancy.DecideLimits(s, tenancy.Limits{}, "root", at) },
		"plan":     func() ([]domain.Event, error) { return tenancy.DecidePlanChange(s, tenancy.Plan{}, "root", at) },
		"domains": func() ([]domain.Event, error) {
			return tenancy.DecideDomains(s, []string{"zombie.example"}, "root", at)
		},
		"branding": func() ([]domain.Event, error) { return tenancy.DecideBranding(s, tenancy.Branding{}, "root", at) },
		"settings": func() ([]domain.Event, error) {
			return tenancy.DecideSettings(s, tenancy.DefaultSettings("EUR"), "root", at)
		},
	} {
		evs, err := decide()
		if !errors.Is(err, &domain.Error{Code: "tenant_not_found"}) || len(evs) > 0 {
			t.Errorf("%s of a deleted tenant: %v, %v; want tenant_not_found and nothing written", name, evs, err)
		}
	}
	if evs, err := tenancy.DecideDelete(s, "acme", 0, "root", at); err != nil || len(evs) > 0 {
		t.Errorf("deleting again: %v, %v; want nothing written, no error", evs, err)
	}
}

// A read-only tenant is deleted only once its archive was taken, and only
// while its log still ends where the archive ended.
func TestDeletionNeedsAnArchiveOfTheWholeLog(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := tenancy.Evolve(tenancy.State{}, tenancy.Provisioned{Tenant: "acme", Name: "Acme", Settings: tenancy.DefaultSettings("EUR"), At: at})
	if _, err := tenancy.DecideArchived(s, 5, "root", at); !errors.Is(err, &domain.Error{Code: "tenant_not_read_only"}) {
		t.Fatalf("the archive of a live tenant recorded: %v", err)
	}
	s = tenancy.Evolve(s, tenancy.OffboardingStarted{Tenant: "acme", At: at})
	if evs, err := tenancy.DecideDelete(s, "acme", 5, "root", at); !errors.Is(err, &domain.Error{Code: "archive_required"}) || len(evs) > 0 {
		t.Fatalf("deleting before any archive: %v %v", evs, err)
	}
	evs, err := tenancy.DecideArchived(s, 5, "root", at)
	if err != nil || len(evs) != 1 {
		t.Fatalf("recording the archive: %v %v", evs, err)
	}
	s = tenancy.Evolve(s, evs[0])
	if evs, err := tenancy.DecideArchived(s, 5, "root", at); err != nil || len(evs) > 0 {
		t.Fatalf("the same archive recorded again: %v %v", evs, err)
	}
	if evs, err := tenancy.DecideDelete(s, "acme", 6, "root", at); !errors.Is(err, &domain.Error{Code: "archive_stale"}) || len(evs) > 0 {
		t.Fatalf("deleting a log that moved since its archive: %v %v", evs, err)
	}
	if evs, err := tenancy.DecideDelete(s, "acme", 5, "root", at); err != nil || len(evs) != 1 {
		t.Fatalf("deleting a log its archive holds: %v %v", evs, err)
	}
}
