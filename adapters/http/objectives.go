package http

import (
	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/commands"
	objectivecmd "github.com/atrium-platform/atrium/commands/objective"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/projections/objectivelist"
)

type objectiveBody struct {
	Assignee string      `json:"assignee"`
	Period   string      `json:"period"`
	Metric   string      `json:"metric"`
	Target   money.Money `json:"target"`
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

func (a *api) objectiveRoutes(v1 fiber.Router, reads func(fiber.Handler) []fiber.Handler) {
	h := a.deps.Objectives
	v1.Post("/objectives", command(a, "set_objective", fiber.StatusCreated, false,
		func(c *fiber.Ctx, req commands.Request, b objectiveBody) (commands.Result, error) {
			return h.Set(c.UserContext(), objectivecmd.SetObjective{Request: req, Assignee: b.Assignee, Period: b.Period, Metric: b.Metric, Target: b.Target})
		}))
	v1.Post("/objectives/:id/submit", command(a, "submit_objective", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Submit(c.UserContext(), req, c.Params("id"))
		}))
	v1.Post("/objectives/:id/validate", command(a, "validate_objective", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Validate(c.UserContext(), req, c.Params("id"))
		}))
	v1.Post("/objectives/:id/reject", command(a, "reject_objective", fiber.StatusOK, false,
		func(c *fiber.Ctx, req commands.Request, b reasonBody) (commands.Result, error) {
			return h.Reject(c.UserContext(), req, c.Params("id"), b.Reason)
		}))
	v1.Get("/objectives", reads(a.listObjectives)...)
}

func (a *api) listObjectives(c *fiber.Ctx) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	items, next, err := a.deps.ObjectiveQueries.List(c.UserContext(), objectivelist.Filter{
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
	return writeJSON(c, fiber.StatusOK, list(out, next))
}
