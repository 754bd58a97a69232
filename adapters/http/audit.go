package http

import (
	"bufio"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections"
)

// Audit is the auditors' resource: a tenant's whole event log, in pages or
// as NDJSON (/api/v1/audit/events).
type Audit struct {
	Reader *audit.Reader
}

type auditRoutes struct {
	*api
	res Audit
}

// Mount implements Resource.
func (res Audit) Mount(r Routes) {
	a := auditRoutes{api: r.a, res: res}
	r.Tenant().Get("/audit/events", a.events).Doc(Doc{Summary: "The tenant's events in order (auditor, admin); NDJSON, followed live, with Accept: application/x-ndjson",
		Answer: List([]audit.Event(nil), ""), Media: "application/x-ndjson", Query: []string{"after", "cursor", "limit"}})
}

func (a auditRoutes) events(c *fiber.Ctx) error {
	ctx := c.UserContext()
	after, err := auditAfter(c)
	if err != nil {
		return err
	}
	if strings.Contains(c.Get(fiber.HeaderAccept), "application/x-ndjson") {
		return a.stream(c, after)
	}
	n, err := Limit(c)
	if err != nil {
		return err
	}
	evs, err := a.res.Reader.Events(ctx, parsePos(after), n)
	if err != nil {
		return err
	}
	next := ""
	if len(evs) == n {
		next = strconv.FormatUint(evs[len(evs)-1].Position, 10)
	}
	return WriteJSON(c, fiber.StatusOK, List(evs, next))
}

// auditAfter reads where an audit read starts: ?after=<position>, or
// ?cursor=, the next_cursor of the previous page, which is the same.
func auditAfter(c *fiber.Ctx) (uint64, error) {
	after, cursor := c.Query("after"), c.Query("cursor")
	var n uint64
	if after != "" {
		v, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return 0, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
				Code: "invalid_request", Field: "after", Detail: "after must be a position, a non-negative integer"}
		}
		n = v
	}
	if cursor != "" {
		v, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return 0, projections.ErrBadCursor
		}
		if after != "" && v != n {
			return 0, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
				Code: "invalid_request", Field: "cursor", Detail: "give after or cursor, not two different starts"}
		}
		n = v
	}
	return n, nil
}

// auditStream answers the whole log after a position as NDJSON, one event a
// line, read page by page as it is written out.
//
// The stream takes one of the tenant's stream slots until it ends, and it
// reads and writes in turns on the tenant's share of the work, as requests
// do, so streams never crowd out other tenants.
func (a auditRoutes) stream(c *fiber.Ctx, after uint64) error {
	ctx := c.UserContext()
	// Check access before the status line goes out.
	if _, err := a.res.Reader.Events(ctx, parsePos(after), 1); err != nil {
		return err
	}
	tn, _ := tenant.From(ctx)
	release, err := a.streams.take(tn)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	corr, _ := ctx.Value(keyCorrelation).(string)
	// The writer runs after the handler has returned, out of reach of the
	// middleware: it recovers and logs on its own.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		defer func() {
			if r := recover(); r != nil {
				a.deps.Logger.Error("audit stream failed", "err", fmt.Sprintf("panic: %v", r), "stack", string(debug.Stack()),
					"tenant", string(tn), "correlation_id", corr)
			}
		}()
		done, err := a.admit.gate.Wait(ctx, string(tn))
		if err != nil {
			return
		}
		defer func() { done() }()
		n := 0
		err = a.res.Reader.Stream(ctx, parsePos(after), func(e audit.Event) error {
			b, err := jsonMarshal(e)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
			if n++; n%100 != 0 {
				return nil
			}
			// Every 100 events: written out, and the turn handed on.
			done()
			if err := w.Flush(); err != nil {
				done = func() {}
				return err
			}
			next, err := a.admit.gate.Wait(ctx, string(tn))
			if err != nil {
				done = func() {}
				return err
			}
			done = next
			return nil
		})
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			a.deps.Logger.Warn("audit stream ended early", "err", err, "tenant", string(tn), "correlation_id", corr)
		}
	})
	return nil
}
