package commission

import (
	"fmt"
	"slices"
	"time"

	"github.com/atrium-platform/atrium/domain"
)

// MaxTiers bounds how many tiers a plan has.
const MaxTiers = 20

// Tier is one step of a tiered plan: from the achieved ratio
// FromAchievedRatio on, the rate is RateBps.
type Tier struct {
	FromAchievedRatio Ratio `json:"from_achieved_ratio"`
	RateBps           int64 `json:"rate_bps"`
}

// Plan is how a salesperson earns: a flat RateBps, or Tiers (never both).
type Plan struct {
	RateBps *int64 `json:"rate_bps,omitempty"`
	Tiers   []Tier `json:"tiers,omitempty"`
}

// Flat returns the plan of a flat rate.
func Flat(rateBps int64) Plan { return Plan{RateBps: &rateBps} }

// Tiered reports whether the rate depends on achievement.
func (p Plan) Tiered() bool { return len(p.Tiers) > 0 }

// Rate is the plan's rate for a period whose objective is achieved to
// achieved: the flat rate, or the rate of the last tier reached (the
// first tier's below it).
func (p Plan) Rate(achieved Ratio) int64 {
	if !p.Tiered() {
		if p.RateBps == nil {
			return 0
		}
		return *p.RateBps
	}
	rate := p.Tiers[0].RateBps
	for _, t := range p.Tiers[1:] {
		if achieved >= t.FromAchievedRatio {
			rate = t.RateBps
		}
	}
	return rate
}

// Equal reports whether p and o are the same plan.
func (p Plan) Equal(o Plan) bool {
	if (p.RateBps == nil) != (o.RateBps == nil) || (p.RateBps != nil && *p.RateBps != *o.RateBps) {
		return false
	}
	return slices.Equal(p.Tiers, o.Tiers)
}

// PlanSet: a manager set a salesperson's plan. It applies to the payments
// recorded after it.
type PlanSet struct {
	UserID string `json:"user_id"`
	Plan
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// EventName implements domain.Event.
func (PlanSet) EventName() string { return "commission.plan_set.v1" }

// PlanState is a salesperson's plan as its events left it.
type PlanState struct {
	userID string
	plan   Plan
	set    bool
}

// Exists reports whether a plan was set.
func (s PlanState) Exists() bool { return s.set }

// Plan returns the plan in force.
func (s PlanState) Plan() Plan { return s.plan }

// EvolvePlan applies one event.
func EvolvePlan(s PlanState, e domain.Event) PlanState {
	if e, ok := e.(PlanSet); ok {
		s = PlanState{userID: e.UserID, plan: e.Plan, set: true}
	}
	return s
}

// FoldPlan rebuilds a plan from its events.
func FoldPlan(evs []domain.Event) PlanState {
	var s PlanState
	for _, e := range evs {
		s = EvolvePlan(s, e)
	}
	return s
}

// TierInput is a tier as a client writes it: the ratio as the text of a
// JSON number, so it is read exactly.
type TierInput struct {
	FromAchievedRatio string
	RateBps           *int64
}

// SetPlan is the command to set a salesperson's plan: RateBps, or Tiers
// (a nil Tiers is none given; an empty one is given and refused).
type SetPlan struct {
	UserID  string
	RateBps *int64
	Tiers   []TierInput
	By      string
	At      time.Time
}

func checkRate(field string, r int64) error {
	if r < 0 || r > MaxRateBps {
		return domain.Invalidf(field, "invalid_rate", "%s must be from 0 to %d basis points", field, MaxRateBps)
	}
	return nil
}

// plan validates the plan a command gives.
func (c SetPlan) plan() (Plan, error) {
	switch {
	case c.RateBps != nil && c.Tiers != nil:
		return Plan{}, domain.Invalidf("tiers", "invalid_plan", "a plan is rate_bps or tiers, not both")
	case c.RateBps != nil:
		if err := checkRate("rate_bps", *c.RateBps); err != nil {
			return Plan{}, err
		}
		return Flat(*c.RateBps), nil
	case c.Tiers == nil:
		return Plan{}, domain.Invalidf("rate_bps", "required", "a plan is rate_bps, or tiers by achieved ratio")
	case len(c.Tiers) == 0:
		return Plan{}, domain.Invalidf("tiers", "invalid_tiers", "tiers must not be empty")
	case len(c.Tiers) > MaxTiers:
		return Plan{}, domain.Invalidf("tiers", "invalid_tiers", "a plan has at most %d tiers", MaxTiers)
	}
	tiers := make([]Tier, len(c.Tiers))
	for i, t := range c.Tiers {
		field := fmt.Sprintf("tiers[%d].from_achieved_ratio", i)
		from, err := ParseRatio(field, t.FromAchievedRatio)
		if err != nil {
			return Plan{}, err
		}
		if i == 0 && from != 0 {
			return Plan{}, domain.Invalidf(field, "invalid_tiers", "the first tier starts at 0")
		}
		if i > 0 && from <= tiers[i-1].FromAchievedRatio {
			return Plan{}, domain.Invalidf(field, "invalid_tiers", "from_achieved_ratio must increase from one tier to the next")
		}
		rateField := fmt.Sprintf("tiers[%d].rate_bps", i)
		if t.RateBps == nil {
			return Plan{}, domain.Invalidf(rateField, "required", "%s is required", rateField)
		}
		if err := checkRate(rateField, *t.RateBps); err != nil {
			return Plan{}, err
		}
		tiers[i] = Tier{FromAchievedRatio: from, RateBps: *t.RateBps}
	}
	return Plan{Tiers: tiers}, nil
}

// DecideSetPlan validates a plan and sets it; the same plan again changes
// nothing. Nobody sets their own plan.
func DecideSetPlan(s PlanState, c SetPlan) ([]domain.Event, error) {
	p, err := c.plan()
	if err != nil {
		return nil, err
	}
	if c.By == c.UserID {
		return nil, domain.Rejectf("self_approval", "a salesperson's plan is never set by themselves")
	}
	if s.Exists() && s.plan.Equal(p) {
		return nil, nil
	}
	return []domain.Event{PlanSet{UserID: c.UserID, Plan: p, By: c.By, At: c.At.UTC()}}, nil
}
