package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/auditchain"
)

// Audit is the auditors' resource: a tenant's whole event log, in pages or
// as NDJSON (/api/v1/audit/events), its check against its hash chain
// (/api/v1/audit/verify) and its export with the chain's links
// (/api/v1/audit/export).
type Audit struct {
	Reader   *audit.Reader
	Verifier *audit.Verifier
	// Replay writes at path a SQLite database of every read table of the
	// ctx tenant as it stood at asOf, rebuilt from its events; nil: not
	// available.
	Replay func(ctx context.Context, asOf time.Time, path string) (int, error)
}

type auditRoutes struct {
	*api
	res Audit
	// replays bounds the replays running at once, all tenants: each
	// rebuilds read models from the whole log, a core's work; replaying
	// holds the tenants with one running, one each.
	replays   chan struct{}
	replaying *sync.Map
}

// Mount implements Resource.
func (res Audit) Mount(r Routes) {
	a := auditRoutes{api: r.a, res: res, replays: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)), replaying: &sync.Map{}}
	r.Tenant().Get("/audit/events", a.events).Doc(Doc{Summary: "The tenant's events in order (auditor, admin); NDJSON, followed live, with Accept: application/x-ndjson",
		Answer: List([]audit.Event(nil), ""), Media: "application/x-ndjson", Query: []string{"after", "cursor", "limit"}})
	r.Tenant().Get("/audit/verify", a.verify).Doc(Doc{Summary: "Check the tenant's log against its hash chain (auditor, admin): the first position where they disagree",
		Answer: auditchain.Check{}})
	r.Tenant().Download("/audit/replay", "replay.sqlite", a.replay).Doc(Doc{Summary: "A SQLite database of every read table of the tenant as it stood at as_of (RFC 3339), rebuilt from its events (auditor, admin)",
		Media: "application/vnd.sqlite3", Query: []string{"as_of"}})
	r.Tenant().Get("/audit/export", a.export).Doc(Doc{Summary: "The tenant's log recorded between from and to, with each event's link of the hash chain, after a header line (auditor, admin); NDJSON",
		Media: "application/x-ndjson", Query: []string{"from", "to"}})
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

// stream answers the whole log after a position as NDJSON, one event a
// line, read page by page as it is written out.
func (a auditRoutes) stream(c *fiber.Ctx, after uint64) error {
	ctx := c.UserContext()
	// Check access before the status line goes out, and a position given
	// (a store may refuse one that is no event's: 400, not a cut stream).
	if err := audit.Allow(ctx); err != nil {
		return err
	}
	if after > 0 {
		if _, err := a.res.Reader.Events(ctx, parsePos(after), 1); err != nil {
			return err
		}
	}
	return a.ndjson(c, "audit stream", func(write func(any) error) error {
		return a.res.Reader.Stream(ctx, parsePos(after), func(e audit.Event) error { return write(e) })
	})
}

// ndjson answers 200 with what produce writes, a JSON value a line.
//
// The answer takes one of the tenant's stream slots until it ends, and it
// reads and writes in turns on the tenant's share of the work, as requests
// do, so long answers never crowd out other tenants.
func (a auditRoutes) ndjson(c *fiber.Ctx, what string, produce func(write func(any) error) error) error {
	ctx := c.UserContext()
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
				a.deps.Logger.Error(what+" failed", "err", fmt.Sprintf("panic: %v", r), "stack", string(debug.Stack()),
					"tenant", string(tn), "correlation_id", corr)
			}
		}()
		done, err := a.admit.gate.Wait(ctx, string(tn))
		if err != nil {
			return
		}
		defer func() { done() }()
		n := 0
		err = produce(func(v any) error {
			b, err := jsonMarshal(v)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
			if n++; n%100 != 0 {
				return nil
			}
			// Every 100 lines: written out, and the turn handed on.
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
			a.deps.Logger.Warn(what+" ended early", "err", err, "tenant", string(tn), "correlation_id", corr)
		}
	})
	return nil
}

// verifyBudget bounds a check of a log within a request (the server writes
// an answer within 60 s): a longer log is exported and checked offline.
const verifyBudget = 45 * time.Second

