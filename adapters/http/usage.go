package http

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/domain/user"
)

// Usage is a tenant's metered usage, day by day: GET /api/v1/usage (its
// admins) and GET /admin/v1/tenants/{slug}/usage (the platform).
type Usage struct {
	// Days is the ctx tenant's usage of the days from..to (YYYY-MM-DD,
	// both included) it did something on, in order.
	Days func(ctx context.Context, from, to string) ([]usage.Record, error)
}

// MaxUsageDays bounds the days one usage query covers.
const MaxUsageDays = 366

type usageRoutes struct {
	*api
	res Usage
}

type usageView struct {
	Tenant string         `json:"tenant"`
	From   string         `json:"from"`
	To     string         `json:"to"`
	Days   []usage.Record `json:"days"`
}

// Mount implements Resource.
func (res Usage) Mount(r Routes) {
	a := usageRoutes{api: r.a, res: res}
	q := []string{"from", "to"}
	r.Tenant().Get("/usage", a.tenant).Doc(Doc{Summary: "The tenant's usage, day by day (UTC; admin): from the first of the month to today unless from and to say", Answer: usageView{}, Query: q})
	r.Platform().Get("/tenants/:slug/usage", a.platform).Doc(Doc{Summary: "A tenant's usage, day by day (UTC)", Answer: usageView{}, Query: q})
}

func (a usageRoutes) tenant(c *fiber.Ctx) error {
	p, err := user.From(c.UserContext())
	if err != nil {
		return err
	}
	if !p.Has(user.Admin) {
		return domain.Forbiddenf("only the tenant's admins read its usage")
	}
	t, err := tenant.From(c.UserContext())
	if err != nil {
		return err
	}
	return a.answer(c, c.UserContext(), t)
}

func (a usageRoutes) platform(c *fiber.Ctx) error {
	t, err := a.slugTenant(c)
	if err != nil {
		return err
	}
	return a.answer(c, tenant.With(c.UserContext(), t), t)
}

func (a usageRoutes) answer(c *fiber.Ctx, ctx context.Context, t tenant.ID) error {
	from, to, err := usageRange(c.Query("from"), c.Query("to"), a.cfg.Now())
	if err != nil {
		return err
	}
	days, err := a.res.Days(ctx, from, to)
	if err != nil {
		return err
	}
	if days == nil {
		days = []usage.Record{}
	}
	return WriteJSON(c, fiber.StatusOK, usageView{Tenant: string(t), From: from, To: to, Days: days})
}

// usageRange checks a query's days: from the first of this month and to
// today (UTC) when left out, from no later than to, at most MaxUsageDays.
func usageRange(from, to string, now time.Time) (string, string, error) {
	now = now.UTC()
	if to == "" {
		to = usage.Day(now)
	}
	if from == "" {
		from = usage.Day(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC))
	}
	f, err := usage.ParseDay(from)
	if err != nil {
		return "", "", rangeProblem("from", "from must be a day, YYYY-MM-DD")
	}
	t, err := usage.ParseDay(to)
	if err != nil {
		return "", "", rangeProblem("to", "to must be a day, YYYY-MM-DD")
	}
	if t.Before(f) {
		return "", "", rangeProblem("to", "to must not be before from")
	}
	if t.Sub(f) >= MaxUsageDays*24*time.Hour {
		return "", "", rangeProblem("to", "a query covers at most 366 days")
	}
	return from, to, nil
}

func rangeProblem(field, detail string) *Problem {
	p := NewProblem(fiber.StatusBadRequest, "invalid_range", detail)
	p.Field = field
	return p
}
