package projections

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Position returns how far every projector of the ctx tenant has committed:
// the lowest of their checkpoints. For a tenant this runner does not
// project, it is read from the tenant's read database.
//
// Every read answers it (X-Projection-Position): for a tenant projected
// here it reads the run's checkpoints in place, without Checkpoints' copy.
func (r *Runner) Position(ctx context.Context) (streams.Position, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, err
	}
	if tr, _ := r.running(t); tr != nil {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.low(tr.committed), nil
	}
	cps, err := r.Checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	return low(r.cfg.Projectors, cps), nil
}

// WaitFor returns once every projector of the ctx tenant has committed pos
// or beyond, or ErrLagging when ctx ends first. For a tenant this runner
// projects it is woken by commits, and keeps waiting across a stop and
// start of the tenant; for a tenant it does not project (another instance
// may, into a shared read database) it reads the database's checkpoints
// every notProjectedPoll until they are far enough or the tenant starts
// here.
func (r *Runner) WaitFor(ctx context.Context, pos streams.Position) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	for {
		// Looked up on every wake-up: a tenant stopped and started again
		// is another run.
		tr, started := r.running(t)
		if tr == nil {
			// Not projected here (yet, or any more): the database may be far
			// enough already; else wait for a start.
			at, err := r.Position(ctx)
			if err != nil {
				if ctx.Err() != nil {
					// The time to wait ran out while reading how far it is.
					return fmt.Errorf("%w: %s is not projected, waiting for %d: %w", ErrLagging, t, pos, err)
				}
				return err
			}
			if at >= pos {
				return nil
			}
			select {
			case <-started:
				continue
			case <-time.After(notProjectedPoll):
				continue
			case <-ctx.Done():
				return fmt.Errorf("%w: %s is not projected, at %d, waiting for %d", ErrLagging, t, at, pos)
			}
		}
		tr.mu.Lock()
		at, progress := tr.low(tr.committed), tr.progress
		if at >= pos {
			tr.mu.Unlock()
			return nil
		}
		// A batch that caught up commits at once while someone waits
		// (batch.go), and one kept open for a trickle's next events
		// commits now.
		tr.waiting++
		if tr.grouping && tr.tx != nil {
			tr.flushAt(time.Now())
		}
		tr.mu.Unlock()
		var err error
		select {
		case <-progress:
		case <-ctx.Done():
			err = fmt.Errorf("%w: %s at %d, waiting for %d", ErrLagging, t, at, pos)
		}
		tr.mu.Lock()
		tr.waiting--
		tr.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// notProjectedPoll is how often WaitFor reads the checkpoints of a tenant
// not projected by the runner.
const notProjectedPoll = 50 * time.Millisecond

// ParsePosition parses a position given by a client.
func ParsePosition(s string) (streams.Position, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("position %q: %w", s, err)
	}
	return streams.Position(n), nil
}

// readCheckpoints reads the ctx tenant's committed checkpoints, by
// projector name, from its read database.
func readCheckpoints(ctx context.Context, rs ReadStore) (map[string]streams.Position, error) {
	db, err := rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, `SELECT projector, position FROM projection_checkpoint`)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]streams.Position{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		out[name] = streams.Position(pos)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return out, nil
}

// low is the lowest checkpoint of ps in cps (0 for a projector without one).
func low(ps []Projector, cps map[string]streams.Position) streams.Position {
	var out streams.Position
	for i, p := range ps {
		if c := cps[p.Name()]; i == 0 || c < out {
			out = c
		}
	}
	return out
}

// low is the lowest checkpoint of the runner's projectors in cps.
func (tr *tenantRun) low(cps map[string]streams.Position) streams.Position {
	return low(tr.r.cfg.Projectors, cps)
}

// Checkpoints returns how far each projector of the ctx tenant has
// committed, by name (0 for one that has committed nothing, as after a
// rebuild's reset): from the run when this runner projects the tenant,
// else from the tenant's read database.
func (r *Runner) Checkpoints(ctx context.Context) (map[string]streams.Position, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]streams.Position, len(r.cfg.Projectors))
	if tr, _ := r.running(t); tr != nil {
		tr.mu.Lock()
		for _, p := range r.cfg.Projectors {
			out[p.Name()] = tr.committed[p.Name()]
		}
		tr.mu.Unlock()
		return out, nil
	}
	cps, err := readCheckpoints(ctx, r.cfg.Store)
	if err != nil {
		return nil, err
	}
	for _, p := range r.cfg.Projectors {
		out[p.Name()] = cps[p.Name()]
	}
	return out, nil
}
