package invoice

import (
	"context"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/user"
)

// IssueInvoice issues a draft: it gets its number, or waits for approval
// when its total is at or above the tenant's validation threshold for its
// currency.
type IssueInvoice struct {
	Request   commands.Request
	InvoiceID string
}

// Issue issues an invoice: roles finance or admin.
func (h *Handler) Issue(ctx context.Context, c IssueInvoice) (commands.Result, error) {
	p, err := allow(ctx, user.Finance, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	policy, err := h.settings.InvoicePolicy(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.existing(ctx, c.Request, c.InvoiceID, func(ctx context.Context, s invoice.State) (commands.Decision, error) {
		at := h.now()
		cmd := invoice.Issue{Policy: policy, By: string(p.ID), At: at}
		var extras []commands.Extra
		if s.Status() == invoice.StatusDraft && !invoice.NeedsValidation(s, policy) {
			number, extra, err := h.number(ctx, s.ID(), at)
			if err != nil {
				return commands.Decision{}, err
			}
			cmd.Number, extras = number, []commands.Extra{extra}
		}
		evs, err := invoice.DecideIssue(s, cmd)
		return commands.Decision{Events: evs, Extras: extras}, err
	})
}
