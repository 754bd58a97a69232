package invoice

import (
	"context"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/user"
)

// CancelInvoice withdraws an invoice on which nothing was paid.
type CancelInvoice struct {
	commands.Request
	InvoiceID string `json:"-"`
	Reason    string `json:"reason"`
}

// cancel: roles finance or admin.
func (d deps) cancel() commands.Spec[CancelInvoice] {
	return commands.Spec[CancelInvoice]{
		Name: "cancel_invoice", Category: invoice.Category, Roles: []user.Role{user.Finance, user.Admin},
		ID: func(c CancelInvoice) string { return c.InvoiceID }, Missing: missing,
		Decide: on(func(ctx context.Context, c CancelInvoice, _ commands.Target, s invoice.State) (commands.Decision, error) {
			evs, err := invoice.DecideCancel(s, invoice.Cancel{Reason: c.Reason, By: caller(ctx), At: d.now()})
			return commands.Decision{Events: evs}, err
		}),
	}
}
