// Package invoice holds the invoice commands: one file per use case, each a
// command struct (its JSON form is the request body a client sends) and
// its Spec; the pipeline of package commands does the rest (tenant and
// caller, roles, load, decide, append with the expected version, retries,
// idempotency).
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
	Create  commands.Handler[CreateInvoice]
	Issue   commands.Handler[IssueInvoice]
	Approve commands.Handler[ApproveInvoice]
	Reject  commands.Handler[RejectInvoice]
	Pay     commands.Handler[RecordPayment]
	Cancel  commands.Handler[CancelInvoice]
}

// deps are what the specs need beside the pipeline.
type deps struct {
	x        *commands.Executor
	settings Settings
	members  commands.Members
	now      func() time.Time
}

// NewHandler returns the invoice commands on x; members answers whether a
// sales_rep is a salesperson of the tenant.
func NewHandler(x *commands.Executor, settings Settings, members commands.Members, now func() time.Time) *Handler {
	d := deps{x: x, settings: settings, members: members, now: now}
	return &Handler{
		Create:  commands.Handle(x, d.create()),
		Issue:   commands.Handle(x, d.issue()),
		Approve: commands.Handle(x, d.approve()),
		Reject:  commands.Handle(x, d.reject()),
		Pay:     commands.Handle(x, d.pay()),
		Cancel:  commands.Handle(x, d.cancel()),
	}
}

// Events are the invoice events, for the registry.
func Events() []domain.Event {
	return []domain.Event{invoice.Drafted{}, invoice.SubmittedForValidation{}, invoice.Approved{}, invoice.Rejected{},
		invoice.Issued{}, invoice.PaymentRecorded{}, invoice.Cancelled{}, invoice.NumberAssigned{}}
}

// missing is the code of a command on an invoice that does not exist.
const missing = "invoice_not_found"

// on decides on the invoice's state folded from its history.
func on[C any](decide func(ctx context.Context, c C, t commands.Target, s invoice.State) (commands.Decision, error)) func(context.Context, C, commands.Target, []domain.Event) (commands.Decision, error) {
	return func(ctx context.Context, c C, t commands.Target, history []domain.Event) (commands.Decision, error) {
		return decide(ctx, c, t, invoice.Fold(history))
	}
}

// caller is the ctx principal's id; the pipeline has checked there is one.
func caller(ctx context.Context) string {
	p, _ := user.From(ctx)
	return string(p.ID)
}

// number takes the next invoice number of the year, as an extra write that
// commits atomically with the invoice's own events.
func (d deps) number(ctx context.Context, invoiceID string, at time.Time) (string, commands.Extra, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", commands.Extra{}, err
	}
	year := at.UTC().Year()
	stream, err := streams.NewName(t, invoice.NumberingCategory, fmt.Sprint(year))
	if err != nil {
		return "", commands.Extra{}, err
	}
	evs, recs, err := d.x.Load(ctx, stream)
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

// StreamOf returns the stream of invoice id in the ctx tenant, for reads
// of its history; an id that is not a canonical UUID names no invoice.
func StreamOf(ctx context.Context, id string) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if !commands.ValidID(id) {
		return "", domain.NotFoundf(missing, "no such invoice")
	}
	return streams.NewName(t, invoice.Category, id)
}
