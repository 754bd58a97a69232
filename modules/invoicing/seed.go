package invoicing

import (
	"context"
	"fmt"
	"time"

	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules/module"
)

type seeder struct{ h *invoicecmd.Handler }

// demoClients are a demo tenant's clients.
func demoClients(demo module.Demo) []invoicecmd.Client {
	if demo.Tenant == "globex" {
		return []invoicecmd.Client{{ID: "G-2001", Name: "Initech"}, {ID: "G-2002", Name: "Umbrella Corp"}}
	}
	return []invoicecmd.Client{{ID: "C-1001", Name: "Northwind Traders"}, {ID: "C-1002", Name: "Contoso Ltd"}, {ID: "C-1003", Name: "Fabrikam Inc"}}
}

// seed walks invoices through every state: drafts, issued and not yet due,
// overdue and partly paid, paid, approved after validation, pending
// validation, rejected, cancelled.
func (s seeder) seed(ctx context.Context, demo module.Demo) error {
	h := s.h
	fin, mgr := demo.As(ctx, user.Finance), demo.As(ctx, user.Manager)
	day := func(days int) string { return demo.Today.AddDate(0, 0, days).Format(time.DateOnly) }
	create := func(c invoicecmd.Client, days int, qty, price int64) (string, error) {
		r, err := h.Create(fin, invoicecmd.CreateInvoice{
			Client: c, Currency: "EUR", DueDate: day(days), SalesRep: string(demo.Members[user.Sales]),
			Lines: []invoicecmd.Line{
				{Description: "Consulting days", Quantity: qty, UnitPrice: money.New(price, "EUR")},
				{Description: "Travel", Quantity: 1, UnitPrice: money.New(25_000, "EUR")},
			},
		})
		return r.ID, err
	}
	issue := func(id string) error {
		_, err := h.Issue(fin, invoicecmd.IssueInvoice{InvoiceID: id})
		return err
	}
	pay := func(id string, amount int64) error {
		_, err := h.Pay(fin, invoicecmd.RecordPayment{InvoiceID: id, Amount: money.New(amount, "EUR"),
			PaidAt: demo.Today.Format(time.RFC3339), Reference: "bank transfer"})
		return err
	}
	issued := func(c invoicecmd.Client, days int, qty, price int64) (string, error) {
		id, err := create(c, days, qty, price)
		if err != nil {
			return "", err
		}
		return id, issue(id)
	}
	clients := demoClients(demo)
	var steps []func() error
	for i, c := range clients {
		steps = append(steps,
			func() error { _, err := create(c, 30, 2+int64(i), 80_000); return err }, // a draft
			func() error { _, err := issued(c, 20, 3, 90_000); return err },          // issued, not yet due
			func() error { // overdue by about 45 days, partly paid
				id, err := issued(c, -45, 4, 60_000)
				if err != nil {
					return err
				}
				return pay(id, 100_000)
			},
			func() error { // paid
				id, err := issued(c, 10, 1, 50_000)
				if err != nil {
					return err
				}
				return pay(id, 75_000)
			},
		)
	}
	steps = append(steps,
		func() error { // pending validation, then approved by a manager
			id, err := issued(clients[0], 60, 20, 100_000)
			if err != nil {
				return err
			}
			_, err = h.Approve(mgr, invoicecmd.ApproveInvoice{InvoiceID: id})
			return err
		},
		func() error { _, err := issued(clients[1], 60, 15, 100_000); return err }, // pending validation
		func() error { // rejected
			id, err := issued(clients[1], 60, 30, 100_000)
			if err != nil {
				return err
			}
			_, err = h.Reject(mgr, invoicecmd.RejectInvoice{InvoiceID: id, Reason: "Rates not agreed with the client"})
			return err
		},
		func() error { // cancelled
			id, err := create(clients[0], 30, 1, 10_000)
			if err != nil {
				return err
			}
			_, err = h.Cancel(fin, invoicecmd.CancelInvoice{InvoiceID: id, Reason: "Duplicate of an earlier invoice"})
			return err
		},
	)
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("demo invoice %d: %w", i, err)
		}
	}
	return nil
}
