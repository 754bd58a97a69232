// Package invoicing is the collections and finance module: invoices from
// draft to paid (commands/invoice), their list, the aging report and the
// client risk read models, the HTTP resources of /invoices and
// /collections, and the demo invoices.
package invoicing

import (
	"context"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/modules/module"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/clientrisk"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

// Module is invoicing.
func Module() module.Module {
	return module.Module{
		Name:       "invoicing",
		Events:     invoicecmd.Events(),
		Projectors: []projections.Projector{invoicelist.New(), aging.New(), clientrisk.New()},
		ERP:        []string{invoice.Category},
		Open:       open,
	}
}

func open(env module.Env) (module.Parts, error) {
	h := invoicecmd.NewHandler(env.Commands, policies{env.Settings}, env.Members, env.Now)
	r := resource{
		commands: h, history: audit.NewReader(env.Store), decode: env.Commands.Registry.Decode,
		invoices: invoicelist.NewQueries(env.Reads, env.Now), aging: aging.NewQueries(env.Reads, env.Now),
		clients: clientrisk.NewQueries(env.Reads, env.Now),
	}
	in := inbound{pay: h.Pay, invoices: r.invoices}
	return module.Parts{Routes: func(rt atriumhttp.Routes) { r.mount(rt) }, Seed: seeder{h}.seed,
		Inbound: map[string]erpcmd.Inbound{"payment.received": in.paymentReceived}}, nil
}

// policies answers the invoice commands from the tenant's settings: for
// every currency the tenant accepts, its validation threshold. A currency
// without a whole policy is left out, so invoices in it are refused.
type policies struct{ s module.Settings }

func (p policies) InvoicePolicy(ctx context.Context) (invoice.Policy, error) {
	st, err := p.s.Settings(ctx)
	if err != nil {
		return invoice.Policy{}, err
	}
	out := invoice.Policy{Thresholds: map[money.Currency]money.Money{}}
	for _, c := range st.Accepted() {
		if cp, ok := st.PolicyIn(c); ok {
			out.Thresholds[c] = cp.InvoiceValidationThreshold
		}
	}
	return out, nil
}
