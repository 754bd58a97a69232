package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// poisonTopic is the topic of tenant t's poison queue.
// PoisonPrefix starts the topic of a tenant's poison queue: the topic is
// PoisonPrefix + the tenant.
const PoisonPrefix = "poison."

func poisonTopic(t tenant.ID) string { return PoisonPrefix + string(t) }

// poisonQueue is the middleware that publishes a message whose handling
// failed (after retries) to t's poison queue, on pub, and acknowledges it.
func poisonQueue(pub message.Publisher, t tenant.ID) (message.HandlerMiddleware, error) {
	return middleware.PoisonQueueWithFilter(pub, poisonTopic(t), poisonable)
}

// retryFirstPause is the pause before a failing message's first retry;
// each next one is four times longer, up to retryMaxPause: 20, 80 and
// 320 ms for three retries, as watermill's Retry middleware paused with
// the settings this runner gave it before (its ShouldRetry hook moved the
// backoff on a second step at each failure).
const (
	retryFirstPause = 20 * time.Millisecond
	retryMaxPause   = time.Second
)

// retries returns the middleware that retries a failing message up to n
// times, with pauses (see retryFirstPause), unless its failure is
// permanent or the message's context ends. It allocates nothing for a
// message that succeeds at once: watermill's Retry middleware built its
// backoff state for every message, a seventh of the projector's
// allocations per event.
func retries(n int) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			pause := retryFirstPause
			for attempt := 0; ; attempt++ {
				if err := msg.Context().Err(); err != nil {
					return nil, err
				}
				out, err := h(msg)
				if err == nil || attempt >= n || !retryable(err) {
					return out, err
				}
				t := time.NewTimer(pause)
				select {
				case <-msg.Context().Done():
					t.Stop()
					return nil, msg.Context().Err()
				case <-t.C:
				}
				pause = min(4*pause, retryMaxPause)
			}
		}
	}
}

// permanentError marks a message that can never be applied, however often
// it is retried: it goes to the poison queue at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retryable reports whether a failed message may succeed if handled again.
func retryable(err error) bool {
	var p permanentError
	return !errors.As(err, &p) && !errors.Is(err, context.Canceled)
}

// poisonable reports whether a failed message belongs in the poison queue:
// not when its subscription was merely ending.
func poisonable(err error) bool {
	return !errors.Is(err, context.Canceled)
}

// handlerFunc is the tenant's handler for generation gen: the event goes
// through retries, then to the tenant's poison queue if it still fails.
func (tr *tenantRun) handlerFunc(gen uint64) message.NoPublishHandlerFunc {
	chain := tr.poison(tr.retry(func(msg *message.Message) ([]*message.Message, error) {
		return nil, tr.handle(gen, msg)
	}))
	return func(msg *message.Message) error {
		already := msg.Metadata.Get(middleware.ReasonForPoisonedKey) != ""
		_, err := chain(msg)
		if err != nil {
			tr.failed(gen, err)
		} else if !already && msg.Metadata.Get(middleware.ReasonForPoisonedKey) != "" {
			tr.poisoned(gen, msg)
		}
		return err
	}
}

// failed resumes generation gen's subscription from the committed
// checkpoint after an event that neither applied nor went to the poison
// queue (the queue unreachable, the subscription ending): a source hands
// every event out once, so a new subscription delivers it again.
func (tr *tenantRun) failed(gen uint64, err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped || tr.gen != gen {
		return
	}
	tr.log.Warn("projection of an event failed; resuming from the checkpoint", "err", err, "delay", tr.backoff)
	if tr.tx != nil {
		// The open batch holds the events before it, applied in order: keep them.
		if err := tr.commit(); err != nil {
			tr.log.Error("projection batch commit failed", "err", err)
			tr.rollback()
		}
	}
	tr.restart()
}

// poisoned moves the checkpoints past an event the poison queue took, so
// that waiting for its position ends.
func (tr *tenantRun) poisoned(gen uint64, msg *message.Message) {
	reason := msg.Metadata.Get(middleware.ReasonForPoisonedKey)
	corr, _ := streams.Correlation(msg.Context())
	n, err := strconv.ParseUint(msg.Metadata.Get(streams.MetaPosition), 10, 64)
	tr.log.Error("event sent to the poison queue", "topic", poisonTopic(tr.t), "event_id", msg.UUID,
		"position", msg.Metadata.Get(streams.MetaPosition), "type", msg.Metadata.Get(streams.MetaType),
		"correlation_id", corr, "reason", reason)
	if err != nil || n == 0 {
		return
	}
	pos := streams.Position(n)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.stopped || tr.gen != gen {
		return
	}
	todo := tr.behind(pos)
	if len(todo) == 0 {
		return
	}
	if err := tr.begin(msg.Context()); err != nil {
		tr.abort(err)
		return
	}
	if err := tr.linkPoisoned(msg, todo); err != nil {
		tr.abort(err)
		return
	}
	tr.stage(todo, pos)
	if err := tr.advanced(msg, pos); err != nil {
		tr.abort(err)
	}
}

// linkPoisoned gives a poisoned event to the EveryEvent projectors among
// todo, alone in a savepoint: the audit chain covers every event of the
// log, one that other projectors failed on too. Their failure fails the
// batch, which is applied again later: the chain stays behind rather than
// with a hole.
func (tr *tenantRun) linkPoisoned(msg *message.Message, todo []Projector) error {
	var every []Projector
	for _, p := range todo {
		if everyEvent(p) {
			every = append(every, p)
		}
	}
	if len(every) == 0 {
		return nil
	}
	ctx := context.WithoutCancel(msg.Context())
	rec, err := tr.record(ctx, msg)
	if err != nil {
		tr.log.Error("poisoned event not given to every-event projectors", "position", msg.Metadata.Get(streams.MetaPosition), "err", err)
		return nil
	}
	failed, err := tr.inSavepoint(ctx, func(tx Tx) error {
		for _, p := range every {
			if err := apply(ctx, p, tx, tr.db.Dialect, rec, nil); err != nil {
				return fmt.Errorf("%s: event %d (%s): %w", p.Name(), rec.Position, rec.Type, err)
			}
		}
		return nil
	})
	if failed != nil {
		// The chain is evidence: better behind than with a hole. The batch
		// is aborted, and the poisoned event comes again.
		return fmt.Errorf("linking poisoned event %d: %w", rec.Position, failed)
	}
	return err
}
