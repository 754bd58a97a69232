package http

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/commands"
	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/expenselist"
)

type expenseBody struct {
	Category    string      `json:"category"`
	Amount      money.Money `json:"amount"`
	SpentOn     string      `json:"spent_on"`
	Description string      `json:"description"`
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

func expenseViewOf(e expenselist.Expense) expenseView {
	return expenseView{ID: e.ID, Owner: e.Owner, Category: e.Category, Amount: e.Amount, SpentOn: e.SpentOn, Description: e.Description,
		Status: e.Status, HasReceipt: e.HasReceipt, DecidedBy: e.DecidedBy, Reason: e.Reason, Version: e.Version,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func (a *api) expenseRoutes(v1 fiber.Router, reads func(fiber.Handler) []fiber.Handler) {
	h := a.deps.Expenses
	v1.Post("/expenses", command(a, "create_expense", fiber.StatusCreated, false,
		func(c *fiber.Ctx, req commands.Request, b expenseBody) (commands.Result, error) {
			res, err := h.Create(c.UserContext(), expensecmd.CreateExpense{Request: req, Category: b.Category, Amount: b.Amount,
				SpentOn: b.SpentOn, Description: b.Description})
			if err == nil {
				c.Set(fiber.HeaderLocation, "/api/v1/expenses/"+res.ID)
			}
			return res, err
		}))
	v1.Put("/expenses/:id/receipt", a.putReceipt)
	v1.Get("/expenses/:id/receipt", a.getReceipt)
	v1.Post("/expenses/:id/submit", command(a, "submit_expense", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Submit(c.UserContext(), req, c.Params("id"))
		}))
	v1.Post("/expenses/:id/approve", command(a, "approve_expense", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Approve(c.UserContext(), req, c.Params("id"))
		}))
	v1.Post("/expenses/:id/reject", command(a, "reject_expense", fiber.StatusOK, false,
		func(c *fiber.Ctx, req commands.Request, b reasonBody) (commands.Result, error) {
			return h.Reject(c.UserContext(), req, c.Params("id"), b.Reason)
		}))
	v1.Post("/expenses/:id/reimburse", command(a, "reimburse_expense", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Reimburse(c.UserContext(), req, c.Params("id"))
		}))
	v1.Get("/expenses", reads(a.listExpenses)...)
	v1.Get("/expenses/totals", reads(a.expenseTotals)...)
	v1.Get("/expenses/:id", reads(a.getExpense)...)
}

// putReceipt takes the raw body as the receipt, typed by Content-Type.
func (a *api) putReceipt(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	body, err := readBody(c)
	if err != nil {
		return err
	}
	res, err := a.deps.Expenses.AttachReceipt(c.UserContext(), req, c.Params("id"), ct, body)
	return a.answer(c, "attach_receipt", fiber.StatusOK, res, err)
}

// getReceipt streams the receipt from the document store as the client
// reads it, within the tenant's stream slots.
func (a *api) getReceipt(c *fiber.Ctx) error {
	t, _ := tenant.From(c.UserContext())
	release, err := a.streams.take(t)
	if err != nil {
		return err
	}
	rc, obj, err := a.deps.Expenses.Receipt(c.UserContext(), c.Params("id"))
	if err != nil {
		release()
		return err
	}
	c.Set(fiber.HeaderContentType, obj.ContentType)
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="receipt"`)
	c.Status(fiber.StatusOK)
	// fasthttp closes the reader once the body is written, or the
	// connection gone: the slot is freed then.
	c.Context().SetBodyStream(releasingReader{ReadCloser: rc, release: release}, int(obj.Size))
	return nil
}

func (a *api) listExpenses(c *fiber.Ctx) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	items, next, err := a.deps.ExpenseQueries.List(c.UserContext(), expenselist.Filter{
		Status: c.Query("status"), Owner: c.Query("owner"), Limit: n, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	out := make([]expenseView, len(items))
	for i, e := range items {
		out[i] = expenseViewOf(e)
	}
	return writeJSON(c, fiber.StatusOK, list(out, next))
}

func (a *api) getExpense(c *fiber.Ctx) error {
	if raw := c.Query("as_of"); raw != "" {
		at, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
				Code: "invalid_request", Field: "as_of", Detail: "as_of must be an RFC 3339 time"}
		}
		s, v, err := a.deps.Expenses.AsOf(c.UserContext(), c.Params("id"), at)
		if err != nil {
			return err
		}
		_, hasReceipt := s.Receipt()
		by, reason := s.Decision()
		c.Set(fiber.HeaderETag, etag(uint64(v)))
		return writeJSON(c, fiber.StatusOK, expenseView{ID: s.ID(), Owner: s.Owner(), Category: s.Category(), Amount: s.Amount(),
			SpentOn: s.SpentOn(), Description: s.Description(), Status: string(s.Status()), HasReceipt: hasReceipt,
			DecidedBy: by, Reason: reason, Version: int64(v)})
	}
	e, err := a.deps.ExpenseQueries.Get(c.UserContext(), c.Params("id"))
	if errors.Is(err, projections.ErrNotFound) {
		return problem(fiber.StatusNotFound, "expense_not_found", "no such expense")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(uint64(e.Version)))
	return writeJSON(c, fiber.StatusOK, expenseViewOf(e))
}

type totalView struct {
	Month    string      `json:"month"`
	Category string      `json:"category,omitempty"`
	Employee string      `json:"employee,omitempty"`
	Amount   money.Money `json:"amount"`
	Expenses int         `json:"expenses"`
}

// expenseTotals answers monthly totals ?by=category (default) or employee.
func (a *api) expenseTotals(c *fiber.Ctx) error {
	by := c.Query("by", "category")
	totals, err := a.deps.ExpenseQueries.Totals(c.UserContext(), by)
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
	return writeJSON(c, fiber.StatusOK, list(out, ""))
}
