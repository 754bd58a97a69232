package commission

import (
	"context"
	"encoding/json"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// SetPlan sets a salesperson's plan: {"rate_bps":500}, or
// {"tiers":[{"from_achieved_ratio":0,"rate_bps":300},...]}.
type SetPlan struct {
	commands.Request
	UserID  string `json:"-"`
	RateBps *int64 `json:"rate_bps"`
	Tiers   []Tier `json:"tiers"`
}

// Tier is one tier of a plan as a client writes it; the ratio is kept as
// written, so that it is read exactly and refused naming its field.
type Tier struct {
	FromAchievedRatio json.RawMessage `json:"from_achieved_ratio"`
	RateBps           *int64          `json:"rate_bps"`
}

// planStream is the stream of userID's plan in the ctx tenant; an id that
// names nobody is unknown_member (field user_id).
func planStream(ctx context.Context, userID string) (streams.Name, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if !commands.ValidID(userID) {
		return "", unknownMember("user_id")
	}
	return streams.NewName(t, commission.PlanCategory, userID)
}

// setPlan: roles manager or admin; the user a member of the tenant holding
// the role sales (422 unknown_member or member_role_required otherwise),
// and not the caller. The same plan again writes nothing. The answer's id
// is the user's.
func (d deps) setPlan(ctx context.Context, c SetPlan) (commands.Result, error) {
	p, err := caller(ctx, user.Manager, user.Admin)
	if err != nil {
		return commands.Result{}, err
	}
	stream, err := planStream(ctx, c.UserID)
	if err != nil {
		return commands.Result{}, err
	}
	tiers := []commission.TierInput(nil)
	if c.Tiers != nil {
		tiers = make([]commission.TierInput, len(c.Tiers))
		for i, t := range c.Tiers {
			tiers[i] = commission.TierInput{FromAchievedRatio: string(t.FromAchievedRatio), RateBps: t.RateBps}
		}
	}
	return d.x.Run(ctx, commands.Call{Name: "set_commission_plan", Request: c.Request, Stream: stream,
		Decide: func(ctx context.Context, history []domain.Event) (commands.Decision, error) {
			evs, err := commission.DecideSetPlan(commission.FoldPlan(history), commission.SetPlan{
				UserID: c.UserID, RateBps: c.RateBps, Tiers: tiers, By: string(p.ID), At: d.now(),
			})
			if err != nil {
				return commands.Decision{}, err
			}
			if err := commands.RequireMember(ctx, d.members, "user_id", c.UserID, user.Sales); err != nil {
				return commands.Decision{}, err
			}
			return commands.Decision{Events: evs}, nil
		}})
}
