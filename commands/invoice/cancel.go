package invoice

import (
	"context"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/user"
)

// CancelInvoice withdraws an invoice on which nothing was paid.
type CancelInvoice struct {
	Request   commands.Request
	InvoiceID string
	Reason    string
}

// Cancel cancels an invoice: roles finance or admin.
func (h *Handler) Cancel(ctx context.Context, c CancelInvoice) (commands.Result, error) {
	p, err := allow(ctx, user.Finance, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	return h.existing(ctx, c.Request, c.InvoiceID, func(_ context.Context, s invoice.State) (commands.Decision, error) {
		evs, err := invoice.DecideCancel(s, invoice.Cancel{Reason: c.Reason, By: string(p.ID), At: h.now()})
		return commands.Decision{Events: evs}, err
	})
}
