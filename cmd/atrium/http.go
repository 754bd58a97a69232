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
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/audit"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

func newHTTP(s *serveCmd, sys *system, log *slog.Logger) (*fiber.App, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return atriumhttp.New(atriumhttp.Config{ReadAfterMax: s.readAfterMax()}, atriumhttp.Deps{
		Invoices:       sys.invoices,
		InvoiceQueries: invoicelist.NewQueries(sys.reads, time.Now),
		Aging:          aging.NewQueries(sys.reads, time.Now),
		Audit:          audit.NewReader(sys.store),
		Progress:       sys.runner,
		Tenants:        atriumhttp.HeaderTenants{Known: sys.catalog.has},
		Auth:           atriumhttp.HeaderIdentity{},
		Ready: []atriumhttp.ReadyCheck{
			{Name: "nats", Check: func(context.Context) error {
				if st := sys.nc.Status(); st != nats.CONNECTED {
					return errors.New("nats connection " + st.String())
				}
				return nil
			}},
			{Name: "event_store", Check: func(ctx context.Context) error {
				_, err := sys.store.Tenants(ctx)
				return err
			}},
			{Name: "read_store", Check: func(ctx context.Context) error {
				ts := sys.catalog.list()
				if len(ts) == 0 {
					return nil
				}
				db, err := sys.reads.Open(tenant.With(ctx, ts[0]))
				if err != nil {
					return err
				}
				return db.PingContext(ctx)
			}},
		},
		Logger:  log,
		Metrics: reg,
	})
}
