package invoice

import (
	"context"
	"strings"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
)

// LineInput is one invoice line as the client gives it.
type LineInput struct {
	Description string
	Quantity    int64
	UnitPrice   money.Money
}

// CreateInvoice drafts a new invoice.
type CreateInvoice struct {
	Request    commands.Request
	ClientID   string
	ClientName string
	Currency   string
	DueDate    string
	SalesRep   string
	Lines      []LineInput
}

// Create drafts an invoice: roles finance, admin or sales. A sales_rep,
// when given, is the user_id of a member of the tenant holding the role
// sales (422 unknown_member or member_role_required otherwise).
func (h *Handler) Create(ctx context.Context, c CreateInvoice) (commands.Result, error) {
	p, err := allow(ctx, user.Finance, user.Admin, user.Sales)
	if err != nil {
		return commands.Result{}, err
	}
	id, err := commands.NewAggregateID(ctx, c.Request)
	if err != nil {
		return commands.Result{}, err
	}
	stream, err := StreamOf(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	policy, err := h.settings.InvoicePolicy(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	lines := make([]invoice.LineInput, len(c.Lines))
	for i, l := range c.Lines {
		lines[i] = invoice.LineInput(l)
	}
	return h.x.RunNew(ctx, c.Request, stream, func(ctx context.Context, history []domain.Event) (commands.Decision, error) {
		evs, err := invoice.DecideDraft(invoice.Fold(history), invoice.Draft{
			InvoiceID: id, ClientID: c.ClientID, ClientName: c.ClientName, Currency: c.Currency,
			DueDate: c.DueDate, SalesRep: c.SalesRep, Lines: lines, Policy: policy, By: string(p.ID), At: h.now(),
		})
		if err != nil {
			return commands.Decision{}, err
		}
		if rep := strings.TrimSpace(c.SalesRep); rep != "" { // as the draft records it
			if err := commands.RequireMember(ctx, h.members, "sales_rep", rep, user.Sales); err != nil {
				return commands.Decision{}, err
			}
		}
		return commands.Decision{Events: evs}, nil
	})
}
