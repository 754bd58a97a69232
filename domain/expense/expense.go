// Package expense is the expense claim of human resources, as a decider:
// an employee drafts a claim, attaches a receipt, submits it under the
// tenant's policy; a manager who is not the owner approves or rejects it;
// finance reimburses it.
package expense

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
)

// Category is the stream category of claims: "<tenant>.expense-<id>".
const Category = "expense"

// Status is where a claim is in its life.
type Status string

// The statuses of a claim.
const (
	StatusDraft      Status = "draft"
	StatusSubmitted  Status = "submitted"
	StatusApproved   Status = "approved"
	StatusRejected   Status = "rejected"
	StatusReimbursed Status = "reimbursed"
)

// Events.
type (
	// Drafted: an employee started a claim.
	Drafted struct {
		ExpenseID   string      `json:"expense_id"`
		Owner       string      `json:"owner"`
		Category    string      `json:"category"`
		Amount      money.Money `json:"amount"`
		SpentOn     string      `json:"spent_on"`
		Description string      `json:"description"`
		At          time.Time   `json:"at"`
	}
	// ReceiptAttached: a receipt was stored for the claim (the document key,
	// never the bytes). The claim's receipt is the object under Key of its
	// last ReceiptAttached. SHA256 is the hex SHA-256 of the bytes; events
	// recorded before it existed have none.
	ReceiptAttached struct {
		ExpenseID   string    `json:"expense_id"`
		Key         string    `json:"key"`
		ContentType string    `json:"content_type"`
		Size        int64     `json:"size"`
		SHA256      string    `json:"sha256,omitempty"`
		At          time.Time `json:"at"`
	}
	// Submitted: the owner sent the claim for approval.
	Submitted struct {
		ExpenseID string    `json:"expense_id"`
		By        string    `json:"by"`
		At        time.Time `json:"at"`
	}
	// Approved: a manager approved the claim.
	Approved struct {
		ExpenseID string    `json:"expense_id"`
		By        string    `json:"by"`
		At        time.Time `json:"at"`
	}
	// Rejected: a manager refused the claim, with a reason.
	Rejected struct {
		ExpenseID string    `json:"expense_id"`
		Reason    string    `json:"reason"`
		By        string    `json:"by"`
		At        time.Time `json:"at"`
	}
	// Reimbursed: finance paid the claim back.
	Reimbursed struct {
		ExpenseID string    `json:"expense_id"`
		By        string    `json:"by"`
		At        time.Time `json:"at"`
	}
)

func (Drafted) EventName() string         { return "expense.drafted.v1" }
func (ReceiptAttached) EventName() string { return "expense.receipt_attached.v1" }
func (Submitted) EventName() string       { return "expense.submitted.v1" }
func (Approved) EventName() string        { return "expense.approved.v1" }
func (Rejected) EventName() string        { return "expense.rejected.v1" }
func (Reimbursed) EventName() string      { return "expense.reimbursed.v1" }

// State is a claim as its events left it.
type State struct {
	id          string
	owner       string
	status      Status
	category    string
	amount      money.Money
	spentOn     string
	description string
	reason      string
	decidedBy   string
	receipt     *ReceiptAttached
}

// ID returns the claim id.
func (s State) ID() string { return s.id }

// Category returns the claim's category.
func (s State) Category() string { return s.category }

// Amount returns the amount claimed.
func (s State) Amount() money.Money { return s.amount }

// SpentOn returns the date of the expense.
func (s State) SpentOn() string { return s.spentOn }

// Description returns what the expense was.
func (s State) Description() string { return s.description }

// Decision returns who approved or rejected the claim, and why it was rejected.
func (s State) Decision() (by, reason string) { return s.decidedBy, s.reason }

// Exists reports whether the claim was drafted.
func (s State) Exists() bool { return s.status != "" }

// Owner returns who claims.
func (s State) Owner() string { return s.owner }

// Status returns where the claim is.
func (s State) Status() Status { return s.status }

