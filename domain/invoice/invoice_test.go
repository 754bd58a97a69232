package invoice_test

import (
	"errors"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
)

var at = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func eur(n int64) money.Money { return money.New(n, "EUR") }

// policy accepts EUR (threshold 10,000.00) and USD (threshold 5,000.00).
var policy = invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": eur(1_000_000), "USD": money.New(500_000, "USD")}}

// eurOnly accepts EUR only, with threshold t.
func eurOnly(t int64) invoice.Policy {
	return invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": eur(t)}}
}

func draft(t *testing.T, price int64) invoice.State {
	t.Helper()
	evs, err := invoice.DecideDraft(invoice.State{}, invoice.Draft{
		InvoiceID: "inv-1", ClientID: "C-1", ClientName: "Northwind", Currency: "EUR", DueDate: "2026-12-31",
		Lines: []invoice.LineInput{{Description: "Work", Quantity: 2, UnitPrice: eur(price)}}, Policy: policy, By: "creator", At: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	return invoice.Fold(evs)
}

func apply(t *testing.T, s invoice.State, evs []domain.Event, err error) invoice.State {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		s = invoice.Evolve(s, e)
	}
	return s
}

func TestDraftValidation(t *testing.T) {
	ok := invoice.Draft{InvoiceID: "i", ClientID: "C", ClientName: "N", Currency: "EUR", DueDate: "2026-12-31",
		Lines: []invoice.LineInput{{Description: "d", Quantity: 1, UnitPrice: eur(100)}}, Policy: policy}
	tests := []struct {
		name      string
		change    func(d *invoice.Draft)
		withError string
	}{
		{"valid", func(*invoice.Draft) {}, ""},
		{"no client id", func(d *invoice.Draft) { d.ClientID = " " }, "required"},
		{"bad currency", func(d *invoice.Draft) { d.Currency = "eur" }, "invalid_currency"},
		{"no currency at all", func(d *invoice.Draft) { d.Currency = "ZZZ" }, "invalid_currency"},
		{"a currency not accepted", func(d *invoice.Draft) { d.Currency = "GBP" }, "currency_not_accepted"},
		{"no policy accepts nothing", func(d *invoice.Draft) { d.Policy = invoice.Policy{} }, "currency_not_accepted"},
		{"another accepted currency", func(d *invoice.Draft) {
			d.Currency, d.Lines[0].UnitPrice = "USD", money.New(100, "USD")
		}, ""},
		{"bad due date", func(d *invoice.Draft) { d.DueDate = "2026-13-01" }, "invalid_date"},
		{"no lines", func(d *invoice.Draft) { d.Lines = nil }, "no_lines"},
		{"control character", func(d *invoice.Draft) { d.Lines[0].Description = "lamp\x00" }, "invalid_text"},
		{"line break allowed", func(d *invoice.Draft) { d.Lines[0].Description = "two\nlines" }, ""},
		{"zero quantity", func(d *invoice.Draft) { d.Lines[0].Quantity = 0 }, "invalid_quantity"},
		{"negative price", func(d *invoice.Draft) { d.Lines[0].UnitPrice = eur(-1) }, "invalid_amount"},
		{"price in another accepted currency", func(d *invoice.Draft) { d.Lines[0].UnitPrice = money.New(1, "USD") }, "currency_mismatch"},
		{"price in a currency not accepted", func(d *invoice.Draft) { d.Lines[0].UnitPrice = money.New(1, "GBP") }, "currency_not_accepted"},
		{"price in no currency", func(d *invoice.Draft) { d.Lines[0].UnitPrice = money.New(1, "ZZZ") }, "invalid_currency"},
		{"price at the bound", func(d *invoice.Draft) { d.Lines[0].UnitPrice = eur(money.MaxAmount) }, ""},
		{"price beyond the bound", func(d *invoice.Draft) { d.Lines[0].UnitPrice = eur(money.MaxAmount + 1) }, "amount_out_of_range"},
		{"overflow", func(d *invoice.Draft) {
			d.Lines[0].UnitPrice = eur(1 << 62)
			d.Lines[0].Quantity = 4
		}, "amount_out_of_range"},
		{"quantity × price beyond the bound", func(d *invoice.Draft) {
			d.Lines[0].UnitPrice = eur(money.MaxAmount/1000 + 1)
			d.Lines[0].Quantity = 1000
		}, "amount_out_of_range"},
		{"quantity × price that wraps around", func(d *invoice.Draft) {
			d.Lines[0].UnitPrice = eur(18_446_744_073_710) // × 10^6 is 2^64 + 448,384: it wraps to a small positive number
			d.Lines[0].Quantity = 1_000_000
		}, "amount_out_of_range"},
		{"total beyond the bound", func(d *invoice.Draft) {
			d.Lines = []invoice.LineInput{{Description: "a", Quantity: 1, UnitPrice: eur(money.MaxAmount)}, {Description: "b", Quantity: 1, UnitPrice: eur(1)}}
		}, "amount_out_of_range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			d.Lines = append([]invoice.LineInput(nil), ok.Lines...)
			tc.change(&d)
			evs, err := invoice.DecideDraft(invoice.State{}, d)
			if tc.withError == "" {
				if err != nil || len(evs) != 1 {
					t.Fatalf("%v %v", evs, err)
				}
				return
			}
			if !errors.Is(err, &domain.Error{Code: tc.withError}) {
				t.Fatalf("error %v, want %s", err, tc.withError)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	s := draft(t, 600_000) // total 12,000.00
	if s.Status() != invoice.StatusDraft || s.Total() != eur(1_200_000) {
		t.Fatalf("draft %v %v", s.Status(), s.Total())
	}
	// At or above the threshold: validation first.
	evs, err := invoice.DecideIssue(s, invoice.Issue{Policy: eurOnly(1_200_000), Number: "INV-2026-000001", By: "fin", At: at})
	s = apply(t, s, evs, err)
	if s.Status() != invoice.StatusPendingValidation || s.Number() != "" {
		t.Fatalf("pending %v %q", s.Status(), s.Number())
	}
	if _, err := invoice.DecideApprove(s, invoice.Review{By: "creator", Number: "X", At: at}); !errors.Is(err, &domain.Error{Code: "self_approval"}) {
		t.Fatalf("self approval: %v", err)
	}
	evs, err = invoice.DecideApprove(s, invoice.Review{By: "mgr", Number: "INV-2026-000001", At: at})
	s = apply(t, s, evs, err)
	if s.Status() != invoice.StatusIssued || s.Number() != "INV-2026-000001" {
		t.Fatalf("approved %v %q", s.Status(), s.Number())
	}
	if _, err := invoice.DecideIssue(s, invoice.Issue{Policy: policy, By: "fin", At: at}); !errors.Is(err, &domain.Error{Kind: domain.WrongState}) {
		t.Fatalf("issue twice: %v", err)
	}
	pay := func(s invoice.State, n int64) (invoice.State, error) {
		evs, err := invoice.DecidePayment(s, invoice.Pay{PaymentID: "p", Amount: eur(n), PaidAt: at, Policy: policy, By: "fin"})
		if err != nil {
			return s, err
		}
		return apply(t, s, evs, nil), nil
	}
	tests := []struct {
		name      string
		amount    int64
		withError string
		status    invoice.Status
		due       int64
	}{
		{"zero", 0, "invalid_amount", invoice.StatusIssued, 1_200_000},
		{"beyond the bound", money.MaxAmount + 1, "amount_out_of_range", invoice.StatusIssued, 1_200_000},
		{"more than due", 1_200_001, "overpayment", invoice.StatusIssued, 1_200_000},
		{"partial", 200_000, "", invoice.StatusPartiallyPaid, 1_000_000},
		{"more than what is left", 1_000_001, "overpayment", invoice.StatusPartiallyPaid, 1_000_000},
		{"the rest", 1_000_000, "", invoice.StatusPaid, 0},
		{"after paid", 1, "invalid_state", invoice.StatusPaid, 0},
	}
	for _, tc := range tests {
		next, err := pay(s, tc.amount)
		if tc.withError != "" && !errors.Is(err, &domain.Error{Code: tc.withError}) {
			t.Fatalf("%s: %v, want %s", tc.name, err, tc.withError)
		}
		if tc.withError == "" && err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s = next
		if s.Status() != tc.status || s.Due().Amount != tc.due {
			t.Fatalf("%s: %v due %v", tc.name, s.Status(), s.Due())
		}
	}
	if _, err := invoice.DecideCancel(s, invoice.Cancel{Reason: "x", By: "fin", At: at}); !errors.Is(err, &domain.Error{Kind: domain.WrongState}) {
		t.Fatalf("cancel paid: %v", err)
	}
}

func TestBelowThresholdIssuesWithNumber(t *testing.T) {
	s := draft(t, 100)
	evs, err := invoice.DecideIssue(s, invoice.Issue{Policy: policy, Number: "INV-2026-000007", By: "fin", At: at})
	s = apply(t, s, evs, err)
	if s.Status() != invoice.StatusIssued || s.Number() != "INV-2026-000007" {
		t.Fatalf("%v %q", s.Status(), s.Number())
	}
	// A policy without the invoice's currency never lets it through: no
	// threshold of another currency applies, the invoice is refused.
	s2 := draft(t, 100)
	usdOnly := invoice.Policy{Thresholds: map[money.Currency]money.Money{"USD": money.New(1, "USD")}}
	if !invoice.NeedsValidation(s2, usdOnly) {
		t.Fatal("an invoice in a currency not accepted would be issued at once")
	}
	if _, err := invoice.DecideIssue(s2, invoice.Issue{Policy: usdOnly, Number: "N", By: "fin", At: at}); !errors.Is(err, &domain.Error{Code: "currency_not_accepted"}) {
		t.Fatalf("issue in a currency no longer accepted: %v", err)
	}
	mislabelled := invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": money.New(1, "USD")}}
	if _, err := invoice.DecideIssue(s2, invoice.Issue{Policy: mislabelled, Number: "N", By: "fin", At: at}); !errors.Is(err, &domain.Error{Code: "currency_not_accepted"}) {
		t.Fatalf("issue with a threshold in another currency: %v", err)
	}
	if _, err := invoice.DecidePayment(s, invoice.Pay{PaymentID: "p", Amount: eur(1), PaidAt: at, Policy: usdOnly, By: "fin"}); !errors.Is(err, &domain.Error{Code: "currency_not_accepted"}) {
		t.Fatalf("payment in a currency no longer accepted: %v", err)
	}
}

// TestPolicyPerCurrency: each currency's own threshold applies.
func TestPolicyPerCurrency(t *testing.T) {
	usd := func(price int64) invoice.State {
		t.Helper()
		evs, err := invoice.DecideDraft(invoice.State{}, invoice.Draft{
			InvoiceID: "inv-2", ClientID: "C-1", ClientName: "Northwind", Currency: "USD", DueDate: "2026-12-31",
			Lines: []invoice.LineInput{{Description: "Work", Quantity: 1, UnitPrice: money.New(price, "USD")}}, Policy: policy, By: "creator", At: at,
		})
		if err != nil {
			t.Fatal(err)
		}
		return invoice.Fold(evs)
	}
	tests := []struct {
		name string
		s    invoice.State
		want invoice.Status
	}{
		{"EUR below the EUR threshold", draft(t, 300_000), invoice.StatusIssued},                    // 6,000.00 EUR
		{"USD at the USD threshold", usd(500_000), invoice.StatusPendingValidation},                 // 5,000.00 USD
		{"USD above the USD threshold, below EUR's", usd(600_000), invoice.StatusPendingValidation}, // 6,000.00 USD
		{"USD below the USD threshold", usd(499_999), invoice.StatusIssued},
	}
	for _, tc := range tests {
		evs, err := invoice.DecideIssue(tc.s, invoice.Issue{Policy: policy, Number: "N", By: "fin", At: at})
		if s := apply(t, tc.s, evs, err); s.Status() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, s.Status(), tc.want)
		}
	}
	// A draft recorded before amounts were bounded is not issued.
	legacy := invoice.Fold([]domain.Event{invoice.Drafted{InvoiceID: "old", Currency: "EUR", Total: eur(9_000_000_000_000_000_000)}})
	if _, err := invoice.DecideIssue(legacy, invoice.Issue{Policy: policy, Number: "N", By: "fin", At: at}); !errors.Is(err, &domain.Error{Code: "amount_out_of_range"}) {
		t.Fatalf("issue a draft of 9e18: %v", err)
	}
}

func TestRejectAndCancel(t *testing.T) {
	s := draft(t, 600_000)
	evs, err := invoice.DecideIssue(s, invoice.Issue{Policy: eurOnly(1), By: "fin", At: at})
	s = apply(t, s, evs, err)
	if _, err := invoice.DecideReject(s, invoice.Review{By: "mgr", Reason: "  ", At: at}); !errors.Is(err, &domain.Error{Code: "required"}) {
		t.Fatalf("reject without reason: %v", err)
	}
	evs, err = invoice.DecideReject(s, invoice.Review{By: "mgr", Reason: "no PO", At: at})
	s = apply(t, s, evs, err)
	if s.Status() != invoice.StatusRejected {
		t.Fatal(s.Status())
	}
	evs, err = invoice.DecideCancel(s, invoice.Cancel{Reason: "dup", By: "fin", At: at})
	if s = apply(t, s, evs, err); s.Status() != invoice.StatusCancelled {
		t.Fatal(s.Status())
	}
	if _, err := invoice.DecideCancel(invoice.State{}, invoice.Cancel{Reason: "x"}); !errors.Is(err, &domain.Error{Kind: domain.NotFound}) {
		t.Fatalf("cancel nothing: %v", err)
	}
}

func TestNumbering(t *testing.T) {
	n := invoice.Numbering{Year: 2026}
	for i := range 3 {
		a := n.Next("inv")
		n = invoice.EvolveNumbering(n, a)
		if want := int64(i + 1); a.Sequence != want {
			t.Fatalf("sequence %d, want %d", a.Sequence, want)
		}
	}
	if got := n.Next("x").Number; got != "INV-2026-000004" {
		t.Fatal(got)
	}
}
