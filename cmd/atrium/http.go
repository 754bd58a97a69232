package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/stack"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/audit"
	"github.com/atrium-platform/atrium/projections/clientrisk"
	"github.com/atrium-platform/atrium/projections/expenselist"
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/projections/memberlist"
	"github.com/atrium-platform/atrium/projections/objectivelist"
)

// newHTTP builds the API over a stack, as serve runs it.
func newHTTP(cfg atriumhttp.Config, baseDomain string, st *stack.Stack, log *slog.Logger) (*fiber.App, error) {
	cfg.Admission = atriumhttp.Admission{Gate: st.Work, Limits: st.Limits}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return atriumhttp.New(cfg, atriumhttp.Deps{
		Invoices:         st.Invoices,
		Tenancy:          st.Tenancy,
		Catalog:          st.Catalog,
		Rebuild:          st.Rebuild,
		InvoiceQueries:   invoicelist.NewQueries(st.Reads, time.Now),
		Aging:            aging.NewQueries(st.Reads, time.Now),
		ClientRisk:       clientrisk.NewQueries(st.Reads, time.Now),
		Audit:            audit.NewReader(st.Store),
		Progress:         st.Runner,
		Tenants:          atriumhttp.HostTenants{BaseDomain: baseDomain, Catalog: st.Catalog},
		Auth:             atriumhttp.BearerAuth{Issuer: st.Issuer, Identity: st.Identity},
		Identity:         st.Identity,
		Expenses:         st.Expenses,
		ExpenseQueries:   expenselist.NewQueries(st.Reads),
		Objectives:       st.Objectives,
		ObjectiveQueries: objectivelist.NewQueries(st.Reads),
		Members:          memberlist.NewQueries(st.Reads),
		Issuer:           st.Issuer,
		Ready: []atriumhttp.ReadyCheck{
			{Name: "nats", Check: func(context.Context) error {
				if status := st.NC.Status(); status != nats.CONNECTED {
					return errors.New("nats connection " + status.String())
				}
				return nil
			}},
			{Name: "event_store", Check: func(ctx context.Context) error {
				_, err := st.Store.Head(tenant.With(ctx, tenant.Platform))
				return err
			}},
			{Name: "read_store", Check: func(ctx context.Context) error {
				ts := st.Catalog.List()
				if len(ts) == 0 {
					return nil
				}
				db, err := st.Reads.Open(tenant.With(ctx, ts[0].ID))
				if err != nil {
					return err
				}
				defer db.Release()
				return db.PingContext(ctx)
			}},
		},
		Logger:  log,
		Metrics: reg,
	})
}
