package invoice

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
)

// State is an invoice as its events left it. The zero State is an invoice
// that does not exist yet. Only Evolve changes it.
type State struct {
	id        string
	status    Status
	currency  money.Currency
	total     money.Money
	paid      money.Money
	dueDate   string
	salesRep  string
	createdBy string
	number    string
	client    Client
	lines     []Line
	createdAt time.Time
	issuedAt  time.Time
	payments  map[string]bool
}

// Client returns the invoice's client.
func (s State) Client() Client { return s.client }

// Currency returns the invoice currency.
func (s State) Currency() money.Currency { return s.currency }

// DueDate returns the due date, YYYY-MM-DD.
func (s State) DueDate() string { return s.dueDate }

// Lines returns the invoice lines.
func (s State) Lines() []Line { return s.lines }

// CreatedAt returns when the draft was created.
func (s State) CreatedAt() time.Time { return s.createdAt }

// IssuedAt returns when the invoice was issued; zero before.
func (s State) IssuedAt() time.Time { return s.issuedAt }

// Exists reports whether the invoice was drafted.
func (s State) Exists() bool { return s.status != "" }

// ID returns the invoice id.
func (s State) ID() string { return s.id }

// Status returns where the invoice is in its life.
func (s State) Status() Status { return s.status }

// Total returns the invoice total.
func (s State) Total() money.Money { return s.total }

// Paid returns the sum of payments received.
func (s State) Paid() money.Money { return s.paid }

// Number returns the invoice number once issued, else "".
func (s State) Number() string { return s.number }

// CreatedBy returns the user who drafted the invoice.
func (s State) CreatedBy() string { return s.createdBy }

// SalesRep returns the sales representative credited with the invoice.
func (s State) SalesRep() string { return s.salesRep }

// Due returns what remains to be paid.
func (s State) Due() money.Money {
	d, err := s.total.Sub(s.paid)
	if err != nil {
		return money.Zero(s.currency)
	}
	return d
}

// Evolve applies one event. It never re-checks business rules: the event
// happened.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case Drafted:
		s = State{
			id: e.InvoiceID, status: StatusDraft, currency: e.Currency, total: e.Total,
			paid: money.Zero(e.Currency), dueDate: e.DueDate, salesRep: e.SalesRep, createdBy: e.CreatedBy,
			client: e.Client, lines: e.Lines, createdAt: e.CreatedAt,
		}
	case SubmittedForValidation:
		s.status = StatusPendingValidation
	case Approved:
		// Issued follows in the same append.
	case Rejected:
		s.status = StatusRejected
	case Issued:
		s.status = StatusIssued
		s.number = e.Number
		s.issuedAt = e.IssuedAt
	case PaymentRecorded:
		s.paid = e.Paid
		if s.payments == nil {
			s.payments = map[string]bool{}
		}
		s.payments[e.PaymentID] = true
		if e.Due.Amount <= 0 {
			s.status = StatusPaid
		} else {
			s.status = StatusPartiallyPaid
		}
	case Cancelled:
		s.status = StatusCancelled
	}
	return s
}

// Fold rebuilds a state from its events.
func Fold(events []domain.Event) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

// Policy is the tenant's invoicing policy: the currencies it accepts, each
// with the total at or above which an invoice in it waits for approval
// (zero: never). An invoice, a line or a payment in a currency that is not
// a key is refused.
type Policy struct {
	Thresholds map[money.Currency]money.Money
}

// Accepted returns the currencies the policy accepts, in no order.
func (p Policy) Accepted() []money.Currency { return slices.Collect(maps.Keys(p.Thresholds)) }

// LineInput is a line as the client sends it.
type LineInput struct {
	Description string
	Quantity    int64
	UnitPrice   money.Money
}

// Draft is the command to create an invoice draft.
type Draft struct {
	InvoiceID  string
	ClientID   string
	ClientName string
	Currency   string
	DueDate    string
	SalesRep   string
	Lines      []LineInput
	Policy     Policy
	By         string
	At         time.Time
}

const (
	maxLines    = 200
	maxTextLen  = 500
	maxQuantity = 1_000_000_000
)

func text(field, v string, required bool) error {
	_, err := domain.Text(field, v, maxTextLen, required)
	return err
}

