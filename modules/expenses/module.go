// Package expenses is the human resources module: expense claims with their
// receipts (commands/expense), the claims read model with monthly totals,
// the HTTP resources of /expenses, and the demo claims.
package expenses

import (
	"context"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/modules/module"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/expenselist"
)

// Module is expenses.
func Module() module.Module {
	return module.Module{
		Name:       "expenses",
		Events:     expensecmd.Events(),
		Projectors: []projections.Projector{expenselist.New()},
		ERP:        []string{expense.Category},
		Open:       open,
	}
}

func open(env module.Env) (module.Parts, error) {
	h := expensecmd.NewHandler(env.Commands, env.Documents, policies{env.Settings}, env.Now)
	r := resource{commands: h, claims: expenselist.NewQueries(env.Reads)}
	return module.Parts{Routes: func(rt atriumhttp.Routes) { r.mount(rt) }, Seed: seeder{h}.seed}, nil
}

// policies answers the expense commands from the tenant's settings: for
// every currency the tenant accepts, its receipt threshold and ceilings. A
// currency without a whole policy is left out, so claims in it are refused.
type policies struct{ s module.Settings }

func (p policies) ExpensePolicy(ctx context.Context) (expense.Policy, error) {
	st, err := p.s.Settings(ctx)
	if err != nil {
		return expense.Policy{}, err
	}
	out := expense.Policy{Categories: st.ExpensePolicy.Categories, MaxReceiptBytes: st.ExpensePolicy.MaxReceiptBytes,
		Limits: map[money.Currency]expense.Limits{}}
	for _, c := range st.Accepted() {
		if cp, ok := st.PolicyIn(c); ok {
			out.Limits[c] = expense.Limits{ReceiptRequiredAbove: cp.ReceiptRequiredAbove, CategoryCeilings: cp.CategoryCeilings}
		}
	}
	return out, nil
}
