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

func draft(t *testing.T, price int64) invoice.State {
	t.Helper()
	evs, err := invoice.DecideDraft(invoice.State{}, invoice.Draft{
		InvoiceID: "inv-1", ClientID: "C-1", ClientName: "Northwind", Currency: "EUR", DueDate: "2026-12-31",
		Lines: []invoice.LineInput{{Description: "Work", Quantity: 2, UnitPrice: eur(price)}}, By: "creator", At: at,
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
		Lines: []invoice.LineInput{{Description: "d", Quantity: 1, UnitPrice: eur(100)}}}
	tests := []struct {
		name      string
		change    func(d *invoice.Draft)
		withError string
	}{
		{"valid", func(*invoice.Draft) {}, ""},
		{"no client id", func(d *invoice.Draft) { d.ClientID = " " }, "required"},
		{"bad currency", func(d *invoice.Draft) { d.Currency = "eur" }, "invalid_currency"},
		{"bad due date", func(d *invoice.Draft) { d.DueDate = "2026-13-01" }, "invalid_date"},
		{"no lines", func(d *invoice.Draft) { d.Lines = nil }, "no_lines"},
		{"control character", func(d *invoice.Draft) { d.Lines[0].Description = "lamp\x00" }, "invalid_text"},
		{"line break allowed", func(d *invoice.Draft) { d.Lines[0].Description = "two\nlines" }, ""},
		{"zero quantity", func(d *invoice.Draft) { d.Lines[0].Quantity = 0 }, "invalid_quantity"},
		{"negative price", func(d *invoice.Draft) { d.Lines[0].UnitPrice = eur(-1) }, "invalid_amount"},
		{"price in another currency", func(d *invoice.Draft) { d.Lines[0].UnitPrice = money.New(1, "USD") }, "currency_mismatch"},
		{"overflow", func(d *invoice.Draft) {
			d.Lines[0].UnitPrice = eur(1 << 62)
			d.Lines[0].Quantity = 4
		}, "amount_too_large"},
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
	evs, err := invoice.DecideIssue(s, invoice.Issue{Threshold: eur(1_200_000), Number: "INV-2026-000001", By: "fin", At: at})
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
	if _, err := invoice.DecideIssue(s, invoice.Issue{By: "fin", At: at}); !errors.Is(err, &domain.Error{Kind: domain.WrongState}) {
		t.Fatalf("issue twice: %v", err)
	}
	pay := func(s invoice.State, n int64) (invoice.State, error) {
		evs, err := invoice.DecidePayment(s, invoice.Pay{PaymentID: "p", Amount: eur(n), PaidAt: at, By: "fin"})
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
	evs, err := invoice.DecideIssue(s, invoice.Issue{Threshold: eur(1_000_000), Number: "INV-2026-000007", By: "fin", At: at})
	s = apply(t, s, evs, err)
	if s.Status() != invoice.StatusIssued || s.Number() != "INV-2026-000007" {
		t.Fatalf("%v %q", s.Status(), s.Number())
	}
	// A threshold in another currency never applies.
	s2 := draft(t, 100)
	evs, err = invoice.DecideIssue(s2, invoice.Issue{Threshold: money.New(1, "USD"), Number: "N", By: "fin", At: at})
	if s2 = apply(t, s2, evs, err); s2.Status() != invoice.StatusIssued {
		t.Fatalf("%v", s2.Status())
	}
}

func TestRejectAndCancel(t *testing.T) {
	s := draft(t, 600_000)
	evs, err := invoice.DecideIssue(s, invoice.Issue{Threshold: eur(1), By: "fin", At: at})
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
