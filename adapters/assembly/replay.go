package assembly

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/projections/erpsync"
	"github.com/atrium-platform/atrium/projections/memberlist"
	usagereads "github.com/atrium-platform/atrium/projections/usage"
	"github.com/atrium-platform/atrium/streams"
)

// replayMetrics follow the auditors' replays: how many run, and how many
// events they have applied, per tenant.
type replayMetrics struct {
	running prometheus.Gauge
	applied *prometheus.CounterVec
}

func newReplayMetrics(reg prometheus.Registerer) (*replayMetrics, error) {
	m := &replayMetrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "atrium_audit_replays_running",
			Help: "Replays of a tenant's read tables as of a moment, running now."}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_audit_replay_events_total",
			Help: "Events applied by replays of the tenant's read tables as of a moment."}, []string{"tenant"}),
	}
	for _, c := range []prometheus.Collector{m.running, m.applied} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// replayProjectors are the read models a replay rebuilds: the same
// projectors as the live ones, those that keep state of their own made
// afresh, and none told of anything (no ERP dispatch, no chain head).
func (p *Process) replayProjectors() []projections.Projector {
	out := []projections.Projector{memberlist.New(), erpsync.New(p.Store.ReadTenant, nil), auditchain.New(0, nil), usagereads.New()}
	for _, m := range p.cfg.Modules {
		out = append(out, m.Projectors...)
	}
	return out
}

// Replay writes at path (which must not exist) a SQLite database of every
// read table of the ctx tenant as it stood at asOf: the tenant's events
// recorded until then, applied by the same projectors to a database in a
// temporary directory of its own, never the live read database. It
// returns how many events it applied.
func (p *Process) Replay(ctx context.Context, asOf time.Time, path string) (int, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "atrium-replay-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(dir, sqlite.Config{})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	projs := p.replayProjectors()
	if err := store.Migrate(ctx, projs...); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	db, err := store.Open(ctx)
	if err != nil {
		return 0, err
	}
	p.replay.running.Inc()
	defer p.replay.running.Dec()
	applied := p.replay.applied.WithLabelValues(string(t))
	var after streams.Position
	done, last := false, 0
	next := func() ([]streams.Record, error) {
		if done {
			return nil, nil
		}
		recs, err := p.Store.ReadTenant(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for i, r := range recs {
			if r.RecordedAt.After(asOf) {
				recs, done = recs[:i], true
				break
			}
		}
		if len(recs) > 0 {
			after = recs[len(recs)-1].Position
		}
		return recs, nil
	}
	n, skipped, err := projections.Replay(ctx, db, p.Registry, projs, next, func(n int) { applied.Add(float64(n - last)); last = n })
	db.Release()
	if err != nil {
		return n, fmt.Errorf("replay: %w", err)
	}
	if skipped > 0 {
		// As the live projection left them out: the poison queue has them.
		p.log.Warn("replay left out events its projectors failed on", "tenant", string(t), "skipped", skipped)
	}
	return n, store.Snapshot(ctx, path)
}
