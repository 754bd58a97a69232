package invoice

import (
	"context"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
)

// RecordPayment records a payment received against an issued invoice.
type RecordPayment struct {
	commands.Request
	InvoiceID string      `json:"-"`
	Amount    money.Money `json:"amount"`
	// PaidAt is an RFC 3339 time, or a date (midnight UTC).
	PaidAt    string `json:"paid_at"`
	Reference string `json:"reference"`
}

// ParseTime reads an RFC 3339 time, or a date as midnight UTC, naming
// field when it is neither.
func ParseTime(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, domain.Invalidf(field, "invalid_request", "%s must be an RFC 3339 time or a date YYYY-MM-DD", field)
}

// pay: roles finance or admin. Paying more than is due, or in a currency
// the tenant does not accept, is refused.
func (d deps) pay() commands.Spec[RecordPayment] {
	return commands.Spec[RecordPayment]{
		Name: "record_payment", Category: invoice.Category, Roles: []user.Role{user.Finance, user.Admin},
		ID: func(c RecordPayment) string { return c.InvoiceID }, Missing: missing,
		Decide: on(func(ctx context.Context, c RecordPayment, t commands.Target, s invoice.State) (commands.Decision, error) {
			paidAt, err := ParseTime("paid_at", c.PaidAt)
			if err != nil {
				return commands.Decision{}, err
			}
			policy, err := d.settings.InvoicePolicy(ctx)
			if err != nil {
				return commands.Decision{}, err
			}
			evs, err := invoice.DecidePayment(s, invoice.Pay{
				PaymentID: t.CommandID, Amount: c.Amount, PaidAt: paidAt, Reference: c.Reference, Policy: policy, By: caller(ctx),
			})
			return commands.Decision{Events: evs}, err
		}),
	}
}
