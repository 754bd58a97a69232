// Package expense holds the expense commands: draft, attach a receipt,
// submit under the tenant's policy, approve or reject, reimburse. Each is a
// command struct (its JSON form is the request body) and a Spec run by the
// pipeline of package commands; attaching a receipt, which also stores a
// file, is the one command with steps of its own (receipt.go).
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
	Create    commands.Handler[CreateExpense]
	Submit    commands.Handler[SubmitExpense]
	Approve   commands.Handler[ApproveExpense]
	Reject    commands.Handler[RejectExpense]
	Reimburse commands.Handler[ReimburseExpense]

	x        *commands.Executor
	docs     documents.Store
	policies Policies
	now      func() time.Time
}

// NewHandler returns the expense commands on x.
func NewHandler(x *commands.Executor, docs documents.Store, policies Policies, now func() time.Time) *Handler {
	h := &Handler{x: x, docs: docs, policies: policies, now: now}
	h.Create = commands.Handle(x, h.create())
	h.Submit = commands.Handle(x, h.submit())
	h.Approve = commands.Handle(x, h.approve())
	h.Reject = commands.Handle(x, h.reject())
	h.Reimburse = commands.Handle(x, h.reimburse())
	return h
}

// Events are the expense events, for the registry.
func Events() []domain.Event {
	return []domain.Event{expense.Drafted{}, expense.ReceiptAttached{}, expense.Submitted{}, expense.Approved{},
		expense.Rejected{}, expense.Reimbursed{}}
}

const missing = "expense_not_found"

// StreamOf returns the stream of expense id in the ctx tenant; an id that
// is not a canonical UUID names no claim.
func StreamOf(ctx context.Context, id string) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if !commands.ValidID(id) {
		return "", domain.NotFoundf(missing, "no such expense")
	}
	return streams.NewName(t, expense.Category, id)
}

// on decides on the claim's state folded from its history, by the caller.
func on[C any](decide func(c C, s expense.State, by string) ([]domain.Event, error)) func(context.Context, C, commands.Target, []domain.Event) (commands.Decision, error) {
	return func(ctx context.Context, c C, _ commands.Target, history []domain.Event) (commands.Decision, error) {
		p, _ := user.From(ctx)
		evs, err := decide(c, expense.Fold(history), string(p.ID))
		return commands.Decision{Events: evs}, err
	}
}

// CreateExpense drafts a claim owned by the caller.
type CreateExpense struct {
	commands.Request
	Category    string      `json:"category"`
	Amount      money.Money `json:"amount"`
	SpentOn     string      `json:"spent_on"`
	Description string      `json:"description"`
}

// create: any member, for themselves, in a currency the tenant accepts.
func (h *Handler) create() commands.Spec[CreateExpense] {
	return commands.Spec[CreateExpense]{
		Name: "create_expense", Category: expense.Category, Creates: true,
		Decide: func(ctx context.Context, c CreateExpense, t commands.Target, history []domain.Event) (commands.Decision, error) {
			pol, err := h.policies.ExpensePolicy(ctx)
			if err != nil {
				return commands.Decision{}, err
			}
			p, _ := user.From(ctx)
			evs, err := expense.DecideDraft(expense.Fold(history), expense.Draft{ExpenseID: t.ID, Owner: string(p.ID), Category: c.Category,
				Amount: c.Amount, SpentOn: c.SpentOn, Description: c.Description, Accepted: pol.Accepted(), At: h.now()})
			return commands.Decision{Events: evs}, err
		},
	}
}

// SubmitExpense sends the caller's draft for approval.
type SubmitExpense struct {
	commands.Request
	ExpenseID string `json:"-"`
}

// submit: the owner, under the tenant's policy.
func (h *Handler) submit() commands.Spec[SubmitExpense] {
	return commands.Spec[SubmitExpense]{
		Name: "submit_expense", Category: expense.Category, ID: func(c SubmitExpense) string { return c.ExpenseID }, Missing: missing,
		Decide: func(ctx context.Context, c SubmitExpense, t commands.Target, history []domain.Event) (commands.Decision, error) {
			pol, err := h.policies.ExpensePolicy(ctx)
			if err != nil {
				return commands.Decision{}, err
			}
			return on(func(_ SubmitExpense, s expense.State, by string) ([]domain.Event, error) {
				return expense.DecideSubmit(s, by, pol, h.now())
			})(ctx, c, t, history)
		},
	}
}

// ApproveExpense approves a submitted claim.
type ApproveExpense struct {
	commands.Request
	ExpenseID string `json:"-"`
}

// approve: role manager, never the owner.
func (h *Handler) approve() commands.Spec[ApproveExpense] {
	return commands.Spec[ApproveExpense]{
		Name: "approve_expense", Category: expense.Category, Roles: []user.Role{user.Manager},
		ID: func(c ApproveExpense) string { return c.ExpenseID }, Missing: missing,
		Decide: on(func(_ ApproveExpense, s expense.State, by string) ([]domain.Event, error) {
			return expense.DecideApprove(s, by, h.now())
		}),
	}
}

// RejectExpense refuses a submitted claim with a reason.
type RejectExpense struct {
	commands.Request
	ExpenseID string `json:"-"`
	Reason    string `json:"reason"`
}

// reject: role manager, never the owner.
func (h *Handler) reject() commands.Spec[RejectExpense] {
	return commands.Spec[RejectExpense]{
		Name: "reject_expense", Category: expense.Category, Roles: []user.Role{user.Manager},
		ID: func(c RejectExpense) string { return c.ExpenseID }, Missing: missing,
		Decide: on(func(c RejectExpense, s expense.State, by string) ([]domain.Event, error) {
			return expense.DecideReject(s, by, c.Reason, h.now())
		}),
	}
}

// ReimburseExpense pays an approved claim back.
type ReimburseExpense struct {
	commands.Request
	ExpenseID string `json:"-"`
}

// reimburse: role finance.
func (h *Handler) reimburse() commands.Spec[ReimburseExpense] {
	return commands.Spec[ReimburseExpense]{
		Name: "reimburse_expense", Category: expense.Category, Roles: []user.Role{user.Finance},
		ID: func(c ReimburseExpense) string { return c.ExpenseID }, Missing: missing,
		Decide: on(func(_ ReimburseExpense, s expense.State, by string) ([]domain.Event, error) {
			return expense.DecideReimburse(s, by, h.now())
		}),
	}
}

// member is the ctx caller, who must hold a role in the tenant.
func member(ctx context.Context) (user.Principal, error) {
	p, err := user.From(ctx)
	if err != nil {
		return p, err
	}
	if len(p.Roles) == 0 {
		return p, domain.Forbiddenf("your roles do not allow this")
	}
	return p, nil
}

// AsOf returns the claim as it was at asOf, to its owner or to those who
// read all claims, and its version then.
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
		return expense.State{}, 0, domain.NotFoundf(missing, "no such expense at that time")
	}
	return s, v, nil
}