// Receipt returns the attached receipt, if any.
func (s State) Receipt() (ReceiptAttached, bool) {
	if s.receipt == nil {
		return ReceiptAttached{}, false
	}
	return *s.receipt, true
}

// Evolve applies one event.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case Drafted:
		s = State{id: e.ExpenseID, owner: e.Owner, status: StatusDraft, category: e.Category, amount: e.Amount,
			spentOn: e.SpentOn, description: e.Description}
	case ReceiptAttached:
		r := e
		s.receipt = &r
	case Submitted:
		s.status = StatusSubmitted
	case Approved:
		s.status, s.decidedBy = StatusApproved, e.By
	case Rejected:
		s.status, s.decidedBy, s.reason = StatusRejected, e.By, e.Reason
	case Reimbursed:
		s.status = StatusReimbursed
	}
	return s
}

// Fold rebuilds a claim from its events.
func Fold(evs []domain.Event) State {
	var s State
	for _, e := range evs {
		s = Evolve(s, e)
	}
	return s
}

// Policy is the tenant's expense policy, checked at submit. Limits holds,
// for each currency the tenant accepts, the limits of claims in it: a claim
// in any other currency is refused, never let through without limits.
type Policy struct {
	Categories      []string
	MaxReceiptBytes int64
	Limits          map[money.Currency]Limits
}

// Limits are the amounts a policy sets for claims in one currency, in
// that currency.
type Limits struct {
	ReceiptRequiredAbove money.Money
	CategoryCeilings     map[string]money.Money
}

// Accepted returns the currencies the policy accepts claims in, in no order.
func (p Policy) Accepted() []money.Currency { return slices.Collect(maps.Keys(p.Limits)) }

// Draft is the command starting a claim.
type Draft struct {
	ExpenseID   string
	Owner       string
	Category    string
	Amount      money.Money
	SpentOn     string
	Description string
	// Accepted are the currencies the tenant accepts.
	Accepted []money.Currency
	At       time.Time
}

// DecideDraft validates a new claim.
func DecideDraft(s State, c Draft) ([]domain.Event, error) {
	if s.Exists() {
		return nil, domain.WrongStatef("expense_exists", "expense %s already exists", c.ExpenseID)
	}
	cat := strings.TrimSpace(c.Category)
	if cat == "" || len(cat) > 40 {
		return nil, domain.Invalidf("category", "required", "category is required")
	}
	if err := money.CheckCurrency("amount.currency", c.Amount.Currency, c.Accepted); err != nil {
		return nil, err
	}
	if c.Amount.Amount <= 0 {
		return nil, domain.Invalidf("amount.amount", "invalid_amount", "amount must be positive")
	}
	if err := money.CheckAmount("amount.amount", c.Amount.Amount); err != nil {
		return nil, err
	}
	spent, err := time.Parse(time.DateOnly, c.SpentOn)
	if err != nil {
		return nil, domain.Invalidf("spent_on", "invalid_date", "spent_on must be a date YYYY-MM-DD")
	}
	if spent.After(c.At) {
		return nil, domain.Invalidf("spent_on", "invalid_date", "spent_on is in the future")
	}
	d, err := domain.Text("description", c.Description, 500, false)
	if err != nil {
		return nil, err
	}
	return []domain.Event{Drafted{ExpenseID: c.ExpenseID, Owner: c.Owner, Category: cat, Amount: c.Amount,
		SpentOn: c.SpentOn, Description: d, At: c.At.UTC()}}, nil
}

func existing(s State) error {
	if !s.Exists() {
		return domain.NotFoundf("expense_not_found", "no such expense")
	}
	return nil
}

// DecideAttach records a stored receipt on the owner's draft.
func DecideAttach(s State, by string, r ReceiptAttached) ([]domain.Event, error) {
	if err := existing(s); err != nil {
		return nil, err
	}
	if by != s.owner {
		return nil, domain.Forbiddenf("only the claim's owner attaches its receipt")
	}
	if s.status != StatusDraft {
		return nil, domain.WrongStatef("invalid_state", "a receipt is attached to a draft, this claim is %s", s.status)
	}
	r.ExpenseID = s.id
	return []domain.Event{r}, nil
}

