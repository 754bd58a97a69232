package assembly

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// A rebuild runs where the tenant is projected. With a read store of the
// instance's own, that is here. With a shared one, it is the instance
// holding the tenant's lease: any other asks it over NATS (a request on
// rebuildSubjectPrefix + tenant, the read model's name as its body; the
// answer is empty, or the error, with the header rebuildUnavailable when
// it is one to retry), so a tenant is never projected by two instances,
// and never written by a rebuild while its projection runs.

// rebuildSubjectPrefix starts the subject of a rebuild asked of the
// instance holding a tenant's lease.
const rebuildSubjectPrefix = "atrium.rebuild."

// rebuildUnavailable is the header of a rebuild's answer saying that the
// rebuild could not be done now (the lease moved, another rebuild or a
// lease change of the tenant is under way): the asker answers 503.
const rebuildUnavailable = "Atrium-Unavailable"

// rebuildWait bounds a rebuild where it runs: the tenant's projection
// stopped, the read model reset, the projection started again; the replay
// itself runs on after the answer. It is shorter than a lease's renewal
// margin (TTL - Interval), as the leases' goroutine may wait for it. The
// asker waits a little longer.
const rebuildWait = 5 * time.Second

// Rebuild rebuilds one read model of the ctx tenant from its events: the
// tenant's projections stop, the read model's tables are emptied and its
// checkpoint removed, and projection resumes, replaying every event into
// that read model while the others skip what they have. Other tenants go
// on untouched. On a shared read store with no instance holding the
// tenant's lease (one is being taken over), or while another rebuild of
// the tenant runs, it fails with streams.ErrUnavailable.
func (p *Process) Rebuild(ctx context.Context, name string) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	target, err := p.rebuildable(name)
	if err != nil {
		return err
	}
	// A read-only tenant's read tables are what its archive takes.
	if err := p.writable(t); err != nil {
		return err
	}
	if !p.cfg.SharedReads {
		return p.rebuildHere(ctx, target, nil)
	}
	l := p.leases.Load()
	if l != nil && l.Holds(t) {
		return p.rebuildHere(ctx, target, l)
	}
	if l != nil {
		if held, err := l.Leased(ctx, t); err != nil {
			return fmt.Errorf("rebuild %s of %s: %w: %w", name, t, streams.ErrUnavailable, err)
		} else if !held {
			return fmt.Errorf("rebuild %s of %s: no instance projects the tenant right now: %w", name, t, streams.ErrUnavailable)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, rebuildWait+5*time.Second)
	defer cancel()
	answer, err := p.NC.RequestWithContext(rctx, rebuildSubjectPrefix+string(t), []byte(name))
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("rebuild %s of %s: the instance projecting the tenant did not answer: %w", name, t, streams.ErrUnavailable)
	case err != nil:
		return fmt.Errorf("rebuild %s of %s: %w", name, t, err)
	case answer.Header.Get(rebuildUnavailable) != "":
		return fmt.Errorf("rebuild %s of %s by the instance projecting it: %s: %w", name, t, answer.Data, streams.ErrUnavailable)
	case len(answer.Data) > 0:
		return fmt.Errorf("rebuild %s of %s by the instance projecting it: %s", name, t, answer.Data)
	}
	return nil
}

// rebuildable returns the projector called name, which a rebuild may
// reset: never one that is evidence of the log.
func (p *Process) rebuildable(name string) (projections.Projector, error) {
	for _, pr := range p.Projectors {
		if pr.Name() != name {
			continue
		}
		if _, evidence := pr.(projections.Evidence); evidence {
			return nil, fmt.Errorf("rebuild %s: %w", name, projections.ErrNotRebuildable)
		}
		return pr, nil
	}
	return nil, fmt.Errorf("%w: %q", projections.ErrUnknownReadModel, name)
}

// projLock is the ctx tenant's lock of its projection's starts and stops.
func (p *Process) projLock(ctx context.Context) (*sync.Mutex, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	mu, _ := p.projLocks.LoadOrStore(t, &sync.Mutex{})
	return mu.(*sync.Mutex), nil
}

// rebuildHere stops the ctx tenant's projection here, resets target and
// starts the projection again, within rebuildWait. With leases (not nil),
// under the tenant's lock, so that the leases neither start nor stop the
// tenant meanwhile (a rebuild or a lease change under way makes it fail
// at once, to retry), and started again only while this instance holds
// the lease; a start that fails is left to the leases to retry.
func (p *Process) rebuildHere(ctx context.Context, target projections.Projector, l *jetstream.Leases) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	if p.Runner == nil {
		return fmt.Errorf("rebuild %s of %s: this instance does not project: %w", target.Name(), t, streams.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, rebuildWait)
	defer cancel()
	if l != nil {
		mu, err := p.projLock(ctx)
		if err != nil {
			return err
		}
		if !mu.TryLock() {
			return fmt.Errorf("rebuild %s of %s: another rebuild or a lease change of the tenant is under way: %w", target.Name(), t, streams.ErrUnavailable)
		}
		defer mu.Unlock()
		if !l.Holds(t) {
			return fmt.Errorf("rebuild %s of %s: the tenant's lease moved to another instance: %w", target.Name(), t, streams.ErrUnavailable)
		}
	}
	restart := func() error {
		if l != nil && !l.Holds(t) {
			return nil // the lease was lost meanwhile: its new holder starts it
		}
		err := p.Runner.Start(context.WithoutCancel(ctx))
		if err != nil && l != nil {
			l.Unstarted(t) // the leases start it again, and retry
		}
		return err
	}
	if err := p.Runner.Stop(ctx); err != nil {
		// Stopped all the same (nothing more is written once Stop has
		// returned); projected again without the reset.
		return errors.Join(fmt.Errorf("rebuild %s: stop: %w", target.Name(), err), restart())
	}
	if err := p.Reads.Reset(ctx, target); err != nil {
		return errors.Join(err, restart())
	}
	return restart()
}

// rebuildAsked answers a rebuild asked of this instance, if it holds the
// tenant's lease; otherwise the holder answers, and this one stays silent.
func (p *Process) rebuildAsked(m *nats.Msg) {
	t, err := tenant.Parse(strings.TrimPrefix(m.Subject, rebuildSubjectPrefix))
	l := p.leases.Load()
	if err != nil || l == nil || !l.Holds(t) {
		return
	}
	target, err := p.rebuildable(string(m.Data))
	if err == nil {
		err = p.rebuildHere(tenant.With(context.Background(), t), target, l)
	}
	answer := nats.NewMsg(m.Reply)
	if err != nil {
		p.log.Error("rebuild asked by another instance failed", "tenant", string(t), "read_model", string(m.Data), "err", err)
		answer.Data = []byte(err.Error())
		if errors.Is(err, streams.ErrUnavailable) {
			answer.Header.Set(rebuildUnavailable, "1")
		}
	}
	if err := m.RespondMsg(answer); err != nil {
		p.log.Warn("rebuild answer not sent", "tenant", string(t), "err", err)
	}
}
