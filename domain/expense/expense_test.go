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

func drafted(t *testing.T, category string, amount int64) expense.State {
	t.Helper()
	evs, err := expense.DecideDraft(expense.State{}, expense.Draft{ExpenseID: "e1", Owner: "emp", Category: category,
		Amount: eur(amount), SpentOn: "2026-11-20", At: at})
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
		{"bad date", expense.Draft{Category: "meals", Amount: eur(1), SpentOn: "20/11/2026"}, "invalid_date"},
		{"in the future", expense.Draft{Category: "meals", Amount: eur(1), SpentOn: "2026-12-31"}, "invalid_date"},
	}
	for _, tc := range tests {
		tc.d.ExpenseID, tc.d.Owner, tc.d.At = "e", "emp", at
		_, err := expense.DecideDraft(expense.State{}, tc.d)
		if tc.withError == "" && err != nil || tc.withError != "" && !errors.Is(err, &domain.Error{Code: tc.withError}) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.withError)
		}
	}
}

func TestSubmitPolicy(t *testing.T) {
	policy := expense.Policy{Categories: []string{"meals", "travel"}, ReceiptRequiredAbove: eur(2500),
		CategoryCeilings: map[string]money.Money{"travel": eur(10000)}}
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
		withError string
	}{
		{"small, no receipt", drafted(t, "meals", 2500), "emp", ""},
		{"above threshold, no receipt", drafted(t, "meals", 2501), "emp", "receipt_required"},
		{"above threshold, with receipt", withReceipt(drafted(t, "meals", 8000)), "emp", ""},
		{"unknown category", drafted(t, "yachts", 100), "emp", "category_not_allowed"},
		{"over the ceiling", withReceipt(drafted(t, "travel", 10001)), "emp", "category_ceiling_exceeded"},
		{"someone else", drafted(t, "meals", 100), "boss", "forbidden"},
	}
	for _, tc := range tests {
		_, err := expense.DecideSubmit(tc.s, tc.by, policy, at)
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
	evs, err := expense.DecideSubmit(s, "emp", expense.Policy{}, at)
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
