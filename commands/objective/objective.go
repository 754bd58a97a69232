// Package objective holds the objective commands: set (managers), submit
// (the assignee, after the period), validate or reject (managers). Each is
// a command struct (its JSON form is the request body) and a Spec run by
// the pipeline of package commands.
package objective

import (
	"context"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/user"
)

// Currencies answers the currencies the ctx tenant accepts.
type Currencies interface {
	Currencies(ctx context.Context) ([]money.Currency, error)
}

// Handler runs the objective commands.
type Handler struct {
	Set      commands.Handler[SetObjective]
	Submit   commands.Handler[SubmitObjective]
	Validate commands.Handler[ValidateObjective]
	Reject   commands.Handler[RejectObjective]
}

type deps struct {
	currencies Currencies
	members    commands.Members
	now        func() time.Time
}

// NewHandler returns the objective commands on x; members answers whether
// an assignee is a salesperson of the tenant.
func NewHandler(x *commands.Executor, currencies Currencies, members commands.Members, now func() time.Time) *Handler {
	d := deps{currencies: currencies, members: members, now: now}
	return &Handler{
		Set:      commands.Handle(x, d.set()),
		Submit:   commands.Handle(x, d.submit()),
		Validate: commands.Handle(x, d.validate()),
		Reject:   commands.Handle(x, d.reject()),
	}
}

// Events are the objective events, for the registry.
func Events() []domain.Event {
	return []domain.Event{objective.Set{}, objective.Submitted{}, objective.Validated{}, objective.Rejected{}}
}

const missing = "objective_not_found"

// on decides on the objective folded from its history, by the caller.
func on[C any](decide func(c C, s objective.State, by string) ([]domain.Event, error)) func(context.Context, C, commands.Target, []domain.Event) (commands.Decision, error) {
	return func(ctx context.Context, c C, _ commands.Target, history []domain.Event) (commands.Decision, error) {
		p, _ := user.From(ctx)
		evs, err := decide(c, objective.Fold(history), string(p.ID))
		return commands.Decision{Events: evs}, err
	}
}

// SetObjective sets a target for a salesperson and a quarter.
type SetObjective struct {
	commands.Request
	Assignee string      `json:"assignee"`
	Period   string      `json:"period"`
	Metric   string      `json:"metric"`
	Target   money.Money `json:"target"`
}

// set: roles manager or admin; the target in a currency the tenant
// accepts; the assignee the user_id of a member of the tenant holding the
// role sales (422 unknown_member or member_role_required otherwise).
func (d deps) set() commands.Spec[SetObjective] {
	return commands.Spec[SetObjective]{
		Name: "set_objective", Category: objective.Category, Roles: []user.Role{user.Manager, user.Admin}, Creates: true,
		Decide: func(ctx context.Context, c SetObjective, t commands.Target, history []domain.Event) (commands.Decision, error) {
			accepted, err := d.currencies.Currencies(ctx)
			if err != nil {
				return commands.Decision{}, err
			}
			p, _ := user.From(ctx)
			evs, err := objective.DecideSet(objective.Fold(history), objective.Set{ObjectiveID: t.ID, Assignee: c.Assignee,
				Period: c.Period, Metric: c.Metric, Target: c.Target, By: string(p.ID), At: d.now()}, accepted)
			if err != nil {
				return commands.Decision{}, err
			}
			if err := commands.RequireMember(ctx, d.members, "assignee", c.Assignee, user.Sales); err != nil {
				return commands.Decision{}, err
			}
			return commands.Decision{Events: evs}, nil
		},
	}
}

// SubmitObjective submits an objective for validation.
type SubmitObjective struct {
	commands.Request
	ObjectiveID string `json:"-"`
}

// submit: its assignee, once its period is over.
func (d deps) submit() commands.Spec[SubmitObjective] {
	return commands.Spec[SubmitObjective]{
		Name: "submit_objective", Category: objective.Category, ID: func(c SubmitObjective) string { return c.ObjectiveID }, Missing: missing,
		Decide: on(func(_ SubmitObjective, s objective.State, by string) ([]domain.Event, error) {
			return objective.DecideSubmit(s, by, d.now())
		}),
	}
}

// ValidateObjective validates a submitted objective.
type ValidateObjective struct {
	commands.Request
	ObjectiveID string `json:"-"`
}

// validate: roles manager or admin.
func (d deps) validate() commands.Spec[ValidateObjective] {
	return commands.Spec[ValidateObjective]{
		Name: "validate_objective", Category: objective.Category, Roles: []user.Role{user.Manager, user.Admin},
		ID: func(c ValidateObjective) string { return c.ObjectiveID }, Missing: missing,
		Decide: on(func(_ ValidateObjective, s objective.State, by string) ([]domain.Event, error) {
			return objective.DecideValidate(s, by, d.now())
		}),
	}
}

// RejectObjective sends a submitted objective back with a reason.
type RejectObjective struct {
	commands.Request
	ObjectiveID string `json:"-"`
	Reason      string `json:"reason"`
}

// reject: roles manager or admin.
func (d deps) reject() commands.Spec[RejectObjective] {
	return commands.Spec[RejectObjective]{
		Name: "reject_objective", Category: objective.Category, Roles: []user.Role{user.Manager, user.Admin},
		ID: func(c RejectObjective) string { return c.ObjectiveID }, Missing: missing,
		Decide: on(func(c RejectObjective, s objective.State, by string) ([]domain.Event, error) {
			return objective.DecideReject(s, by, c.Reason, d.now())
		}),
	}
}
