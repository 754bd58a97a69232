package expense_test

import (
	"errors"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/money"
)

var at = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func eur(n int64) money.Money { return money.New(n, "EUR") }

var accepted = []money.Currency{"EUR", "USD"}

func drafted(t *testing.T, category string, amount int64) expense.State {
	t.Helper()
	return draftedIn(t, category, amount, "EUR")
}

func draftedIn(t *testing.T, category string, amount int64, currency money.Currency) expense.State {
	t.Helper()
	evs, err := expense.DecideDraft(expense.State{}, expense.Draft{ExpenseID: "e1", Owner: "emp", Category: category,
		Amount: money.New(amount, currency), SpentOn: "2026-11-20", Accepted: accepted, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return expense.Fold(evs)
}

func TestDraftValidation(t *testing.T) {
	tests := []struct {
		name      string
		d         expense.Draft
		withError string
	}{
		{"valid", expense.Draft{Category: "meals", Amount: eur(1), SpentOn: "2026-11-20"}, ""},
		{"no category", expense.Draft{Amount: eur(1), SpentOn: "2026-11-20"}, "required"},
		{"zero amount", expense.Draft{Category: "meals", Amount: eur(0), SpentOn: "2026-11-20"}, "invalid_amount"},
		{"bad currency", expense.Draft{Category: "meals", Amount: money.New(1, "eu"), SpentOn: "2026-11-20"}, "invalid_currency"},
		{"no currency at all", expense.Draft{Category: "meals", Amount: money.New(1, "ZZZ"), SpentOn: "2026-11-20"}, "invalid_currency"},
		{"a currency not accepted", expense.Draft{Category: "meals", Amount: money.New(1, "GBP"), SpentOn: "2026-11-20"}, "currency_not_accepted"},
		{"another accepted currency", expense.Draft{Category: "meals", Amount: money.New(1, "USD"), SpentOn: "2026-11-20"}, ""},
		{"at the bound", expense.Draft{Category: "meals", Amount: eur(money.MaxAmount), SpentOn: "2026-11-20"}, ""},
		{"beyond the bound", expense.Draft{Category: "meals", Amount: eur(money.MaxAmount + 1), SpentOn: "2026-11-20"}, "amount_out_of_range"},
		{"bad date", expense.Draft{Category: "meals", Amount: eur(1), SpentOn: "20/11/2026"}, "invalid_date"},
		{"in the future", expense.Draft{Category: "meals", Amount: eur(1), SpentOn: "2026-12-31"}, "invalid_date"},
	}
	for _, tc := range tests {
		tc.d.ExpenseID, tc.d.Owner, tc.d.Accepted, tc.d.At = "e", "emp", accepted, at
		_, err := expense.DecideDraft(expense.State{}, tc.d)
		if tc.withError == "" && err != nil || tc.withError != "" && !errors.Is(err, &domain.Error{Code: tc.withError}) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.withError)
		}
	}
}

