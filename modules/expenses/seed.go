package expenses

import (
	"context"
	"fmt"
	"time"

	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules/module"
)

type seeder struct{ h *expensecmd.Handler }

// demoReceipt is a receipt's bytes: a PDF's first line is enough for the
// checks.
var demoReceipt = []byte("%PDF-1.4\n% demo receipt\n")

// seed walks claims through their states: reimbursed with its receipt,
// waiting in the managers' queue, rejected, a draft.
func (s seeder) seed(ctx context.Context, demo module.Demo) error {
	h := s.h
	emp, mgr, fin := demo.As(ctx, user.Employee), demo.As(ctx, user.Manager), demo.As(ctx, user.Finance)
	day := demo.Today.AddDate(0, 0, -3).Format(time.DateOnly)
	claim := func(category string, amount int64, description string) (string, error) {
		r, err := h.Create(emp, expensecmd.CreateExpense{Category: category, Amount: money.New(amount, "EUR"), SpentOn: day, Description: description})
		return r.ID, err
	}
	steps := []func() error{
		func() error { // reimbursed, with its receipt
			id, err := claim("meals", 6_800, "Lunch with Northwind")
			if err == nil {
				_, err = h.AttachReceipt(emp, expensecmd.AttachReceipt{ExpenseID: id, ContentType: "application/pdf", Body: demoReceipt})
			}
			if err == nil {
				_, err = h.Submit(emp, expensecmd.SubmitExpense{ExpenseID: id})
			}
			if err == nil {
				_, err = h.Approve(mgr, expensecmd.ApproveExpense{ExpenseID: id})
			}
			if err == nil {
				_, err = h.Reimburse(fin, expensecmd.ReimburseExpense{ExpenseID: id})
			}
			return err
		},
		func() error { // waiting in the managers' queue
			id, err := claim("travel", 2_400, "Taxi to the airport")
			if err == nil {
				_, err = h.Submit(emp, expensecmd.SubmitExpense{ExpenseID: id})
			}
			return err
		},
		func() error { // rejected
			id, err := claim("supplies", 1_900, "Desk lamp")
			if err == nil {
				_, err = h.Submit(emp, expensecmd.SubmitExpense{ExpenseID: id})
			}
			if err == nil {
				_, err = h.Reject(mgr, expensecmd.RejectExpense{ExpenseID: id, Reason: "Bought through purchasing instead"})
			}
			return err
		},
		func() error { _, err := claim("training", 15_000, "Conference ticket"); return err }, // a draft
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("demo claim %d: %w", i, err)
		}
	}
	return nil
}
