package invoice

import (
	"context"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/user"
)

// ApproveInvoice approves an invoice pending validation, which issues it.
type ApproveInvoice struct {
	Request   commands.Request
	InvoiceID string
}

// RejectInvoice refuses an invoice pending validation.
type RejectInvoice struct {
	Request   commands.Request
	InvoiceID string
	Reason    string
}

// Approve approves an invoice: roles manager or finance, never its creator.
func (h *Handler) Approve(ctx context.Context, c ApproveInvoice) (commands.Result, error) {
	p, err := allow(ctx, user.Manager, user.Finance)
	if err != nil {
		return commands.Result{}, err
	}
	return h.existing(ctx, c.Request, c.InvoiceID, func(ctx context.Context, s invoice.State) (commands.Decision, error) {
		at := h.now()
		cmd := invoice.Review{By: string(p.ID), At: at}
		var extras []commands.Extra
		if s.Status() == invoice.StatusPendingValidation && s.CreatedBy() != cmd.By {
			number, extra, err := h.number(ctx, s.ID(), at)
			if err != nil {
				return commands.Decision{}, err
			}
			cmd.Number, extras = number, []commands.Extra{extra}
		}
		evs, err := invoice.DecideApprove(s, cmd)
		return commands.Decision{Events: evs, Extras: extras}, err
	})
}

// Reject rejects an invoice: roles manager or finance, never its creator.
func (h *Handler) Reject(ctx context.Context, c RejectInvoice) (commands.Result, error) {
	p, err := allow(ctx, user.Manager, user.Finance)
	if err != nil {
		return commands.Result{}, err
	}
	return h.existing(ctx, c.Request, c.InvoiceID, func(_ context.Context, s invoice.State) (commands.Decision, error) {
		evs, err := invoice.DecideReject(s, invoice.Review{Reason: c.Reason, By: string(p.ID), At: h.now()})
		return commands.Decision{Events: evs}, err
	})
}
