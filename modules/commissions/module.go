// Package commissions is the sales commissions module: salespeople's plans
// and statements (commands/commission), the accruals of the invoice
// payments credited to them, priced by their plan and, for tiered plans,
// by their objective's achievement (a read model across three domains),
// the HTTP resources of /commissions, and the demo plan.
//
// It is listed before invoicing (package modules): a payment accrues under
// the plan in force when it is recorded, so the demo plan is set before the
// demo invoices are paid.
package commissions

import (
	"context"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	commissioncmd "github.com/atrium-platform/atrium/commands/commission"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/modules/module"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/commissionlist"
)

// Module is commissions.
func Module() module.Module {
	return module.Module{
		Name:       "commissions",
		Events:     commissioncmd.Events(),
		Projectors: []projections.Projector{commissionlist.New()},
		// Statements are what payroll and accounting take from commissions.
		ERP:  []string{commission.StatementCategory},
		Open: open,
	}
}

func open(env module.Env) (module.Parts, error) {
	q := commissionlist.NewQueries(env.Reads)
	h := commissioncmd.NewHandler(env.Commands, env.Members, standings{q}, currencies{env.Settings}, env.Now)
	r := resource{commands: h, commissions: q}
	return module.Parts{Routes: func(rt atriumhttp.Routes) { r.mount(rt) }, Seed: seeder{h}.seed}, nil
}

// standings answers the statement commands from the commissions read
// model, as it stands.
type standings struct{ q *commissionlist.Queries }

func (s standings) Standing(ctx context.Context, userID, period string, cur money.Currency) (commissioncmd.Standing, error) {
	st, err := s.q.Standing(ctx, userID, period, cur)
	if err != nil {
		return commissioncmd.Standing{}, err
	}
	return commissioncmd.Standing{Collected: st.Collected, Commission: st.Commission, Position: st.Position}, nil
}

// currencies answers a statement's default currency: the tenant's.
type currencies struct{ s module.Settings }

func (c currencies) Primary(ctx context.Context) (money.Currency, error) {
	st, err := c.s.Settings(ctx)
	if err != nil {
		return "", err
	}
	return st.Currency, nil
}
