// Package objective is a sales objective: a manager sets a revenue target
// for a salesperson and a quarter; progress is derived from the invoice
// payments credited to them (by a projection, never entered by hand); at
// the period's end the assignee submits, and a manager validates or rejects,
// which sends it back for another submission.
package objective

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
)

// Category is the stream category of objectives: "<tenant>.objective-<id>".
const Category = "objective"

// Status is where an objective is in its cycle.
type Status string

// The statuses of an objective.
const (
	StatusOpen      Status = "open"
	StatusSubmitted Status = "submitted"
	StatusValidated Status = "validated"
	StatusRejected  Status = "rejected"
)

// Events.
type (
	// Set: a manager set a target.
	Set struct {
		ObjectiveID string      `json:"objective_id"`
		Assignee    string      `json:"assignee"`
		Period      string      `json:"period"`
		Metric      string      `json:"metric"`
		Target      money.Money `json:"target"`
		By          string      `json:"by"`
		At          time.Time   `json:"at"`
	}
	// Submitted: the assignee submitted the objective for validation.
	Submitted struct {
		ObjectiveID string    `json:"objective_id"`
		By          string    `json:"by"`
		At          time.Time `json:"at"`
	}
	// Validated: a manager validated the objective.
	Validated struct {
		ObjectiveID string    `json:"objective_id"`
		By          string    `json:"by"`
		At          time.Time `json:"at"`
	}
	// Rejected: a manager sent the objective back, with a reason.
	Rejected struct {
		ObjectiveID string    `json:"objective_id"`
		Reason      string    `json:"reason"`
		By          string    `json:"by"`
		At          time.Time `json:"at"`
	}
)

func (Set) EventName() string       { return "objective.set.v1" }
func (Submitted) EventName() string { return "objective.submitted.v1" }
func (Validated) EventName() string { return "objective.validated.v1" }
func (Rejected) EventName() string  { return "objective.rejected.v1" }

// Period is a calendar quarter, "2026-Q4".
type Period struct {
	Year    int
	Quarter int
}

var periodPattern = regexp.MustCompile(`^(\d{4})-Q([1-4])$`)

// ParsePeriod parses "2026-Q4".
func ParsePeriod(s string) (Period, error) {
	m := periodPattern.FindStringSubmatch(s)
	if m == nil {
		return Period{}, domain.Invalidf("period", "invalid_period", "period must be a quarter such as 2026-Q4")
	}
	y, _ := strconv.Atoi(m[1])
	q, _ := strconv.Atoi(m[2])
	return Period{Year: y, Quarter: q}, nil
}

func (p Period) String() string { return fmt.Sprintf("%d-Q%d", p.Year, p.Quarter) }

// Start is the first day of the period (UTC).
func (p Period) Start() time.Time {
	return time.Date(p.Year, time.Month(3*(p.Quarter-1)+1), 1, 0, 0, 0, 0, time.UTC)
}

// End is the first day after the period (UTC).
func (p Period) End() time.Time { return p.Start().AddDate(0, 3, 0) }

// State is an objective as its events left it.
type State struct {
	id       string
	assignee string
	status   Status
	period   Period
}

// Exists reports whether the objective was set.
func (s State) Exists() bool { return s.status != "" }

// Assignee returns who the objective is for.
func (s State) Assignee() string { return s.assignee }

// Evolve applies one event.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case Set:
		p, _ := ParsePeriod(e.Period)
		s = State{id: e.ObjectiveID, assignee: e.Assignee, status: StatusOpen, period: p}
	case Submitted:
		s.status = StatusSubmitted
	case Validated:
		s.status = StatusValidated
	case Rejected:
		s.status = StatusRejected
	}
	return s
}

// Fold rebuilds an objective from its events.
func Fold(evs []domain.Event) State {
	var s State
	for _, e := range evs {
		s = Evolve(s, e)
	}
	return s
}

// DecideSet validates a new objective; accepted are the currencies the
// tenant accepts.
func DecideSet(s State, c Set, accepted []money.Currency) ([]domain.Event, error) {
	if s.Exists() {
		return nil, domain.WrongStatef("objective_exists", "objective %s already exists", c.ObjectiveID)
	}
	if strings.TrimSpace(c.Assignee) == "" || len(c.Assignee) > 64 {
		return nil, domain.Invalidf("assignee", "required", "assignee is the user id of a salesperson")
	}
	p, err := ParsePeriod(c.Period)
	if err != nil {
		return nil, err
	}
	if c.Metric != "revenue" {
		return nil, domain.Invalidf("metric", "invalid_metric", "the metric is revenue")
	}
	if err := money.CheckCurrency("target.currency", c.Target.Currency, accepted); err != nil {
		return nil, err
	}
	if c.Target.Amount <= 0 {
		return nil, domain.Invalidf("target.amount", "invalid_amount", "the target must be positive")
	}
	if err := money.CheckAmount("target.amount", c.Target.Amount); err != nil {
		return nil, err
	}
	c.Period, c.At = p.String(), c.At.UTC()
	return []domain.Event{c}, nil
}

// DecideSubmit submits the objective: its assignee, once the period is over.
func DecideSubmit(s State, by string, at time.Time) ([]domain.Event, error) {
	if !s.Exists() {
		return nil, domain.NotFoundf("objective_not_found", "no such objective")
	}
	if by != s.assignee {
		return nil, domain.Forbiddenf("only the objective's assignee submits it")
	}
	if s.status != StatusOpen && s.status != StatusRejected {
		return nil, domain.WrongStatef("invalid_state", "an objective that is %s is not submitted", s.status)
	}
	if at.Before(s.period.End()) {
		return nil, domain.Rejectf("period_not_ended", "%s ends on %s", s.period, s.period.End().Format(time.DateOnly))
	}
	return []domain.Event{Submitted{ObjectiveID: s.id, By: by, At: at.UTC()}}, nil
}

func decided(s State, by string) error {
	if !s.Exists() {
		return domain.NotFoundf("objective_not_found", "no such objective")
	}
	if by == s.assignee {
		return domain.Rejectf("self_approval", "an objective is never decided by its assignee")
	}
	if s.status != StatusSubmitted {
		return domain.WrongStatef("invalid_state", "only a submitted objective is decided, this one is %s", s.status)
	}
	return nil
}

// DecideValidate validates a submitted objective.
func DecideValidate(s State, by string, at time.Time) ([]domain.Event, error) {
	if err := decided(s, by); err != nil {
		return nil, err
	}
	return []domain.Event{Validated{ObjectiveID: s.id, By: by, At: at.UTC()}}, nil
}

// DecideReject sends a submitted objective back, with a reason.
func DecideReject(s State, by, reason string, at time.Time) ([]domain.Event, error) {
	if err := decided(s, by); err != nil {
		return nil, err
	}
	r, err := domain.Text("reason", reason, 500, true)
	if err != nil {
		return nil, err
	}
	return []domain.Event{Rejected{ObjectiveID: s.id, Reason: r, By: by, At: at.UTC()}}, nil
}