// DecideSubmit sends the owner's draft for approval under p.
func DecideSubmit(s State, by string, p Policy, at time.Time) ([]domain.Event, error) {
	if err := existing(s); err != nil {
		return nil, err
	}
	if by != s.owner {
		return nil, domain.Forbiddenf("only the claim's owner submits it")
	}
	if s.status != StatusDraft {
		return nil, domain.WrongStatef("invalid_state", "only a draft is submitted, this claim is %s", s.status)
	}
	if len(p.Categories) > 0 && !slices.Contains(p.Categories, s.category) {
		return nil, domain.Rejectf("category_not_allowed", "category %q is not in the expense policy", s.category)
	}
	limits, ok := p.Limits[s.amount.Currency]
	if !ok {
		return nil, notAccepted(s.amount.Currency)
	}
	if !money.InRange(s.amount.Amount) { // a draft recorded before amounts were bounded
		return nil, money.OutOfRange("amount")
	}
	if ceiling, ok := limits.CategoryCeilings[s.category]; ok {
		above, err := s.amount.Cmp(ceiling)
		if err != nil {
			return nil, notAccepted(s.amount.Currency)
		}
		if above > 0 {
			return nil, domain.Rejectf("category_ceiling_exceeded", "%s is above the %s ceiling of %s", s.amount, s.category, ceiling)
		}
	}
	above, err := s.amount.Cmp(limits.ReceiptRequiredAbove)
	if err != nil {
		return nil, notAccepted(s.amount.Currency)
	}
	if above > 0 && s.receipt == nil {
		return nil, domain.Rejectf("receipt_required", "a receipt is required above %s", limits.ReceiptRequiredAbove)
	}
	return []domain.Event{Submitted{ExpenseID: s.id, By: by, At: at.UTC()}}, nil
}

// notAccepted refuses a claim in a currency the tenant does not accept (any
// more), or whose limits are not all in that currency.
func notAccepted(c money.Currency) error {
	return &domain.Error{Kind: domain.Rejected, Code: "currency_not_accepted", Field: "amount.currency",
		Message: "this tenant does not accept " + string(c) + "; see the currencies of its settings"}
}

func review(s State, by string) error {
	if err := existing(s); err != nil {
		return err
	}
	if by == s.owner {
		return domain.Rejectf("self_approval", "a claim is never decided by its owner")
	}
	if s.status != StatusSubmitted {
		return domain.WrongStatef("invalid_state", "only a submitted claim is decided, this claim is %s", s.status)
	}
	return nil
}

// DecideApprove approves a submitted claim of someone else.
func DecideApprove(s State, by string, at time.Time) ([]domain.Event, error) {
	if err := review(s, by); err != nil {
		return nil, err
	}
	return []domain.Event{Approved{ExpenseID: s.id, By: by, At: at.UTC()}}, nil
}

// DecideReject refuses a submitted claim of someone else, with a reason.
func DecideReject(s State, by, reason string, at time.Time) ([]domain.Event, error) {
	if err := review(s, by); err != nil {
		return nil, err
	}
	r, err := domain.Text("reason", reason, 500, true)
	if err != nil {
		return nil, err
	}
	return []domain.Event{Rejected{ExpenseID: s.id, Reason: r, By: by, At: at.UTC()}}, nil
}

// DecideReimburse pays an approved claim back.
func DecideReimburse(s State, by string, at time.Time) ([]domain.Event, error) {
	if err := existing(s); err != nil {
		return nil, err
	}
	if s.status != StatusApproved {
		return nil, domain.WrongStatef("invalid_state", "only an approved claim is reimbursed, this claim is %s", s.status)
	}
	return []domain.Event{Reimbursed{ExpenseID: s.id, By: by, At: at.UTC()}}, nil
}