func TestSubmitPolicy(t *testing.T) {
	policy := expense.Policy{Categories: []string{"meals", "travel"}, Limits: map[money.Currency]expense.Limits{
		"EUR": {ReceiptRequiredAbove: eur(2500), CategoryCeilings: map[string]money.Money{"travel": eur(10000)}},
		"USD": {ReceiptRequiredAbove: money.New(3000, "USD"), CategoryCeilings: map[string]money.Money{"travel": money.New(6000, "USD")}},
	}}
	eurOnly := expense.Policy{Categories: policy.Categories, Limits: map[money.Currency]expense.Limits{"EUR": policy.Limits["EUR"]}}
	mislabelled := expense.Policy{Categories: policy.Categories, Limits: map[money.Currency]expense.Limits{
		"USD": {ReceiptRequiredAbove: money.New(3000, "USD"), CategoryCeilings: map[string]money.Money{"travel": eur(6000)}},
	}}
	withReceipt := func(s expense.State) expense.State {
		evs, err := expense.DecideAttach(s, "emp", expense.ReceiptAttached{Key: "receipts/e1", ContentType: "application/pdf", Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		return expense.Evolve(s, evs[0])
	}
	tests := []struct {
		name      string
		s         expense.State
		by        string
		policy    *expense.Policy
		withError string
	}{
		{"small, no receipt", drafted(t, "meals", 2500), "emp", nil, ""},
		{"above threshold, no receipt", drafted(t, "meals", 2501), "emp", nil, "receipt_required"},
		{"above threshold, with receipt", withReceipt(drafted(t, "meals", 8000)), "emp", nil, ""},
		{"unknown category", drafted(t, "yachts", 100), "emp", nil, "category_not_allowed"},
		{"over the ceiling", withReceipt(drafted(t, "travel", 10001)), "emp", nil, "category_ceiling_exceeded"},
		{"someone else", drafted(t, "meals", 100), "boss", nil, "forbidden"},
		{"USD under EUR's receipt threshold but over its own", draftedIn(t, "meals", 2600, "USD"), "emp", nil, ""},
		{"USD over its own receipt threshold", draftedIn(t, "meals", 3001, "USD"), "emp", nil, "receipt_required"},
		{"USD under EUR's ceiling but over its own", withReceipt(draftedIn(t, "travel", 6001, "USD")), "emp", nil, "category_ceiling_exceeded"},
		{"USD under its own ceiling", withReceipt(draftedIn(t, "travel", 6000, "USD")), "emp", nil, ""},
		{"a currency no longer accepted", draftedIn(t, "meals", 1, "USD"), "emp", &eurOnly, "currency_not_accepted"},
		{"no policy accepts nothing", drafted(t, "meals", 1), "emp", &expense.Policy{}, "currency_not_accepted"},
		{"a ceiling in another currency", withReceipt(draftedIn(t, "travel", 1, "USD")), "emp", &mislabelled, "currency_not_accepted"},
	}
	for _, tc := range tests {
		p := policy
		if tc.policy != nil {
			p = *tc.policy
		}
		_, err := expense.DecideSubmit(tc.s, tc.by, p, at)
		if tc.withError == "" && err != nil || tc.withError != "" && !errors.Is(err, &domain.Error{Code: tc.withError}) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.withError)
		}
	}
}

func TestDecisions(t *testing.T) {
	s := drafted(t, "meals", 100)
	if _, err := expense.DecideApprove(s, "mgr", at); !errors.Is(err, &domain.Error{Code: "invalid_state"}) {
		t.Fatalf("approve a draft: %v", err)
	}
	evs, err := expense.DecideSubmit(s, "emp", expense.Policy{Limits: map[money.Currency]expense.Limits{"EUR": {ReceiptRequiredAbove: eur(2500)}}}, at)
	if err != nil {
		t.Fatal(err)
	}
	s = expense.Evolve(s, evs[0])
	if _, err := expense.DecideApprove(s, "emp", at); !errors.Is(err, &domain.Error{Code: "self_approval"}) {
		t.Fatalf("self approval: %v", err)
	}
	if _, err := expense.DecideReimburse(s, "fin", at); !errors.Is(err, &domain.Error{Code: "invalid_state"}) {
		t.Fatalf("reimburse before approval: %v", err)
	}
	evs, err = expense.DecideApprove(s, "mgr", at)
	if err != nil {
		t.Fatal(err)
	}
	s = expense.Evolve(s, evs[0])
	if evs, err = expense.DecideReimburse(s, "fin", at); err != nil {
		t.Fatal(err)
	}
	if s = expense.Evolve(s, evs[0]); s.Status() != expense.StatusReimbursed {
		t.Fatalf("status %s", s.Status())
	}
	if _, err := expense.DecideAttach(s, "emp", expense.ReceiptAttached{}); !errors.Is(err, &domain.Error{Code: "invalid_state"}) {
		t.Fatalf("attach after reimbursement: %v", err)
	}
}
