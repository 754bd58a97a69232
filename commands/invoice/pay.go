package invoice

import (
	"context"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
)

// RecordPayment records a payment received against an issued invoice.
type RecordPayment struct {
	Request   commands.Request
	InvoiceID string
	Amount    money.Money
	PaidAt    time.Time
	Reference string
}

// RecordPayment records a payment: roles finance or admin. Paying more than
// is due, or in a currency the tenant does not accept, is refused.
func (h *Handler) RecordPayment(ctx context.Context, c RecordPayment) (commands.Result, error) {
	p, err := allow(ctx, user.Finance, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	policy, err := h.settings.InvoicePolicy(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.existing(ctx, c.Request, c.InvoiceID, func(_ context.Context, s invoice.State) (commands.Decision, error) {
		evs, err := invoice.DecidePayment(s, invoice.Pay{
			PaymentID: c.Request.CommandID, Amount: c.Amount, PaidAt: c.PaidAt, Reference: c.Reference, Policy: policy, By: string(p.ID),
		})
		return commands.Decision{Events: evs}, err
	})
}