// DecideDraft validates a draft and returns its Drafted event.
func DecideDraft(s State, c Draft) ([]domain.Event, error) {
	if s.Exists() {
		return nil, domain.WrongStatef("invoice_exists", "invoice %s already exists", c.InvoiceID)
	}
	for _, e := range []error{
		text("client.id", c.ClientID, true), text("client.name", c.ClientName, true), text("sales_rep", c.SalesRep, false),
	} {
		if e != nil {
			return nil, e
		}
	}
	cur, accepted := money.Currency(c.Currency), c.Policy.Accepted()
	if err := money.CheckCurrency("currency", cur, accepted); err != nil {
		return nil, err
	}
	if _, err := time.Parse(time.DateOnly, c.DueDate); err != nil {
		return nil, domain.Invalidf("due_date", "invalid_date", "due_date must be a date YYYY-MM-DD")
	}
	if len(c.Lines) == 0 {
		return nil, domain.Invalidf("lines", "no_lines", "an invoice needs at least one line")
	}
	if len(c.Lines) > maxLines {
		return nil, domain.Invalidf("lines", "too_many_lines", "an invoice has at most %d lines", maxLines)
	}
	lines := make([]Line, 0, len(c.Lines))
	totals := make([]money.Money, 0, len(c.Lines))
	for i, l := range c.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		if e := text(f+".description", l.Description, true); e != nil {
			return nil, e
		}
		if l.Quantity <= 0 || l.Quantity > maxQuantity {
			return nil, domain.Invalidf(f+".quantity", "invalid_quantity", "quantity must be between 1 and %d", maxQuantity)
		}
		if err := money.CheckCurrency(f+".unit_price.currency", l.UnitPrice.Currency, accepted); err != nil {
			return nil, err
		}
		if l.UnitPrice.Currency != cur {
			return nil, domain.Invalidf(f+".unit_price.currency", "currency_mismatch", "unit price must be in %s", cur)
		}
		if l.UnitPrice.Amount < 0 {
			return nil, domain.Invalidf(f+".unit_price.amount", "invalid_amount", "unit price must not be negative")
		}
		if err := money.CheckAmount(f+".unit_price.amount", l.UnitPrice.Amount); err != nil {
			return nil, err
		}
		lt, err := l.UnitPrice.Mul(l.Quantity)
		if err != nil {
			return nil, money.OutOfRange(f) // quantity × unit price
		}
		lines = append(lines, Line{Description: strings.TrimSpace(l.Description), Quantity: l.Quantity, UnitPrice: l.UnitPrice, Total: lt})
		totals = append(totals, lt)
	}
	total, err := money.Sum(cur, totals...)
	if err != nil {
		return nil, money.OutOfRange("lines") // the invoice total
	}
	return []domain.Event{Drafted{
		InvoiceID: c.InvoiceID, Client: Client{ID: strings.TrimSpace(c.ClientID), Name: strings.TrimSpace(c.ClientName)},
		Currency: cur, DueDate: c.DueDate, SalesRep: strings.TrimSpace(c.SalesRep), Lines: lines, Total: total,
		CreatedBy: c.By, CreatedAt: c.At.UTC(),
	}}, nil
}

func notFound(s State) error {
	if !s.Exists() {
		return domain.NotFoundf("invoice_not_found", "no such invoice")
	}
	return nil
}

func wrongState(s State, action string) error {
	return domain.WrongStatef("invalid_state", "cannot %s an invoice that is %s", action, s.status)
}

// Issue is the command to issue an invoice under the tenant's Policy;
// Number is the number it gets if issued now.
type Issue struct {
	Policy Policy
	Number string
	By     string
	At     time.Time
}

// threshold returns the validation threshold of s's currency, or the
// refusal of an invoice in a currency the tenant no longer accepts: no
// invoice is issued without its currency's policy.
func threshold(s State, p Policy) (money.Money, error) {
	t, ok := p.Thresholds[s.currency]
	if !ok || t.Currency != s.currency {
		return money.Money{}, &domain.Error{Kind: domain.Rejected, Code: "currency_not_accepted", Field: "currency",
			Message: "this tenant no longer accepts " + string(s.currency) + "; see the currencies of its settings"}
	}
	return t, nil
}

// NeedsValidation reports whether issuing s under p must wait for
// approval: its total is at or above its currency's threshold. It is true
// for an invoice in a currency p does not accept, which DecideIssue
// refuses: such an invoice is never issued at once.
func NeedsValidation(s State, p Policy) bool {
	t, err := threshold(s, p)
	return err != nil || (t.Amount > 0 && s.total.Amount >= t.Amount)
}

// DecideIssue issues a draft, or submits it for validation when its total
// is at or above its currency's threshold.
func DecideIssue(s State, c Issue) ([]domain.Event, error) {
	if err := notFound(s); err != nil {
		return nil, err
	}
	if s.status != StatusDraft {
		return nil, wrongState(s, "issue")
	}
	t, err := threshold(s, c.Policy)
	if err != nil {
		return nil, err
	}
	if !money.InRange(s.total.Amount) { // a draft recorded before amounts were bounded
		return nil, money.OutOfRange("total")
	}
	at := c.At.UTC()
	if NeedsValidation(s, c.Policy) {
		return []domain.Event{SubmittedForValidation{InvoiceID: s.id, Threshold: t, SubmittedBy: c.By, SubmittedAt: at}}, nil
	}
	return []domain.Event{issued(s, c.Number, c.By, at)}, nil
}

func issued(s State, number, by string, at time.Time) Issued {
	return Issued{InvoiceID: s.id, Number: number, Total: s.total, DueDate: s.dueDate, IssuedBy: by, IssuedAt: at}
}

