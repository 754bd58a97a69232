package commission

import (
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
)

// Status is where a period's statement is in its cycle.
type Status string

// The statuses of a statement; StatusOpen is a period without one.
const (
	StatusOpen      Status = "open"
	StatusSubmitted Status = "submitted"
	StatusApproved  Status = "approved"
	StatusRejected  Status = "rejected"
	StatusPaid      Status = "paid"
)

// Statement events. Each carries the salesperson, the period and the
// round, so that an auditor or an ERP reads it without the others.
type (
	// StatementFrozen: a manager froze a period's statement with the
	// amounts as they stood, in the commissions read model at AsOfPosition
	// (the tenant's event position it had applied). Collected and
	// Commission are the period's totals; PaidBefore is what earlier paid
	// statements of the period settled, Payable what this one settles
	// (negative when accruals were reversed after a payment).
	StatementFrozen struct {
		StatementID  string      `json:"statement_id"`
		UserID       string      `json:"user_id"`
		Period       string      `json:"period"`
		Round        int         `json:"round"`
		Collected    money.Money `json:"collected"`
		Commission   money.Money `json:"commission"`
		PaidBefore   money.Money `json:"paid_before"`
		Payable      money.Money `json:"payable"`
		AsOfPosition uint64      `json:"as_of_position"`
		By           string      `json:"by"`
		At           time.Time   `json:"at"`
	}
	// StatementApproved: a manager other than the beneficiary approved it.
	StatementApproved struct {
		StatementID string      `json:"statement_id"`
		UserID      string      `json:"user_id"`
		Period      string      `json:"period"`
		Round       int         `json:"round"`
		Payable     money.Money `json:"payable"`
		By          string      `json:"by"`
		At          time.Time   `json:"at"`
	}
	// StatementRejected: a manager other than the beneficiary sent it back,
	// with a reason; the period may be frozen again.
	StatementRejected struct {
		StatementID string    `json:"statement_id"`
		UserID      string    `json:"user_id"`
		Period      string    `json:"period"`
		Round       int       `json:"round"`
		Reason      string    `json:"reason"`
		By          string    `json:"by"`
		At          time.Time `json:"at"`
	}
	// StatementPaid: finance paid the approved statement's Amount (its
	// payable).
	StatementPaid struct {
		StatementID string      `json:"statement_id"`
		UserID      string      `json:"user_id"`
		Period      string      `json:"period"`
		Round       int         `json:"round"`
		Amount      money.Money `json:"amount"`
		By          string      `json:"by"`
		At          time.Time   `json:"at"`
	}
)

func (StatementFrozen) EventName() string   { return "commission.statement_frozen.v1" }
func (StatementApproved) EventName() string { return "commission.statement_approved.v1" }
func (StatementRejected) EventName() string { return "commission.statement_rejected.v1" }
func (StatementPaid) EventName() string     { return "commission.statement_paid.v1" }

// StatementState is a period's statement as its events left it: one
// aggregate per salesperson, period and currency, frozen again for another
// round after a rejection or a payment.
type StatementState struct {
	id            string
	userID        string
	period        string
	status        Status
	round         int
	collected     money.Money // the current round's
	payable       money.Money // the current round's
	paid          money.Money // settled by the paid rounds
	collectedPaid int64       // the period's collected as the last paid round froze it
}

// Exists reports whether a statement was ever frozen.
func (s StatementState) Exists() bool { return s.status != "" }

// ID returns the statement's id.
func (s StatementState) ID() string { return s.id }

// UserID returns the beneficiary.
func (s StatementState) UserID() string { return s.userID }

// Status returns where the current round is.
func (s StatementState) Status() Status { return s.status }

// Round returns the current round, from 1.
func (s StatementState) Round() int { return s.round }

// Payable returns what the current round settles.
func (s StatementState) Payable() money.Money { return s.payable }

// EvolveStatement applies one event.
func EvolveStatement(s StatementState, e domain.Event) StatementState {
	switch e := e.(type) {
	case StatementFrozen:
		if !s.Exists() {
			s.paid = money.Zero(e.Payable.Currency)
		}
		s.id, s.userID, s.period, s.round = e.StatementID, e.UserID, e.Period, e.Round
		s.status, s.collected, s.payable = StatusSubmitted, e.Collected, e.Payable
	case StatementApproved:
		s.status = StatusApproved
	case StatementRejected:
		s.status = StatusRejected
	case StatementPaid:
		s.status = StatusPaid
		// Frozen as Commission - PaidBefore: the sum is the frozen
		// Commission, which fits.
		s.paid.Amount += e.Amount.Amount
		s.collectedPaid = s.collected.Amount
	}
	return s
}