// verify recomputes the tenant's hash chain from its log (CONTRACT.md
// section 9). It reads the whole log: one of the tenant's stream slots
// bounds how many run at once.
func (a auditRoutes) verify(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := audit.Allow(ctx); err != nil { // access, before the work
		return err
	}
	tn, _ := tenant.From(ctx)
	release, err := a.streams.take(tn)
	if err != nil {
		return err
	}
	defer release()
	vctx, cancel := context.WithTimeout(ctx, verifyBudget)
	defer cancel()
	res, err := a.res.Verifier.Verify(vctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return NewProblem(fiber.StatusServiceUnavailable, "log_too_long",
			"the log is too long to check within one request: export it (GET /api/v1/audit/export) and check it offline with atrium audit verify")
	}
	if err != nil {
		return err
	}
	return WriteJSON(c, fiber.StatusOK, res)
}

// export answers the tenant's log recorded between from and to (RFC 3339,
// both optional) as NDJSON with each event's link of the hash chain, after
// a header line: what `atrium audit verify` checks offline.
func (a auditRoutes) export(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var bounds [2]time.Time
	for i, q := range []string{"from", "to"} {
		if v := c.Query(q); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
					Code: "invalid_request", Field: q, Detail: q + " must be a time in RFC 3339 (2026-11-01T00:00:00Z)"}
			}
			bounds[i] = t
		}
	}
	if err := audit.Allow(ctx); err != nil { // access, before the status line
		return err
	}
	start, err := a.res.Verifier.StartExport(ctx, bounds[0])
	if errors.Is(err, audit.ErrChainBehind) {
		p := NewProblem(fiber.StatusServiceUnavailable, "chain_behind", "the chain has not reached the start of this export yet; try again shortly")
		p.RetryAfter = 2
		return p
	} else if err != nil {
		return err
	}
	return a.ndjson(c, "audit export", func(write func(any) error) error {
		return a.res.Verifier.Export(ctx, start, bounds[1],
			func(h audit.ExportHeader) error { return write(h) },
			func(l audit.ExportLine) error { return write(l) },
			func(t audit.ExportTrailer) error { return write(t) })
	})
}

// replay rebuilds the tenant's read tables as they stood at as_of into a
// database file of its own, and answers it. A few run at once, all
// tenants together (503 busy beyond, after 2 s); each takes one of its
// tenant's stream slots, and the live read database is never touched.
func (a auditRoutes) replay(c *fiber.Ctx) (io.ReadCloser, documents.Object, error) {
	ctx := c.UserContext()
	if a.res.Replay == nil {
		return nil, documents.Object{}, NewProblem(fiber.StatusNotImplemented, "not_supported", "replays are not available here")
	}
	q := c.Query("as_of")
	asOf, err := time.Parse(time.RFC3339Nano, q)
	if err != nil {
		return nil, documents.Object{}, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
			Code: "invalid_request", Field: "as_of", Detail: "as_of must be a time in RFC 3339 (2026-11-01T00:00:00Z)"}
	}
	if err := audit.Allow(ctx); err != nil { // access, before the work
		return nil, documents.Object{}, err
	}
	tn, _ := tenant.From(ctx)
	if _, running := a.replaying.LoadOrStore(tn, true); running {
		p := NewProblem(fiber.StatusTooManyRequests, "replay_running", "a replay of this tenant is running; try again when it has ended")
		p.RetryAfter = 5
		return nil, documents.Object{}, p
	}
	defer a.replaying.Delete(tn)
	wait := time.NewTimer(2 * time.Second)
	defer wait.Stop()
	select {
	case a.replays <- struct{}{}:
	case <-ctx.Done():
		return nil, documents.Object{}, ctx.Err()
	case <-wait.C:
		p := NewProblem(fiber.StatusServiceUnavailable, "busy", "replays are running for other tenants; try again shortly")
		p.RetryAfter = 5
		return nil, documents.Object{}, p
	}
	defer func() { <-a.replays }()
	return sqliteFile("", "atrium-replay-", func(path string) error {
		_, err := a.res.Replay(ctx, asOf, path)
		return err
	})
}
