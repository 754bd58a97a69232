package commission

import (
	"context"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// statementNamespace derives a statement's id from what it is about.
var statementNamespace = uuid.MustParse("3b0e6f54-9c2d-4f6a-8e1b-7d5a2c9f0e31")

// StatementID is the id of the statement of userID for period in cur in
// tenant t: one per salesperson, period and currency, whatever its rounds.
func StatementID(t tenant.ID, userID, period string, cur money.Currency) string {
	return uuid.NewSHA1(statementNamespace, []byte(string(t)+"\x00"+userID+"\x00"+period+"\x00"+string(cur))).String()
}

// FreezeStatement freezes a salesperson's statement for a period with the
// amounts as they stand; Currency defaults to the tenant's.
type FreezeStatement struct {
	commands.Request
	UserID   string         `json:"user_id"`
	Period   string         `json:"period"`
	Currency money.Currency `json:"currency"`
}

// freeze: role manager; user_id a member of the tenant (422
// unknown_member), the period a quarter (400 invalid_period). The amounts
// are the commissions read model's as it stands, at the position the
// event records (as_of_position): a client that wants a payment it was
// just answered in them reads the commissions with X-Read-After first.
// The answer's id is the statement's, the same for every round.
func (d deps) freeze(ctx context.Context, c FreezeStatement) (commands.Result, error) {
	p, err := caller(ctx, user.Manager)
	if err != nil {
		return commands.Result{}, err
	}
	t, err := tenant.From(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	period, err := objective.ParsePeriod(c.Period)
	if err != nil {
		return commands.Result{}, err
	}
	cur := c.Currency
	if cur == "" {
		if cur, err = d.currencies.Primary(ctx); err != nil {
			return commands.Result{}, err
		}
	} else if _, err := money.ParseCurrency(string(cur)); err != nil {
		return commands.Result{}, &domain.Error{Kind: domain.Rejected, Code: "invalid_currency", Field: "currency",
			Message: "currency must be an ISO 4217 currency code such as EUR"}
	}
	if !commands.ValidID(c.UserID) {
		return commands.Result{}, unknownMember("user_id")
	}
	id := StatementID(t, c.UserID, period.String(), cur)
	stream, err := streams.NewName(t, commission.StatementCategory, id)
	if err != nil {
		return commands.Result{}, err
	}
	return d.x.Run(ctx, commands.Call{Name: "freeze_commission_statement", Request: c.Request, Stream: stream,
		Decide: func(ctx context.Context, history []domain.Event) (commands.Decision, error) {
			if _, ok, err := d.members.Roles(ctx, c.UserID); err != nil {
				return commands.Decision{}, err
			} else if !ok {
				return commands.Decision{}, unknownMember("user_id")
			}
			s := commission.FoldStatement(history)
			if err := commission.Freezable(s); err != nil {
				return commands.Decision{}, err
			}
			now, err := d.standings.Standing(ctx, c.UserID, period.String(), cur)
			if err != nil {
				return commands.Decision{}, err
			}
			evs, err := commission.DecideFreeze(s, commission.Freeze{
				StatementID: id, UserID: c.UserID, Period: period.String(), Collected: now.Collected, Commission: now.Commission,
				AsOfPosition: now.Position, By: string(p.ID), At: d.now(),
			})
			return commands.Decision{Events: evs}, err
		}})
}

const missing = "statement_not_found"

// on decides on the statement folded from its history, by the caller.
func on[C any](decide func(c C, s commission.StatementState, by string) ([]domain.Event, error)) func(context.Context, C, commands.Target, []domain.Event) (commands.Decision, error) {
	return func(ctx context.Context, c C, _ commands.Target, history []domain.Event) (commands.Decision, error) {
		p, _ := user.From(ctx)
		evs, err := decide(c, commission.FoldStatement(history), string(p.ID))
		return commands.Decision{Events: evs}, err
	}
}

// ApproveStatement approves a submitted statement.
type ApproveStatement struct {
	commands.Request
	StatementID string `json:"-"`
}

// approve: role manager, not the beneficiary (422 self_approval).
func (d deps) approve() commands.Spec[ApproveStatement] {
	return commands.Spec[ApproveStatement]{
		Name: "approve_commission_statement", Category: commission.StatementCategory, Roles: []user.Role{user.Manager},
		ID: func(c ApproveStatement) string { return c.StatementID }, Missing: missing,
		Decide: on(func(_ ApproveStatement, s commission.StatementState, by string) ([]domain.Event, error) {
			return commission.DecideApprove(s, by, d.now())
		}),
	}
}

// RejectStatement sends a submitted statement back with a reason.
type RejectStatement struct {
	commands.Request
	StatementID string `json:"-"`
	Reason      string `json:"reason"`
}

// reject: role manager, not the beneficiary (422 self_approval).
func (d deps) reject() commands.Spec[RejectStatement] {
	return commands.Spec[RejectStatement]{
		Name: "reject_commission_statement", Category: commission.StatementCategory, Roles: []user.Role{user.Manager},
		ID: func(c RejectStatement) string { return c.StatementID }, Missing: missing,
		Decide: on(func(c RejectStatement, s commission.StatementState, by string) ([]domain.Event, error) {
			return commission.DecideReject(s, by, c.Reason, d.now())
		}),
	}
}

// PayStatement records the payment of an approved statement.
type PayStatement struct {
	commands.Request
	StatementID string `json:"-"`
}

// pay: role finance.
func (d deps) pay() commands.Spec[PayStatement] {
	return commands.Spec[PayStatement]{
		Name: "pay_commission_statement", Category: commission.StatementCategory, Roles: []user.Role{user.Finance},
		ID: func(c PayStatement) string { return c.StatementID }, Missing: missing,
		Decide: on(func(_ PayStatement, s commission.StatementState, by string) ([]domain.Event, error) {
			return commission.DecidePay(s, by, d.now())
		}),
	}
}
