package invoice

import (
	"context"
	"strings"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
)

// CreateInvoice drafts a new invoice.
type CreateInvoice struct {
	commands.Request
	Client   Client `json:"client"`
	Currency string `json:"currency"`
	DueDate  string `json:"due_date"`
	// SalesRep, when given, is the user_id of a member of the tenant
	// holding the role sales.
	SalesRep string `json:"sales_rep"`
	Lines    []Line `json:"lines"`
}

// Client is who the invoice is for.
type Client struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Line is one invoice line as the client gives it.
type Line struct {
	Description string      `json:"description"`
	Quantity    int64       `json:"quantity"`
	UnitPrice   money.Money `json:"unit_price"`
}

// create drafts an invoice: roles finance, admin or sales (422
// unknown_member or member_role_required for a sales_rep who is no
// salesperson of the tenant).
func (d deps) create() commands.Spec[CreateInvoice] {
	return commands.Spec[CreateInvoice]{
		Name: "create_invoice", Category: invoice.Category, Roles: []user.Role{user.Finance, user.Admin, user.Sales}, Creates: true,
		Decide: on(func(ctx context.Context, c CreateInvoice, t commands.Target, s invoice.State) (commands.Decision, error) {
			policy, err := d.settings.InvoicePolicy(ctx)
			if err != nil {
				return commands.Decision{}, err
			}
			lines := make([]invoice.LineInput, len(c.Lines))
			for i, l := range c.Lines {
				lines[i] = invoice.LineInput(l)
			}
			evs, err := invoice.DecideDraft(s, invoice.Draft{
				InvoiceID: t.ID, ClientID: c.Client.ID, ClientName: c.Client.Name, Currency: c.Currency,
				DueDate: c.DueDate, SalesRep: c.SalesRep, Lines: lines, Policy: policy, By: caller(ctx), At: d.now(),
			})
			if err != nil {
				return commands.Decision{}, err
			}
			if rep := strings.TrimSpace(c.SalesRep); rep != "" { // as the draft records it
				if err := commands.RequireMember(ctx, d.members, "sales_rep", rep, user.Sales); err != nil {
					return commands.Decision{}, err
				}
			}
			return commands.Decision{Events: evs}, nil
		}),
	}
}
