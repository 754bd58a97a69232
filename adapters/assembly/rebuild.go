package assembly

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// A rebuild runs where the tenant is projected. With a read store of the
// instance's own, that is here. With a shared one, it is the instance
// holding the tenant's lease: any other asks it over NATS (a request on
// rebuildSubjectPrefix + tenant, the read model's name as its body; the
// answer is empty, or the error), so a tenant is never projected by two
// instances, and never written by a rebuild while its projection runs.

// rebuildSubjectPrefix starts the subject of a rebuild asked of the
// instance holding a tenant's lease.
const rebuildSubjectPrefix = "atrium.rebuild."

// rebuildWait bounds the wait for the holder's answer: it stops the
// tenant's projection, resets the read model and starts it again; the
// replay itself runs on after the answer.
const rebuildWait = 30 * time.Second

// Rebuild rebuilds one read model of the ctx tenant from its events: the
// tenant's projections stop, the read model's tables are emptied and its
// checkpoint removed, and projection resumes, replaying every event into
// that read model while the others skip what they have. Other tenants go
// on untouched. On a shared read store with no instance holding the
// tenant's lease (one is being taken over), it fails with
// streams.ErrUnavailable.
func (p *Process) Rebuild(ctx context.Context, name string) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	target, err := p.projector(name)
	if err != nil {
		return err
	}
	if !p.cfg.SharedReads {
		return p.rebuildHere(ctx, target, nil)
	}
	if l := p.leases.Load(); l != nil && l.Holds(t) {
		return p.rebuildHere(ctx, target, l.Holds)
	}
	rctx, cancel := context.WithTimeout(ctx, rebuildWait)
	defer cancel()
	answer, err := p.NC.RequestWithContext(rctx, rebuildSubjectPrefix+string(t), []byte(name))
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("rebuild %s of %s: no instance projects the tenant right now: %w", name, t, streams.ErrUnavailable)
	case err != nil:
		return fmt.Errorf("rebuild %s of %s: %w", name, t, err)
	case len(answer.Data) > 0:
		return fmt.Errorf("rebuild %s of %s by the instance projecting it: %s", name, t, answer.Data)
	}
	return nil
}

// projector returns the projector called name.
func (p *Process) projector(name string) (projections.Projector, error) {
	for _, pr := range p.Projectors {
		if pr.Name() == name {
			return pr, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", projections.ErrUnknownReadModel, name)
}

// rebuildHere stops the ctx tenant's projection here, resets target and
// starts the projection again; with leases (holds not nil), under projMu
// so that the leases neither start nor stop the tenant meanwhile, and
// started again only while this instance still holds the lease.
func (p *Process) rebuildHere(ctx context.Context, target projections.Projector, holds func(tenant.ID) bool) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	if p.Runner == nil {
		return fmt.Errorf("rebuild %s of %s: this instance does not project: %w", target.Name(), t, streams.ErrUnavailable)
	}
	if holds != nil {
		p.projMu.Lock()
		defer p.projMu.Unlock()
		if !holds(t) {
			return fmt.Errorf("rebuild %s of %s: the tenant's lease moved to another instance: %w", target.Name(), t, streams.ErrUnavailable)
		}
	}
	if err := p.Runner.Stop(ctx); err != nil {
		return fmt.Errorf("rebuild %s: stop: %w", target.Name(), err)
	}
	restart := func() error {
		if holds != nil && !holds(t) {
			return nil // the lease was lost meanwhile: its new holder starts it
		}
		return p.Runner.Start(context.WithoutCancel(ctx))
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
	answer := ""
	target, err := p.projector(string(m.Data))
	if err == nil {
		ctx, cancel := context.WithTimeout(tenant.With(context.Background(), t), rebuildWait)
		err = p.rebuildHere(ctx, target, l.Holds)
		cancel()
	}
	if err != nil {
		p.log.Error("rebuild asked by another instance failed", "tenant", string(t), "read_model", string(m.Data), "err", err)
		answer = err.Error()
	}
	if err := m.Respond([]byte(answer)); err != nil {
		p.log.Warn("rebuild answer not sent", "tenant", string(t), "err", err)
	}
}

// Progress reports how far the ctx tenant's log reaches and how far each of
// its read models has projected it, from whichever instance projects it.
func (p *Process) Progress(ctx context.Context) (streams.Position, map[string]streams.Position, error) {
	if p.Runner == nil {
		return 0, nil, fmt.Errorf("progress: this instance does not project: %w", streams.ErrUnavailable)
	}
	head, err := p.Store.Head(ctx)
	if err != nil {
		return 0, nil, err
	}
	cps, err := p.Runner.Checkpoints(ctx)
	if err != nil {
		return 0, nil, err
	}
	return head, cps, nil
}