// Review is the command to approve or reject an invoice pending validation.
type Review struct {
	Number string // for approval: the number it gets
	Reason string // for rejection
	By     string
	At     time.Time
}

func decideReview(s State, c Review, action string) error {
	if err := notFound(s); err != nil {
		return err
	}
	if s.status != StatusPendingValidation {
		return wrongState(s, action)
	}
	if c.By == s.createdBy {
		return domain.Rejectf("self_approval", "the invoice's creator cannot %s it", action)
	}
	return nil
}

// DecideApprove approves an invoice pending validation, which issues it.
func DecideApprove(s State, c Review) ([]domain.Event, error) {
	if err := decideReview(s, c, "approve"); err != nil {
		return nil, err
	}
	at := c.At.UTC()
	return []domain.Event{Approved{InvoiceID: s.id, ApprovedBy: c.By, ApprovedAt: at}, issued(s, c.Number, c.By, at)}, nil
}

// DecideReject rejects an invoice pending validation.
func DecideReject(s State, c Review) ([]domain.Event, error) {
	if err := decideReview(s, c, "reject"); err != nil {
		return nil, err
	}
	if e := text("reason", c.Reason, true); e != nil {
		return nil, e
	}
	return []domain.Event{Rejected{InvoiceID: s.id, Reason: strings.TrimSpace(c.Reason), RejectedBy: c.By, RejectedAt: c.At.UTC()}}, nil
}

// Pay is the command to record a payment under the tenant's Policy.
type Pay struct {
	PaymentID string
	Amount    money.Money
	PaidAt    time.Time
	Reference string
	Policy    Policy
	By        string
}

// DecidePayment records a payment against an issued invoice.
func DecidePayment(s State, c Pay) ([]domain.Event, error) {
	if err := notFound(s); err != nil {
		return nil, err
	}
	if s.status != StatusIssued && s.status != StatusPartiallyPaid {
		return nil, wrongState(s, "record a payment on")
	}
	if err := money.CheckCurrency("amount.currency", c.Amount.Currency, c.Policy.Accepted()); err != nil {
		return nil, err
	}
	if c.Amount.Currency != s.currency {
		return nil, domain.Invalidf("amount.currency", "currency_mismatch", "payment must be in %s", s.currency)
	}
	if c.Amount.Amount <= 0 {
		return nil, domain.Invalidf("amount.amount", "invalid_amount", "payment amount must be positive")
	}
	if err := money.CheckAmount("amount.amount", c.Amount.Amount); err != nil {
		return nil, err
	}
	if c.PaidAt.IsZero() {
		return nil, domain.Invalidf("paid_at", "required", "paid_at is required")
	}
	if e := text("reference", c.Reference, false); e != nil {
		return nil, e
	}
	due := s.Due()
	if c.Amount.Amount > due.Amount {
		return nil, domain.Rejectf("overpayment", "payment of %s is more than the %s due", c.Amount, due)
	}
	paid, err := s.paid.Add(c.Amount)
	if err != nil {
		return nil, money.OutOfRange("amount") // paid so far
	}
	left, err := due.Sub(c.Amount)
	if err != nil {
		return nil, money.OutOfRange("amount")
	}
	return []domain.Event{PaymentRecorded{
		InvoiceID: s.id, PaymentID: c.PaymentID, Amount: c.Amount, PaidAt: c.PaidAt.UTC(),
		Reference: strings.TrimSpace(c.Reference), Paid: paid, Due: left, SalesRep: s.salesRep, RecordedBy: c.By,
	}}, nil
}

// Cancel is the command to withdraw an invoice.
type Cancel struct {
	Reason string
	By     string
	At     time.Time
}

// DecideCancel cancels an invoice on which nothing was paid.
func DecideCancel(s State, c Cancel) ([]domain.Event, error) {
	if err := notFound(s); err != nil {
		return nil, err
	}
	switch s.status {
	case StatusDraft, StatusPendingValidation, StatusRejected, StatusIssued:
	default:
		return nil, wrongState(s, "cancel")
	}
	if e := text("reason", c.Reason, true); e != nil {
		return nil, e
	}
	return []domain.Event{Cancelled{InvoiceID: s.id, Reason: strings.TrimSpace(c.Reason), CancelledBy: c.By, CancelledAt: c.At.UTC()}}, nil
}

// Numbering is the state of a tenant's numbering stream for one year.
type Numbering struct {
	Year int
	Last int64
}

// EvolveNumbering applies a NumberAssigned event.
func EvolveNumbering(n Numbering, e domain.Event) Numbering {
	if a, ok := e.(NumberAssigned); ok {
		n.Last = a.Sequence
	}
	return n
}

// Next returns the next number of the year and its event.
func (n Numbering) Next(invoiceID string) NumberAssigned {
	seq := n.Last + 1
	return NumberAssigned{Year: n.Year, Sequence: seq, Number: fmt.Sprintf("INV-%d-%06d", n.Year, seq), InvoiceID: invoiceID}
}
