// Package objective holds the objective commands: set (managers), submit
// (the assignee, after the period), validate or reject (managers).
package objective

import (
	"context"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Currencies answers the currencies the ctx tenant accepts.
type Currencies interface {
	Currencies(ctx context.Context) ([]money.Currency, error)
}

// Handler runs the objective commands.
type Handler struct {
	x          *commands.Executor
	currencies Currencies
	members    commands.Members
	now        func() time.Time
}

// NewHandler returns the objective handler; members answers whether an
// assignee is a salesperson of the tenant.
func NewHandler(store streams.Store, reg *streams.Registry, currencies Currencies, members commands.Members, now func() time.Time) *Handler {
	return &Handler{x: &commands.Executor{Store: store, Registry: reg}, currencies: currencies, members: members, now: now}
}

// Register registers the objective events in r.
func Register(r *streams.Registry) {
	streams.Register(r, objective.Set{}, objective.Submitted{}, objective.Validated{}, objective.Rejected{})
}

func streamOf(ctx context.Context, id string) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if !commands.ValidID(id) {
		return "", domain.NotFoundf("objective_not_found", "no such objective")
	}
	return streams.NewName(t, "objective", id)
}

func allow(ctx context.Context, roles ...user.Role) (user.Principal, error) {
	p, err := user.From(ctx)
	if err != nil {
		return p, err
	}
	if len(roles) > 0 && !p.Has(roles...) {
		return p, domain.Forbiddenf("your roles do not allow this")
	}
	return p, nil
}

// SetObjective sets a target for a salesperson and a quarter.
type SetObjective struct {
	Request  commands.Request
	Assignee string
	Period   string
	Metric   string
	Target   money.Money
}

// Set creates an objective: roles manager or admin; its target in a
// currency the tenant accepts. The assignee is the user_id of a member of
// the tenant holding the role sales (422 unknown_member or
// member_role_required otherwise).
func (h *Handler) Set(ctx context.Context, c SetObjective) (commands.Result, error) {
	p, err := allow(ctx, user.Manager, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	accepted, err := h.currencies.Currencies(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	id, err := commands.NewAggregateID(ctx, c.Request)
	if err != nil {
		return commands.Result{}, err
	}
	stream, err := streamOf(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.RunNew(ctx, c.Request, stream, func(ctx context.Context, history []domain.Event) (commands.Decision, error) {
		evs, err := objective.DecideSet(objective.Fold(history), objective.Set{ObjectiveID: id, Assignee: c.Assignee,
			Period: c.Period, Metric: c.Metric, Target: c.Target, By: string(p.ID), At: h.now()}, accepted)
		if err != nil {
			return commands.Decision{}, err
		}
		if err := commands.RequireMember(ctx, h.members, "assignee", c.Assignee, user.Sales); err != nil {
			return commands.Decision{}, err
		}
		return commands.Decision{Events: evs}, nil
	})
}

func (h *Handler) run(ctx context.Context, req commands.Request, id string, decide func(objective.State) ([]domain.Event, error)) (commands.Result, error) {
	stream, err := streamOf(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(ctx, req, stream, func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		s := objective.Fold(history)
		if !s.Exists() {
			return commands.Decision{}, domain.NotFoundf("objective_not_found", "no such objective")
		}
		evs, err := decide(s)
		return commands.Decision{Events: evs}, err
	})
}

// Submit submits an objective: its assignee, once its period is over.
func (h *Handler) Submit(ctx context.Context, req commands.Request, id string) (commands.Result, error) {
	p, err := allow(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s objective.State) ([]domain.Event, error) {
		return objective.DecideSubmit(s, string(p.ID), h.now())
	})
}

// Validate validates a submitted objective: roles manager or admin.
func (h *Handler) Validate(ctx context.Context, req commands.Request, id string) (commands.Result, error) {
	p, err := allow(ctx, user.Manager, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s objective.State) ([]domain.Event, error) {
		return objective.DecideValidate(s, string(p.ID), h.now())
	})
}

// Reject sends a submitted objective back: roles manager or admin.
func (h *Handler) Reject(ctx context.Context, req commands.Request, id, reason string) (commands.Result, error) {
	p, err := allow(ctx, user.Manager, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	return h.run(ctx, req, id, func(s objective.State) ([]domain.Event, error) {
		return objective.DecideReject(s, string(p.ID), reason, h.now())
	})
}
