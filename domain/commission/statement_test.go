package commission_test

import (
	"errors"
	"testing"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
)

// freeze freezes rep's 2026-Q4 statement with these totals.
func freeze(s commission.StatementState, collected, earned int64) ([]domain.Event, error) {
	return commission.DecideFreeze(s, commission.Freeze{StatementID: "st", UserID: "rep", Period: "2026-Q4",
		Collected: eur(collected), Commission: eur(earned), AsOfPosition: 42, By: "mgr", At: at})
}

// then applies a decision's events to s, failing on its error.
func then(t *testing.T, s commission.StatementState) func([]domain.Event, error) commission.StatementState {
	return func(evs []domain.Event, err error) commission.StatementState {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			s = commission.EvolveStatement(s, e)
		}
		return s
	}
}

func wantCode(t *testing.T, err error, kind domain.Kind, code string) {
	t.Helper()
	if !errors.Is(err, &domain.Error{Kind: kind, Code: code}) {
		t.Fatalf("%v, want %s", err, code)
	}
}

func TestStatementCycle(t *testing.T) {
	var s commission.StatementState
	_, err := freeze(s, 0, 0)
	wantCode(t, err, domain.Rejected, "nothing_to_settle")
	_, err = commission.DecideFreeze(s, commission.Freeze{StatementID: "st", UserID: "rep", Period: "2026-Q5", Collected: eur(1), Commission: eur(1)})
	wantCode(t, err, domain.Invalid, "invalid_period")

	evs, err := freeze(s, 130_000, 6_500)
	if err != nil {
		t.Fatal(err)
	}
	f := evs[0].(commission.StatementFrozen)
	if f.Round != 1 || f.Payable != eur(6_500) || f.PaidBefore != eur(0) || f.Collected != eur(130_000) || f.AsOfPosition != 42 || f.UserID != "rep" {
		t.Fatalf("frozen %+v", f)
	}
	s = then(t, s)(evs, nil)
	_, err = freeze(s, 130_000, 6_500)
	wantCode(t, err, domain.WrongState, "invalid_state")
	_, err = commission.DecidePay(s, "fin", at)
	wantCode(t, err, domain.WrongState, "invalid_state")
	_, err = commission.DecideApprove(s, "rep", at)
	wantCode(t, err, domain.Rejected, "self_approval")
	_, err = commission.DecideReject(s, "rep", "no", at)
	wantCode(t, err, domain.Rejected, "self_approval")
	_, err = commission.DecideReject(s, "mgr2", "  ", at)
	wantCode(t, err, domain.Invalid, "required")

	// Rejected, then frozen again with the same amounts: round 2.
	s = then(t, s)(commission.DecideReject(s, "mgr2", "check the November deal", at))
	if s.Status() != commission.StatusRejected {
		t.Fatalf("status %s", s.Status())
	}
	_, err = commission.DecideApprove(s, "mgr2", at)
	wantCode(t, err, domain.WrongState, "invalid_state")
	s = then(t, s)(freeze(s, 130_000, 6_500))
	if s.Round() != 2 || s.Status() != commission.StatusSubmitted {
		t.Fatalf("round %d, %s", s.Round(), s.Status())
	}
	s = then(t, s)(commission.DecideApprove(s, "mgr2", at))
	_, err = freeze(s, 130_000, 6_500)
	wantCode(t, err, domain.WrongState, "invalid_state")
	evs, err = commission.DecidePay(s, "fin", at)
	if err != nil || evs[0].(commission.StatementPaid).Amount != eur(6_500) || evs[0].(commission.StatementPaid).Round != 2 {
		t.Fatalf("paid %v (%v)", evs, err)
	}
	s = then(t, s)(evs, nil)
	_, err = commission.DecidePay(s, "fin", at)
	wantCode(t, err, domain.WrongState, "invalid_state")

	// Paid: nothing more to settle until more is collected or earned.
	_, err = freeze(s, 130_000, 6_500)
	wantCode(t, err, domain.Rejected, "nothing_to_settle")
	evs, err = freeze(s, 140_000, 7_000)
	if f := evs[0].(commission.StatementFrozen); err != nil || f.Round != 3 || f.PaidBefore != eur(6_500) || f.Payable != eur(500) {
		t.Fatalf("round 3 %+v (%v)", evs, err)
	}
	s = then(t, s)(evs, nil)
	s = then(t, s)(commission.DecideApprove(s, "mgr2", at))
	s = then(t, s)(commission.DecidePay(s, "fin", at))

	// A reversal after payment: the next round pays back.
	evs, err = freeze(s, 100_000, 5_000)
	if f := evs[0].(commission.StatementFrozen); err != nil || f.PaidBefore != eur(7_000) || f.Payable != eur(-2_000) {
		t.Fatalf("claw-back round %+v (%v)", evs, err)
	}
}

func TestStatementNotFound(t *testing.T) {
	var s commission.StatementState
	_, err := commission.DecideApprove(s, "mgr", at)
	wantCode(t, err, domain.NotFound, "statement_not_found")
	_, err = commission.DecideReject(s, "mgr", "x", at)
	wantCode(t, err, domain.NotFound, "statement_not_found")
	_, err = commission.DecidePay(s, "fin", at)
	wantCode(t, err, domain.NotFound, "statement_not_found")
}
