package projections

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// A tenant's subscription comes in generations: each is a handler on the
// router with its own subscription of the source, from the committed
// checkpoint. When a handler ends (the source failed) or a batch is aborted,
// the generation is replaced by the next, after a pause; messages of older
// generations still in flight are ignored.

// subscription is the watermill subscriber of one generation of a tenant's
// subscription: on Subscribe it reads the tenant's committed checkpoints
// (the truth; the source's acknowledgements only pace delivery) and
// subscribes the source from the lowest.
type subscription struct {
	tr     *tenantRun
	gen    uint64
	result chan error    // the outcome of Subscribe, once
	ready  chan struct{} // closed once the run has recorded the outcome
}

// Subscribe implements message.Subscriber. It returns at once and
// subscribes the source in the background, reporting the outcome on
// s.result and forwarding the messages: reading the checkpoints and
// subscribing can take seconds (a read database slow to answer, a stream
// electing its leader). A failed subscription is a handler that ends at
// once, which the runner resumes.
func (s *subscription) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message, 64) // buffered: the handler takes events in bursts, not one wake-up each
	go func() {
		defer close(out)
		ch, err := s.tr.open(tenant.With(ctx, s.tr.t), s.gen)
		s.result <- err
		if err != nil {
			return
		}
		// No event is handled before the run knows it is subscribed: its
		// status would otherwise say down while events are projected.
		select {
		case <-s.ready:
		case <-ctx.Done():
			return
		}
		for m := range ch {
			select {
			case out <- m:
			case <-ctx.Done():
				return // the source ends too: it was subscribed with ctx
			}
		}
	}()
	return out, nil
}

func (*subscription) Close() error { return nil }

// open reads the tenant's committed checkpoints and subscribes the source
// after the lowest, unless generation gen has been replaced meanwhile.
func (tr *tenantRun) open(ctx context.Context, gen uint64) (<-chan *message.Message, error) {
	cps, err := readCheckpoints(ctx, tr.r.cfg.Store)
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	if tr.stopped || tr.gen != gen {
		tr.mu.Unlock()
		return nil, errors.New("subscription replaced")
	}
	tr.committed = cps // another writer may have moved them: the database is the truth
	close(tr.progress)
	tr.progress = make(chan struct{})
	after := tr.low(cps)
	tr.mu.Unlock()
	return tr.r.cfg.Source.Subscribe(ctx, after)
}

// subscribe adds and runs the handler of generation gen. Called without
// tr.mu. The failure of a resubscription (gen > 1) is logged here, the
// first of a series only; Start reports the first subscription's.
func (tr *tenantRun) subscribe(gen uint64) error {
	sub := &subscription{tr: tr, gen: gen, result: make(chan error, 1), ready: make(chan struct{})}
	h, err := tr.r.runHandler(string(tr.t), sub, tr.handlerFunc(gen))
	if err != nil {
		if gen > 1 && !errors.Is(err, ErrClosed) {
			tr.log.Error("projection resubscribe failed", "err", err)
		}
		return err
	}
	// runHandler returns once Subscribe has been called: its outcome comes.
	err = <-sub.result
	tr.mu.Lock()
	current := !tr.stopped && tr.gen == gen
	repeated := false
	if current {
		tr.handler = h
		if err == nil {
			tr.up()
		} else {
			repeated, tr.failing = tr.failing, true
		}
	}
	tr.mu.Unlock()
	close(sub.ready)
	if !current {
		h.Stop()
		return nil
	}
	go tr.watch(h, gen) // a failed subscription's handler has ended: watch resumes it
	if err != nil && gen > 1 && !repeated {
		// The first failure in a row says why; the next ones would repeat
		// it every few seconds until the source is back.
		tr.log.Error("projection resubscribe failed; retrying", "err", err)
	}
	return err
}

// up records that the current generation is subscribed. Called with tr.mu
// held.
func (tr *tenantRun) up() {
	now := time.Now()
	if tr.lost {
		tr.log.Info("projection subscription resumed", "down_for", now.Sub(tr.since).Round(time.Millisecond))
		tr.lost = false
	}
	tr.subscribed, tr.since, tr.upAt, tr.failing = true, now, now, false
}

// down records that the subscription ended. Called with tr.mu held.
func (tr *tenantRun) down() {
	if tr.subscribed {
		tr.subscribed, tr.since = false, time.Now()
	}
}

// watch resumes the subscription when its handler ends while still the
// current one: the source failed or closed.
func (tr *tenantRun) watch(h *handler, gen uint64) {
	<-h.Stopped()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped || tr.gen != gen {
		return
	}
	if tr.subscribed && time.Since(tr.upAt) >= maxResubscribeDelay {
		// It had been up long enough to count as healthy: this is a new
		// failure, not the next of a series, and is retried promptly.
		tr.backoff = tr.r.cfg.ResubscribeDelay
	}
	if !tr.lost {
		// Once per outage: its next attempts fail or end quietly until
		// one holds, which is logged too.
		tr.log.Warn("projection subscription ended; resuming from the checkpoint", "delay", tr.backoff)
		tr.lost = true
	}
	tr.down()
	if tr.tx != nil {
		// The open batch holds events applied in order: keep them.
		if err := tr.commit(); err != nil {
			tr.log.Error("projection batch commit failed", "err", err)
			tr.rollback()
		}
	}
	tr.restart()
}

// restart ends the current subscription and starts another one from the
// committed checkpoint after a pause. Called with tr.mu held, no batch open.
func (tr *tenantRun) restart() {
	tr.gen++
	gen := tr.gen
	tr.down()
	if tr.handler != nil {
		tr.handler.Stop()
		tr.handler = nil
	}
	delay := tr.backoff
	tr.backoff = min(2*tr.backoff, maxResubscribeDelay)
	if tr.resub != nil {
		tr.resub.Stop()
	}
	tr.resub = time.AfterFunc(delay, func() { _ = tr.subscribe(gen) })
}

// maxResubscribeDelay bounds the pause between two attempts to resubscribe.
const maxResubscribeDelay = 5 * time.Second
