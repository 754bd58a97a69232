package commissions

import (
	"context"
	"fmt"

	commissioncmd "github.com/atrium-platform/atrium/commands/commission"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules/module"
)

type seeder struct{ h *commissioncmd.Handler }

// seed gives the demo salesperson a tiered plan: 3% of what they collect,
// 6% once their objective for the quarter is reached. The demo invoices'
// payments, recorded after it, accrue under it.
func (s seeder) seed(ctx context.Context, demo module.Demo) error {
	three, six := int64(300), int64(600)
	_, err := s.h.SetPlan(demo.As(ctx, user.Manager), commissioncmd.SetPlan{
		UserID: string(demo.Members[user.Sales]),
		Tiers:  []commissioncmd.Tier{{FromAchievedRatio: []byte("0"), RateBps: &three}, {FromAchievedRatio: []byte("1"), RateBps: &six}},
	})
	if err != nil {
		return fmt.Errorf("demo commission plan: %w", err)
	}
	return nil
}
