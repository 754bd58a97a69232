package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// replayResult is an auditor's replay of a tenant's read tables against
// the projector rebuilding them, on the same log in the same run.
type replayResult struct {
	Events   int           // the log the rebuild projected
	Replayed int           // the log the replay applied: the same, or a few heads more
	Rebuild  time.Duration // every read model rebuilt by the live projector
	Replay   time.Duration // every read model replayed into a database of its own
}

// replayFigure is a replayResult as `atrium bench --json` prints it.
type replayFigure struct {
	Events    int     `json:"events"`
	RebuildS  float64 `json:"rebuild_s"`
	ReplayS   float64 `json:"replay_s"`
	RebuildPS float64 `json:"rebuild_per_s"`
	ReplayPS  float64 `json:"replay_per_s"`
}

// benchReplay makes a tenant of about n events (drafted invoices, from 16
// writers through the command path, projected live), then, with nothing
// else running, times the projector rebuilding every read model of the
// tenant (all reset at once, until each has projected the head again; all
// but the audit chain, which is never rebuilt) and a replay of the whole
// log into a SQLite database of its own (GET /api/v1/audit/replay's work,
// the audit chain included).
func benchReplay(ctx context.Context, dir string, n int) (replayResult, error) {
	var res replayResult
	p, err := assembly.Open(ctx, assembly.Config{DataDir: filepath.Join(dir, "replay"), BaseDomain: "bench.test", Modules: modules.All()})
	if err != nil {
		return res, err
	}
	defer p.Close()
	t := tenant.ID("benchreplay")
	ctx = user.With(tenant.With(ctx, t), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	if err := p.OpenTenant(ctx); err != nil {
		return res, err
	}
	if err := p.Runner.Start(ctx); err != nil {
		return res, err
	}
	h := invoicecmd.NewHandler(p.Commands, benchSettings{}, benchMembers{}, time.Now)
	var left atomic.Int64
	left.Store(int64(n))
	if _, err := perSecond(16, time.Hour, func(int) (func() error, error) {
		return func() error {
			if left.Add(-1) < 0 {
				return errDone
			}
			_, err := h.Create(ctx, benchInvoice())
			return err
		}, nil
	}); err != nil && !errors.Is(err, errDone) {
		return res, err
	}
	// The chain's heads are appended after the events they cover: the log
	// is settled once its head no longer moves with everything projected.
	var head streams.Position
	wait := func() error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		return p.Runner.WaitFor(wctx, head)
	}
	for {
		h, err := p.Store.Head(ctx)
		if err != nil {
			return res, err
		}
		if h == head {
			break
		}
		head = h
		if err := wait(); err != nil {
			return res, err
		}
		time.Sleep(500 * time.Millisecond) // the heads recorder's turn
	}
	res.Events = int(head)

	start := time.Now()
	for _, pr := range p.Projectors {
		if _, evidence := pr.(projections.Evidence); evidence {
			continue // never rebuilt: the replay does one more read model
		}
		if err := p.Rebuild(ctx, pr.Name()); err != nil {
			return res, fmt.Errorf("rebuild %s: %w", pr.Name(), err)
		}
	}
	if err := wait(); err != nil {
		return res, err
	}
	res.Rebuild = time.Since(start)

	out := filepath.Join(dir, "replay.sqlite")
	start = time.Now()
	applied, err := p.Replay(ctx, time.Now().Add(time.Hour), out)
	if err != nil {
		return res, err
	}
	res.Replay = time.Since(start)
	_ = os.Remove(out)
	if applied < res.Events {
		return res, fmt.Errorf("replay applied %d events of %d", applied, res.Events)
	}
	res.Replayed = applied // with a head recorded meanwhile, if any
	return res, nil
}

// errDone ends a perSecond run that has done its count.
var errDone = errors.New("done")
