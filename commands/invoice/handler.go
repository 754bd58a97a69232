// Package invoice holds the invoice commands: one file per use case, each
// checking the caller's roles, loading the invoice, deciding with
// domain/invoice and appending with the expected version.
package invoice

import (
	"context"
	"fmt"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Settings answers the ctx tenant's configuration the invoice commands need.
type Settings interface {
	// InvoicePolicy is the ctx tenant's invoicing policy: the currencies it
	// accepts, each with the total at or above which an invoice in it waits
	// for approval before it is issued.
	InvoicePolicy(ctx context.Context) (invoice.Policy, error)
}

// Handler runs the invoice commands.
type Handler struct {
	x        *commands.Executor
	settings Settings
	members  commands.Members
	now      func() time.Time
}

// NewHandler returns the invoice command handler; members answers whether
// a sales_rep is a salesperson of the tenant.
func NewHandler(store streams.Store, reg *streams.Registry, settings Settings, members commands.Members, now func() time.Time) *Handler {
	return &Handler{x: &commands.Executor{Store: store, Registry: reg}, settings: settings, members: members, now: now}
}

// Register registers every invoice event, and the command bookkeeping
// events, in r.
func Register(r *streams.Registry) {
	streams.Register(r, invoice.Drafted{}, invoice.SubmittedForValidation{}, invoice.Approved{}, invoice.Rejected{},
		invoice.Issued{}, invoice.PaymentRecorded{}, invoice.Cancelled{}, invoice.NumberAssigned{})
	commands.Register(r)
}

func allow(ctx context.Context, roles ...user.Role) (user.Principal, error) {
	p, err := user.From(ctx)
	if err != nil {
		return user.Principal{}, err
	}
	if !p.Has(roles...) {
		return user.Principal{}, domain.Forbiddenf("your roles do not allow this")
	}
	return p, nil
}

// StreamOf returns the stream of invoice id in the ctx tenant. An id that is
// not a UUID names no invoice.
func StreamOf(ctx context.Context, id string) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if !commands.ValidID(id) {
		return "", domain.NotFoundf("invoice_not_found", "no such invoice")
	}
	return streams.NewName(t, "invoice", id)
}

// existing runs a command on an invoice that must exist.
func (h *Handler) existing(ctx context.Context, req commands.Request, id string, decide func(ctx context.Context, s invoice.State) (commands.Decision, error)) (commands.Result, error) {
	stream, err := StreamOf(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(ctx, req, stream, func(ctx context.Context, history []domain.Event) (commands.Decision, error) {
		s := invoice.Fold(history)
		if !s.Exists() {
			return commands.Decision{}, domain.NotFoundf("invoice_not_found", "no such invoice")
		}
		return decide(ctx, s)
	})
}

// number takes the next invoice number of the year, as an extra write that
// commits atomically with the invoice's own events.
func (h *Handler) number(ctx context.Context, invoiceID string, at time.Time) (string, commands.Extra, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", commands.Extra{}, err
	}
	year := at.UTC().Year()
	stream, err := streams.NewName(t, "invoicenumber", fmt.Sprint(year))
	if err != nil {
		return "", commands.Extra{}, err
	}
	evs, recs, err := h.x.Load(ctx, stream)
	if err != nil {
		return "", commands.Extra{}, err
	}
	n := invoice.Numbering{Year: year}
	for _, e := range evs {
		n = invoice.EvolveNumbering(n, e)
	}
	next := n.Next(invoiceID)
	return next.Number, commands.Extra{
		Stream: stream, Expected: streams.Exactly(streams.Version(len(recs))), Events: []domain.Event{next},
	}, nil
}

// Decode decodes one of the invoice's stored events.
func (h *Handler) Decode(r streams.Record) (domain.Event, error) {
	return h.x.Registry.Decode(r.Type, r.Data)
}
