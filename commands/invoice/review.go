package invoice

import (
	"context"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/user"
)

// ApproveInvoice approves an invoice pending validation, which issues it.
type ApproveInvoice struct {
	commands.Request
	InvoiceID string `json:"-"`
}

// RejectInvoice refuses an invoice pending validation.
type RejectInvoice struct {
	commands.Request
	InvoiceID string `json:"-"`
	Reason    string `json:"reason"`
}

// approve: roles manager or finance, never the invoice's creator.
func (d deps) approve() commands.Spec[ApproveInvoice] {
	return commands.Spec[ApproveInvoice]{
		Name: "approve_invoice", Category: invoice.Category, Roles: []user.Role{user.Manager, user.Finance},
		ID: func(c ApproveInvoice) string { return c.InvoiceID }, Missing: missing,
		Decide: on(func(ctx context.Context, _ ApproveInvoice, _ commands.Target, s invoice.State) (commands.Decision, error) {
			at := d.now()
			cmd := invoice.Review{By: caller(ctx), At: at}
			var extras []commands.Extra
			if s.Status() == invoice.StatusPendingValidation && s.CreatedBy() != cmd.By {
				number, extra, err := d.number(ctx, s.ID(), at)
				if err != nil {
					return commands.Decision{}, err
				}
				cmd.Number, extras = number, []commands.Extra{extra}
			}
			evs, err := invoice.DecideApprove(s, cmd)
			return commands.Decision{Events: evs, Extras: extras}, err
		}),
	}
}

// reject: roles manager or finance, never the invoice's creator.
func (d deps) reject() commands.Spec[RejectInvoice] {
	return commands.Spec[RejectInvoice]{
		Name: "reject_invoice", Category: invoice.Category, Roles: []user.Role{user.Manager, user.Finance},
		ID: func(c RejectInvoice) string { return c.InvoiceID }, Missing: missing,
		Decide: on(func(ctx context.Context, c RejectInvoice, _ commands.Target, s invoice.State) (commands.Decision, error) {
			evs, err := invoice.DecideReject(s, invoice.Review{Reason: c.Reason, By: caller(ctx), At: d.now()})
			return commands.Decision{Events: evs}, err
		}),
	}
}
