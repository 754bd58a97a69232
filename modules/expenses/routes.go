package expenses

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/expenselist"
)

// resource is /expenses.
type resource struct {
	commands *expensecmd.Handler
	claims   *expenselist.Queries
}

func (r resource) mount(rt atriumhttp.Routes) {
	v1 := rt.Tenant()
	h := r.commands
	byID := func(field *string) func(c *fiber.Ctx) { return func(c *fiber.Ctx) { *field = c.Params("id") } }
	atriumhttp.Command(v1, fiber.MethodPost, "/expenses", fiber.StatusCreated, h.Create, nil).
		Doc(atriumhttp.Doc{Summary: "Draft an expense claim"})
	v1.Put("/expenses/:id/receipt", r.putReceipt).Doc(atriumhttp.Doc{Summary: "Attach a receipt (the body is the file: PDF, PNG, JPEG or WebP)", Answer: atriumhttp.CommandResult, Options: true, BodyMedia: "application/octet-stream"})
	v1.Download("/expenses/:id/receipt", "receipt", func(c *fiber.Ctx) (io.ReadCloser, documents.Object, error) {
		return h.Receipt(c.UserContext(), c.Params("id"))
	})
	atriumhttp.Action(v1, fiber.MethodPost, "/expenses/:id/submit", fiber.StatusOK, h.Submit,
		func(c *fiber.Ctx, cmd *expensecmd.SubmitExpense) { byID(&cmd.ExpenseID)(c) }).
		Doc(atriumhttp.Doc{Summary: "Submit a claim for approval (checked against the tenant's expense policy)"})
	atriumhttp.Action(v1, fiber.MethodPost, "/expenses/:id/approve", fiber.StatusOK, h.Approve,
		func(c *fiber.Ctx, cmd *expensecmd.ApproveExpense) { byID(&cmd.ExpenseID)(c) }).
		Doc(atriumhttp.Doc{Summary: "Approve a submitted claim"})
	atriumhttp.Command(v1, fiber.MethodPost, "/expenses/:id/reject", fiber.StatusOK, h.Reject,
		func(c *fiber.Ctx, cmd *expensecmd.RejectExpense) { byID(&cmd.ExpenseID)(c) }).
		Doc(atriumhttp.Doc{Summary: "Reject a submitted claim, with a reason"})
	atriumhttp.Action(v1, fiber.MethodPost, "/expenses/:id/reimburse", fiber.StatusOK, h.Reimburse,
		func(c *fiber.Ctx, cmd *expensecmd.ReimburseExpense) { byID(&cmd.ExpenseID)(c) }).
		Doc(atriumhttp.Doc{Summary: "Record an approved claim as reimbursed"})
	v1.Get("/expenses", r.list).Doc(atriumhttp.Doc{Summary: "The expenses", Answer: atriumhttp.List([]expenseView(nil), ""), Query: []string{"status", "owner", "limit", "cursor"}})
	v1.Get("/expenses/totals", r.totals).Doc(atriumhttp.Doc{Summary: "Expense totals by category and currency", Answer: atriumhttp.List([]totalView(nil), ""), Query: []string{"by"}})
	v1.Get("/expenses/:id", r.get).Doc(atriumhttp.Doc{Summary: "An expense; with as_of, as it stood then", Answer: expenseView{}, Query: []string{"as_of"}})
}

// putReceipt takes the raw body as the receipt, typed by Content-Type.
func (r resource) putReceipt(c *fiber.Ctx) error {
	req, err := atriumhttp.Options(c)
	if err != nil {
		return err
	}
	body, err := atriumhttp.Body(c)
	if err != nil {
		return err
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	res, err := r.commands.AttachReceipt(c.UserContext(), expensecmd.AttachReceipt{Request: req, ExpenseID: c.Params("id"), ContentType: ct, Body: body})
	if err != nil {
		return err
	}
	return atriumhttp.Answer(c, fiber.StatusOK, res)
}

type expenseView struct {
	ID          string      `json:"id"`
	Owner       string      `json:"owner"`
	Category    string      `json:"category"`
	Amount      money.Money `json:"amount"`
	SpentOn     string      `json:"spent_on"`
	Description string      `json:"description"`
	Status      string      `json:"status"`
	HasReceipt  bool        `json:"has_receipt"`
	DecidedBy   string      `json:"decided_by,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	Version     int64       `json:"version"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

func viewOf(e expenselist.Expense) expenseView {
	return expenseView{ID: e.ID, Owner: e.Owner, Category: e.Category, Amount: e.Amount, SpentOn: e.SpentOn, Description: e.Description,
		Status: e.Status, HasReceipt: e.HasReceipt, DecidedBy: e.DecidedBy, Reason: e.Reason, Version: e.Version,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func (r resource) list(c *fiber.Ctx) error {
	n, err := atriumhttp.Limit(c)
	if err != nil {
		return err
	}
	items, next, err := r.claims.List(c.UserContext(), expenselist.Filter{
		Status: c.Query("status"), Owner: c.Query("owner"), Limit: n, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	out := make([]expenseView, len(items))
	for i, e := range items {
		out[i] = viewOf(e)
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(out, next))
}

func (r resource) get(c *fiber.Ctx) error {
	at, asOf, err := atriumhttp.AsOf(c)
	if err != nil {
		return err
	}
	if asOf {
		s, v, err := r.commands.AsOf(c.UserContext(), c.Params("id"), at)
		if err != nil {
			return err
		}
		_, hasReceipt := s.Receipt()
		by, reason := s.Decision()
		atriumhttp.SetETag(c, uint64(v))
		return atriumhttp.WriteJSON(c, fiber.StatusOK, expenseView{ID: s.ID(), Owner: s.Owner(), Category: s.Category(), Amount: s.Amount(),
			SpentOn: s.SpentOn(), Description: s.Description(), Status: string(s.Status()), HasReceipt: hasReceipt,
			DecidedBy: by, Reason: reason, Version: int64(v)})
	}
	e, err := r.claims.Get(c.UserContext(), c.Params("id"))
	if errors.Is(err, projections.ErrNotFound) {
		return atriumhttp.NewProblem(fiber.StatusNotFound, "expense_not_found", "no such expense")
	}
	if err != nil {
		return err
	}
	atriumhttp.SetETag(c, uint64(e.Version))
	return atriumhttp.WriteJSON(c, fiber.StatusOK, viewOf(e))
}

type totalView struct {
	Month    string      `json:"month"`
	Category string      `json:"category,omitempty"`
	Employee string      `json:"employee,omitempty"`
	Amount   money.Money `json:"amount"`
	Expenses int         `json:"expenses"`
}

// totals answers monthly totals ?by=category (default) or employee.
func (r resource) totals(c *fiber.Ctx) error {
	by := c.Query("by", "category")
	totals, err := r.claims.Totals(c.UserContext(), by)
	if err != nil {
		return err
	}
	out := make([]totalView, len(totals))
	for i, t := range totals {
		out[i] = totalView{Month: t.Month, Amount: t.Amount, Expenses: t.Expenses}
		if by == "employee" {
			out[i].Employee = t.Key
		} else {
			out[i].Category = t.Key
		}
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(out, ""))
}