// FoldStatement rebuilds a statement from its events.
func FoldStatement(evs []domain.Event) StatementState {
	var s StatementState
	for _, e := range evs {
		s = EvolveStatement(s, e)
	}
	return s
}

// Freeze is the command to freeze a period's statement: the salesperson's
// totals for the period in one currency, as the read model stood at
// AsOfPosition.
type Freeze struct {
	StatementID  string
	UserID       string
	Period       string
	Collected    money.Money
	Commission   money.Money
	AsOfPosition uint64
	By           string
	At           time.Time
}

// Freezable refuses to freeze a period again while its last round is
// submitted or approved: it is decided, and paid once approved, first.
func Freezable(s StatementState) error {
	if s.status == StatusSubmitted || s.status == StatusApproved {
		return domain.WrongStatef("invalid_state", "the %s statement is %s: it is decided, and paid once approved, before the period is frozen again",
			s.period, s.status)
	}
	return nil
}

// DecideFreeze freezes a round of the period's statement: the first, or
// the next once the last was rejected or paid. A round settles what
// earlier paid rounds did not (Payable); one with nothing collected nor
// earned since the last paid round is refused.
func DecideFreeze(s StatementState, c Freeze) ([]domain.Event, error) {
	p, err := objective.ParsePeriod(c.Period)
	if err != nil {
		return nil, err
	}
	if err := Freezable(s); err != nil {
		return nil, err
	}
	cur := c.Commission.Currency
	paidBefore := money.Zero(cur)
	if s.Exists() {
		paidBefore = s.paid
	}
	if c.Collected.Amount == s.collectedPaid && c.Commission.Amount == paidBefore.Amount {
		return nil, domain.Rejectf("nothing_to_settle", "nothing was collected nor earned in %s %s since the last paid statement", p, cur)
	}
	payable, err := money.AddTotal(c.Commission, money.New(-paidBefore.Amount, paidBefore.Currency))
	if err != nil {
		return nil, &domain.Error{Kind: domain.Rejected, Code: "total_out_of_range",
			Message: "the statement's amounts are beyond the largest total this API answers"}
	}
	return []domain.Event{StatementFrozen{
		StatementID: c.StatementID, UserID: c.UserID, Period: p.String(), Round: s.round + 1,
		Collected: c.Collected, Commission: c.Commission, PaidBefore: paidBefore, Payable: payable,
		AsOfPosition: c.AsOfPosition, By: c.By, At: c.At.UTC(),
	}}, nil
}

// decided checks a decision on the current round: by a manager who is not
// its beneficiary, on a submitted round.
func decided(s StatementState, by string) error {
	if !s.Exists() {
		return domain.NotFoundf("statement_not_found", "no such statement")
	}
	if by == s.userID {
		return domain.Rejectf("self_approval", "a commission statement is never decided by its beneficiary")
	}
	if s.status != StatusSubmitted {
		return domain.WrongStatef("invalid_state", "only a submitted statement is decided, this one is %s", s.status)
	}
	return nil
}

// DecideApprove approves the submitted round.
func DecideApprove(s StatementState, by string, at time.Time) ([]domain.Event, error) {
	if err := decided(s, by); err != nil {
		return nil, err
	}
	return []domain.Event{StatementApproved{StatementID: s.id, UserID: s.userID, Period: s.period, Round: s.round,
		Payable: s.payable, By: by, At: at.UTC()}}, nil
}

// DecideReject sends the submitted round back, with a reason.
func DecideReject(s StatementState, by, reason string, at time.Time) ([]domain.Event, error) {
	if err := decided(s, by); err != nil {
		return nil, err
	}
	r, err := domain.Text("reason", reason, 500, true)
	if err != nil {
		return nil, err
	}
	return []domain.Event{StatementRejected{StatementID: s.id, UserID: s.userID, Period: s.period, Round: s.round,
		Reason: r, By: by, At: at.UTC()}}, nil
}

// DecidePay records the payment of the approved round.
func DecidePay(s StatementState, by string, at time.Time) ([]domain.Event, error) {
	if !s.Exists() {
		return nil, domain.NotFoundf("statement_not_found", "no such statement")
	}
	if s.status != StatusApproved {
		return nil, domain.WrongStatef("invalid_state", "only an approved statement is paid, this one is %s", s.status)
	}
	return []domain.Event{StatementPaid{StatementID: s.id, UserID: s.userID, Period: s.period, Round: s.round,
		Amount: s.payable, By: by, At: at.UTC()}}, nil
}
