package commissions

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	commissioncmd "github.com/atrium-platform/atrium/commands/commission"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/commissionlist"
)

// resource is /commissions.
type resource struct {
	commands    *commissioncmd.Handler
	commissions *commissionlist.Queries
}

func (r resource) mount(rt atriumhttp.Routes) {
	v1 := rt.Tenant()
	h := r.commands
	atriumhttp.Command(v1, fiber.MethodPut, "/commissions/plans/:user_id", fiber.StatusOK, h.SetPlan,
		func(c *fiber.Ctx, cmd *commissioncmd.SetPlan) { cmd.UserID = c.Params("user_id") }).
		Doc(atriumhttp.Doc{Summary: "Set a salesperson's commission plan"})
	atriumhttp.Command(v1, fiber.MethodPost, "/commissions/statements", fiber.StatusCreated, h.Freeze, nil).
		Doc(atriumhttp.Doc{Summary: "Freeze a salesperson's commissions of a period into a statement"})
	atriumhttp.Action(v1, fiber.MethodPost, "/commissions/statements/:id/approve", fiber.StatusOK, h.Approve,
		func(c *fiber.Ctx, cmd *commissioncmd.ApproveStatement) { cmd.StatementID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Approve a commission statement"})
	atriumhttp.Command(v1, fiber.MethodPost, "/commissions/statements/:id/reject", fiber.StatusOK, h.Reject,
		func(c *fiber.Ctx, cmd *commissioncmd.RejectStatement) { cmd.StatementID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Reject a commission statement, with a reason"})
	atriumhttp.Action(v1, fiber.MethodPost, "/commissions/statements/:id/pay", fiber.StatusOK, h.Pay,
		func(c *fiber.Ctx, cmd *commissioncmd.PayStatement) { cmd.StatementID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Record an approved statement as paid"})
	v1.Get("/commissions", r.list).Doc(atriumhttp.Doc{Summary: "Commissions accrued", Answer: atriumhttp.List([]commissionView(nil), ""), Query: []string{"period", "user_id", "status", "limit", "cursor"}})
	v1.Get("/commissions/plans/:user_id", r.plan).Doc(atriumhttp.Doc{Summary: "A salesperson's commission plan", Answer: planView{}})
	v1.Get("/commissions/statements/:id", r.statement).Doc(atriumhttp.Doc{Summary: "A commission statement", Answer: statementView{}})
}

type commissionView struct {
	UserID      string      `json:"user_id"`
	Period      string      `json:"period"`
	Collected   money.Money `json:"collected"`
	Commission  money.Money `json:"commission"`
	Status      string      `json:"status"`
	Accruals    int64       `json:"accruals"`
	StatementID string      `json:"statement_id,omitempty"`
}

func (r resource) list(c *fiber.Ctx) error {
	n, err := atriumhttp.Limit(c)
	if err != nil {
		return err
	}
	items, next, err := r.commissions.List(c.UserContext(), commissionlist.Filter{
		Period: c.Query("period"), UserID: c.Query("user_id"), Status: c.Query("status"), Limit: n, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	out := make([]commissionView, len(items))
	for i, it := range items {
		out[i] = commissionView{UserID: it.UserID, Period: it.Period, Collected: it.Collected, Commission: it.Commission,
			Status: it.Status, Accruals: it.Accruals, StatementID: it.StatementID}
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(out, next))
}

type planView struct {
	UserID string `json:"user_id"`
	commission.Plan
	Version int64     `json:"version"`
	SetBy   string    `json:"set_by"`
	SetAt   time.Time `json:"set_at"`
}

func (r resource) plan(c *fiber.Ctx) error {
	p, err := r.commissions.Plan(c.UserContext(), c.Params("user_id"))
	if errors.Is(err, projections.ErrNotFound) {
		return atriumhttp.NewProblem(fiber.StatusNotFound, "plan_not_found", "no commission plan for this user")
	}
	if err != nil {
		return err
	}
	atriumhttp.SetETag(c, uint64(p.Version))
	return atriumhttp.WriteJSON(c, fiber.StatusOK, planView{UserID: p.UserID, Plan: p.Plan, Version: p.Version, SetBy: p.SetBy, SetAt: p.SetAt})
}

type statementView struct {
	ID           string      `json:"id"`
	UserID       string      `json:"user_id"`
	Period       string      `json:"period"`
	Round        int         `json:"round"`
	Status       string      `json:"status"`
	Collected    money.Money `json:"collected"`
	Commission   money.Money `json:"commission"`
	PaidBefore   money.Money `json:"paid_before"`
	Payable      money.Money `json:"payable"`
	AsOfPosition int64       `json:"as_of_position"`
	FrozenBy     string      `json:"frozen_by"`
	FrozenAt     time.Time   `json:"frozen_at"`
	DecidedBy    string      `json:"decided_by,omitempty"`
	DecidedAt    *time.Time  `json:"decided_at,omitempty"`
	Reason       string      `json:"reason,omitempty"`
	PaidBy       string      `json:"paid_by,omitempty"`
	PaidAt       *time.Time  `json:"paid_at,omitempty"`
	Version      int64       `json:"version"`
}

func (r resource) statement(c *fiber.Ctx) error {
	s, err := r.commissions.Statement(c.UserContext(), c.Params("id"))
	if errors.Is(err, projections.ErrNotFound) {
		return atriumhttp.NewProblem(fiber.StatusNotFound, "statement_not_found", "no such statement")
	}
	if err != nil {
		return err
	}
	atriumhttp.SetETag(c, uint64(s.Version))
	return atriumhttp.WriteJSON(c, fiber.StatusOK, statementView{
		ID: s.ID, UserID: s.UserID, Period: s.Period, Round: s.Round, Status: s.Status, Collected: s.Collected,
		Commission: s.Commission, PaidBefore: s.PaidBefore, Payable: s.Payable, AsOfPosition: s.AsOfPosition,
		FrozenBy: s.FrozenBy, FrozenAt: s.FrozenAt, DecidedBy: s.DecidedBy, DecidedAt: s.DecidedAt, Reason: s.Reason,
		PaidBy: s.PaidBy, PaidAt: s.PaidAt, Version: s.Version,
	})
}
