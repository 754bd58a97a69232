package invoice

import (
	"time"

	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
)

// Client is the company an invoice is addressed to.
type Client struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Line is one line of an invoice. Quantity is a whole number of units.
type Line struct {
	Description string      `json:"description"`
	Quantity    int64       `json:"quantity"`
	UnitPrice   money.Money `json:"unit_price"`
	Total       money.Money `json:"total"`
}

// Drafted: an invoice was created as a draft.
type Drafted struct {
	InvoiceID string         `json:"invoice_id"`
	Client    Client         `json:"client"`
	Currency  money.Currency `json:"currency"`
	DueDate   string         `json:"due_date"` // YYYY-MM-DD
	SalesRep  string         `json:"sales_rep,omitempty"`
	Lines     []Line         `json:"lines"`
	Total     money.Money    `json:"total"`
	CreatedBy string         `json:"created_by"`
	CreatedAt time.Time      `json:"created_at"`
}

// SubmittedForValidation: issuing was asked for an invoice whose total is at
// or above the tenant's validation threshold; it waits for approval.
type SubmittedForValidation struct {
	InvoiceID   string      `json:"invoice_id"`
	Threshold   money.Money `json:"threshold"`
	SubmittedBy string      `json:"submitted_by"`
	SubmittedAt time.Time   `json:"submitted_at"`
}

// Approved: a manager or finance member approved an invoice pending validation.
type Approved struct {
	InvoiceID  string    `json:"invoice_id"`
	ApprovedBy string    `json:"approved_by"`
	ApprovedAt time.Time `json:"approved_at"`
}

// Rejected: an invoice pending validation was refused.
type Rejected struct {
	InvoiceID  string    `json:"invoice_id"`
	Reason     string    `json:"reason"`
	RejectedBy string    `json:"rejected_by"`
	RejectedAt time.Time `json:"rejected_at"`
}

// Issued: the invoice was given its number and sent; it is now due.
type Issued struct {
	InvoiceID string      `json:"invoice_id"`
	Number    string      `json:"number"` // INV-2026-000001
	Total     money.Money `json:"total"`
	DueDate   string      `json:"due_date"`
	IssuedBy  string      `json:"issued_by"`
	IssuedAt  time.Time   `json:"issued_at"`
}

// PaymentRecorded: a payment was received against an issued invoice. Paid
// is the sum of all payments so far, Due what remains.
type PaymentRecorded struct {
	InvoiceID  string      `json:"invoice_id"`
	PaymentID  string      `json:"payment_id"`
	Amount     money.Money `json:"amount"`
	PaidAt     time.Time   `json:"paid_at"`
	Reference  string      `json:"reference,omitempty"`
	Paid       money.Money `json:"paid"`
	Due        money.Money `json:"due"`
	SalesRep   string      `json:"sales_rep,omitempty"`
	RecordedBy string      `json:"recorded_by"`
}

// Cancelled: the invoice was withdrawn, with a reason.
type Cancelled struct {
	InvoiceID   string    `json:"invoice_id"`
	Reason      string    `json:"reason"`
	CancelledBy string    `json:"cancelled_by"`
	CancelledAt time.Time `json:"cancelled_at"`
}

// NumberAssigned is written to the tenant's numbering stream for a year
// ("<tenant>.invoicenumber-<year>") in the same atomic append as Issued, so
// numbers have no gap and no duplicate.
type NumberAssigned struct {
	Year      int    `json:"year"`
	Sequence  int64  `json:"sequence"`
	Number    string `json:"number"`
	InvoiceID string `json:"invoice_id"`
}

// EventName implementations: stable names, never derived from Go types.
func (Drafted) EventName() string                { return "invoice.drafted.v1" }
func (SubmittedForValidation) EventName() string { return "invoice.submitted_for_validation.v1" }
func (Approved) EventName() string               { return "invoice.approved.v1" }
func (Rejected) EventName() string               { return "invoice.rejected.v1" }
func (Issued) EventName() string                 { return "invoice.issued.v1" }
func (PaymentRecorded) EventName() string        { return "invoice.payment_recorded.v1" }
func (Cancelled) EventName() string              { return "invoice.cancelled.v1" }
func (NumberAssigned) EventName() string         { return "invoice.number_assigned.v1" }

// Status is where an invoice is in its life.
type Status string

// The statuses of CONTRACT.md section 4.
// Stream categories: an invoice is "<tenant>.invoice-<id>"; a year's
// invoice numbers are "<tenant>.invoicenumber-<year>".
const (
	Category          = "invoice"
	NumberingCategory = "invoicenumber"
)

const (
	StatusDraft             Status = "draft"
	StatusPendingValidation Status = "pending_validation"
	StatusRejected          Status = "rejected"
	StatusIssued            Status = "issued"
	StatusPartiallyPaid     Status = "partially_paid"
	StatusPaid              Status = "paid"
	StatusCancelled         Status = "cancelled"
)

// ReadRoles may read invoices and collections: every role but employee.
func ReadRoles() []user.Role {
	return []user.Role{user.Admin, user.Finance, user.Manager, user.Sales, user.Auditor}
}
