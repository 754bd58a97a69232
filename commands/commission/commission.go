// Package commission holds the commission commands: set a salesperson's
// plan (managers, admins), freeze a period's statement (managers), approve
// or reject it (a manager who is not its beneficiary), pay it (finance).
// Each is a command struct (its JSON form is the request body) run by the
// pipeline of package commands: the decisions on an existing statement as
// Specs; setting a plan and freezing a statement, whose aggregates are
// named by what they are about (the salesperson; the salesperson, period
// and currency) rather than created with a new id, through the Executor's
// Run.
package commission

import (
	"context"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
)

// Standing is what a salesperson has earned in a period, in one currency,
// as the commissions read model stands at Position (the tenant's event
// position it has applied).
type Standing struct {
	Collected  money.Money
	Commission money.Money
	Position   uint64
}

// Standings answers the commissions read model's amounts for the freezing
// of a statement. Safe for concurrent use.
type Standings interface {
	// Standing returns userID's totals for period in cur as the read model
	// of the ctx tenant stands (zero amounts when nothing accrued), with
	// the position it has applied.
	Standing(ctx context.Context, userID, period string, cur money.Currency) (Standing, error)
}

// Currencies answers the ctx tenant's primary currency, the default of a
// statement's.
type Currencies interface {
	Primary(ctx context.Context) (money.Currency, error)
}

// Handler runs the commission commands.
type Handler struct {
	SetPlan commands.Handler[SetPlan]
	Freeze  commands.Handler[FreezeStatement]
	Approve commands.Handler[ApproveStatement]
	Reject  commands.Handler[RejectStatement]
	Pay     commands.Handler[PayStatement]
}

type deps struct {
	x          *commands.Executor
	members    commands.Members
	standings  Standings
	currencies Currencies
	now        func() time.Time
}

// NewHandler returns the commission commands on x: members answers
// whether a plan's or a statement's user_id is a member of the tenant,
// standings the amounts a statement freezes, currencies its default
// currency.
func NewHandler(x *commands.Executor, members commands.Members, standings Standings, currencies Currencies, now func() time.Time) *Handler {
	d := deps{x: x, members: members, standings: standings, currencies: currencies, now: now}
	return &Handler{
		SetPlan: d.setPlan,
		Freeze:  d.freeze,
		Approve: commands.Handle(x, d.approve()),
		Reject:  commands.Handle(x, d.reject()),
		Pay:     commands.Handle(x, d.pay()),
	}
}

// Events are the commission events, for the registry.
func Events() []domain.Event {
	return []domain.Event{commission.PlanSet{}, commission.StatementFrozen{}, commission.StatementApproved{},
		commission.StatementRejected{}, commission.StatementPaid{}}
}

// caller returns the ctx caller when they hold one of roles.
func caller(ctx context.Context, roles ...user.Role) (user.Principal, error) {
	p, err := user.From(ctx)
	if err != nil {
		return p, err
	}
	if !p.Has(roles...) {
		return p, domain.Forbiddenf("your roles do not allow this")
	}
	return p, nil
}

// unknownMember is the refusal of a user_id that names no member of the
// tenant, worded as commands.RequireMember words it.
func unknownMember(field string) error {
	return &domain.Error{Kind: domain.Rejected, Code: "unknown_member", Field: field,
		Message: field + " must be the user_id of a member of this tenant"}
}
