// Package expense holds the expense commands: draft, attach a receipt,
// submit under the tenant's policy, approve or reject, reimburse.
package expense

import (
	"context"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Policies answers the ctx tenant's expense policy, with the currencies it
// accepts.
type Policies interface {
	ExpensePolicy(ctx context.Context) (expense.Policy, error)
}

// Handler runs the expense commands.
type Handler struct {
	x        *commands.Executor
	docs     documents.Store
	policies Policies
	now      func() time.Time
}

// NewHandler returns the expense handler.
func NewHandler(store streams.Store, reg *streams.Registry, docs documents.Store, policies Policies, now func() time.Time) *Handler {
	return &Handler{x: &commands.Executor{Store: store, Registry: reg}, docs: docs, policies: policies, now: now}
}

// Register registers the expense events in r.
func Register(r *streams.Registry) {
	streams.Register(r, expense.Drafted{}, expense.ReceiptAttached{}, expense.Submitted{}, expense.Approved{},
		expense.Rejected{}, expense.Reimbursed{})
}

// StreamOf returns the stream of expense id in the ctx tenant.
func StreamOf(ctx context.Context, id string) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if !commands.ValidID(id) {
		return "", domain.NotFoundf("expense_not_found", "no such expense")
	}
	return streams.NewName(t, "expense", id)
}

func member(ctx context.Context, roles ...user.Role) (user.Principal, error) {
	p, err := user.From(ctx)
	if err != nil {
		return p, err
	}
	if len(p.Roles) == 0 || (len(roles) > 0 && !p.Has(roles...)) {
		return p, domain.Forbiddenf("your roles do not allow this")
	}
	return p, nil
}

// CreateExpense drafts a claim owned by the caller.
type CreateExpense struct {
	Request     commands.Request
	Category    string
	Amount      money.Money
	SpentOn     string
	Description string
}

// Create drafts a claim: any member, for themselves, in a currency the
// tenant accepts.
func (h *Handler) Create(ctx context.Context, c CreateExpense) (commands.Result, error) {
	p, err := member(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	pol, err := h.policies.ExpensePolicy(ctx)
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
	return h.x.RunNew(ctx, c.Request, stream, func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		evs, err := expense.DecideDraft(expense.Fold(history), expense.Draft{ExpenseID: id, Owner: string(p.ID), Category: c.Category,
			Amount: c.Amount, SpentOn: c.SpentOn, Description: c.Description, Accepted: pol.Accepted(), At: h.now()})
		return commands.Decision{Events: evs}, err
	})
}

func (h *Handler) run(ctx context.Context, req commands.Request, id string, decide func(s expense.State) ([]domain.Event, error)) (commands.Result, error) {
	stream, err := StreamOf(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(ctx, req, stream, func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		s := expense.Fold(history)
		if !s.Exists() {
			return commands.Decision{}, domain.NotFoundf("expense_not_found", "no such expense")
		}
		evs, err := decide(s)
		return commands.Decision{Events: evs}, err
	})
}

// Submit sends the caller's draft for approval under the tenant's policy.
func (h *Handler) Submit(ctx context.Context, req commands.Request, id string) (commands.Result, error) {
	p, err := member(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	pol, err := h.policies.ExpensePolicy(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s expense.State) ([]domain.Event, error) {
		return expense.DecideSubmit(s, string(p.ID), pol, h.now())
	})
}

// Approve approves a submitted claim: role manager, never the owner.
func (h *Handler) Approve(ctx context.Context, req commands.Request, id string) (commands.Result, error) {
	p, err := member(ctx, user.Manager)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s expense.State) ([]domain.Event, error) {
		return expense.DecideApprove(s, string(p.ID), h.now())
	})
}

// Reject refuses a submitted claim with a reason: role manager, never the owner.
func (h *Handler) Reject(ctx context.Context, req commands.Request, id, reason string) (commands.Result, error) {
	p, err := member(ctx, user.Manager)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s expense.State) ([]domain.Event, error) {
		return expense.DecideReject(s, string(p.ID), reason, h.now())
	})
}

// Reimburse pays an approved claim back: role finance.
func (h *Handler) Reimburse(ctx context.Context, req commands.Request, id string) (commands.Result, error) {
	p, err := member(ctx, user.Finance)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s expense.State) ([]domain.Event, error) {
		return expense.DecideReimburse(s, string(p.ID), h.now())
	})
}

// AsOf returns the claim as it was at asOf, to its owner or to those who read
// all claims, and its version then.
func (h *Handler) AsOf(ctx context.Context, id string, asOf time.Time) (expense.State, streams.Version, error) {
	p, err := member(ctx)
	if err != nil {
		return expense.State{}, 0, err
	}
	stream, err := StreamOf(ctx, id)
	if err != nil {
		return expense.State{}, 0, err
	}
	_, recs, err := h.x.Load(ctx, stream)
	if err != nil {
		return expense.State{}, 0, err
	}
	var evs []domain.Event
	var v streams.Version
	for _, r := range recs {
		if r.RecordedAt.After(asOf) {
			break
		}
		e, err := h.x.Registry.Decode(r.Type, r.Data)
		if err != nil {
			return expense.State{}, 0, err
		}
		evs, v = append(evs, e), r.Version
	}
	s := expense.Fold(evs)
	if !s.Exists() || (s.Owner() != string(p.ID) && !p.Has(user.Overseers()...)) {
		return expense.State{}, 0, domain.NotFoundf("expense_not_found", "no such expense at that time")
	}
	return s, v, nil
}
