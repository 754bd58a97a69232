// Package objectives is the commercial module: revenue objectives per
// salesperson and quarter (commands/objective), their progress derived from
// the invoice payments credited to the salesperson (a read model across
// domains), the HTTP resources of /objectives, and the demo objectives.
package objectives

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	objectivecmd "github.com/atrium-platform/atrium/commands/objective"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules/module"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/objectivelist"
)

// Module is objectives.
func Module() module.Module {
	return module.Module{
		Name:       "objectives",
		Events:     objectivecmd.Events(),
		Projectors: []projections.Projector{objectivelist.New()},
		ERP:        []string{objective.Category},
		Open:       open,
	}
}

func open(env module.Env) (module.Parts, error) {
	h := objectivecmd.NewHandler(env.Commands, currencies{env.Settings}, env.Members, env.Now)
	r := resource{commands: h, objectives: objectivelist.NewQueries(env.Reads)}
	return module.Parts{Routes: func(rt atriumhttp.Routes) { r.mount(rt) }, Seed: seeder{h}.seed}, nil
}

// currencies answers the objective commands from the tenant's settings:
// the currencies it accepts with a whole policy.
type currencies struct{ s module.Settings }

func (c currencies) Currencies(ctx context.Context) ([]money.Currency, error) {
	st, err := c.s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	var out []money.Currency
	for _, cur := range st.Accepted() {
		if _, ok := st.PolicyIn(cur); ok {
			out = append(out, cur)
		}
	}
	return out, nil
}

// resource is /objectives.
type resource struct {
	commands   *objectivecmd.Handler
	objectives *objectivelist.Queries
}

func (r resource) mount(rt atriumhttp.Routes) {
	v1 := rt.Tenant()
	h := r.commands
	atriumhttp.Command(v1, fiber.MethodPost, "/objectives", fiber.StatusCreated, h.Set, nil).
		Doc(atriumhttp.Doc{Summary: "Set an objective for a member and a period"})
	atriumhttp.Action(v1, fiber.MethodPost, "/objectives/:id/submit", fiber.StatusOK, h.Submit,
		func(c *fiber.Ctx, cmd *objectivecmd.SubmitObjective) { cmd.ObjectiveID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Submit an objective for validation"})
	atriumhttp.Action(v1, fiber.MethodPost, "/objectives/:id/validate", fiber.StatusOK, h.Validate,
		func(c *fiber.Ctx, cmd *objectivecmd.ValidateObjective) { cmd.ObjectiveID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Validate a submitted objective"})
	atriumhttp.Command(v1, fiber.MethodPost, "/objectives/:id/reject", fiber.StatusOK, h.Reject,
		func(c *fiber.Ctx, cmd *objectivecmd.RejectObjective) { cmd.ObjectiveID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Reject a submitted objective, with a reason"})
	v1.Get("/objectives", r.list).Doc(atriumhttp.Doc{Summary: "Objectives with their progress", Answer: atriumhttp.List([]objectiveView(nil), ""), Query: []string{"period", "assignee", "limit", "cursor"}})
}

type objectiveView struct {
	ID            string      `json:"id"`
	Assignee      string      `json:"assignee"`
	Period        string      `json:"period"`
	Metric        string      `json:"metric"`
	Target        money.Money `json:"target"`
	Progress      money.Money `json:"progress"`
	AchievedRatio float64     `json:"achieved_ratio"`
	Status        string      `json:"status"`
	Reason        string      `json:"reason,omitempty"`
	Version       int64       `json:"version"`
}

func (r resource) list(c *fiber.Ctx) error {
	n, err := atriumhttp.Limit(c)
	if err != nil {
		return err
	}
	items, next, err := r.objectives.List(c.UserContext(), objectivelist.Filter{
		Period: c.Query("period"), Assignee: c.Query("assignee"), Limit: n, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	out := make([]objectiveView, len(items))
	for i, o := range items {
		out[i] = objectiveView{ID: o.ID, Assignee: o.Assignee, Period: o.Period, Metric: o.Metric, Target: o.Target,
			Progress: o.Progress, AchievedRatio: o.AchievedRatio, Status: o.Status, Reason: o.Reason, Version: o.Version}
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(out, next))
}

type seeder struct{ h *objectivecmd.Handler }

// seed sets last quarter's objective (submitted and validated) and this
// quarter's (open, its progress from this quarter's payments).
func (s seeder) seed(ctx context.Context, demo module.Demo) error {
	h := s.h
	mgr := demo.As(ctx, user.Manager)
	rep := string(demo.Members[user.Sales])
	last, err := h.Set(mgr, objectivecmd.SetObjective{Assignee: rep, Period: quarterOf(demo.Today.AddDate(0, -3, 0)), Metric: "revenue",
		Target: money.New(500_000, "EUR")})
	if err == nil {
		_, err = h.Submit(demo.As(ctx, user.Sales), objectivecmd.SubmitObjective{ObjectiveID: last.ID})
	}
	if err == nil {
		_, err = h.Validate(mgr, objectivecmd.ValidateObjective{ObjectiveID: last.ID})
	}
	if err == nil {
		_, err = h.Set(mgr, objectivecmd.SetObjective{Assignee: rep, Period: quarterOf(demo.Today), Metric: "revenue",
			Target: money.New(1_000_000, "EUR")})
	}
	if err != nil {
		return fmt.Errorf("demo objectives: %w", err)
	}
	return nil
}

func quarterOf(t time.Time) string {
	return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
}
