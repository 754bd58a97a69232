package invoice

import (
	"context"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/user"
)

// IssueInvoice issues a draft: it gets its number, or waits for approval
// when its total is at or above the tenant's validation threshold.
type IssueInvoice struct {
	commands.Request
	InvoiceID string `json:"-"`
}

// issue: roles finance or admin.
func (d deps) issue() commands.Spec[IssueInvoice] {
	return commands.Spec[IssueInvoice]{
		Name: "issue_invoice", Category: invoice.Category, Roles: []user.Role{user.Finance, user.Admin},
		ID: func(c IssueInvoice) string { return c.InvoiceID }, Missing: missing,
		Decide: on(func(ctx context.Context, _ IssueInvoice, _ commands.Target, s invoice.State) (commands.Decision, error) {
			policy, err := d.settings.InvoicePolicy(ctx)
			if err != nil {
				return commands.Decision{}, err
			}
			at := d.now()
			cmd := invoice.Issue{Policy: policy, By: caller(ctx), At: at}
			var extras []commands.Extra
			if s.Status() == invoice.StatusDraft && !invoice.NeedsValidation(s, policy) {
				number, extra, err := d.number(ctx, s.ID(), at)
				if err != nil {
					return commands.Decision{}, err
				}
				cmd.Number, extras = number, []commands.Extra{extra}
			}
			evs, err := invoice.DecideIssue(s, cmd)
			return commands.Decision{Events: evs, Extras: extras}, err
		}),
	}
}
