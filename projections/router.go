package projections

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// A tenant's subscription is consumed by a handler of its own: one
// long-lived goroutine that runs each message through the handler's
// watermill middleware (retries, the poison queue) and acknowledges it,
// one after the other, as a watermill router's handler does. The runner
// does not use a router: one starts a goroutine per message, whose stack
// grows on every event, and that cost an eighth of the projector's time.

// handler consumes one subscription; Stop ends it, Stopped is closed once
// it has.
type handler struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Stop ends the handler's subscription; the message in hand is finished.
func (h *handler) Stop() { h.cancel() }

// Stopped is closed when the handler has ended: stopped, or its
// subscription closed.
func (h *handler) Stopped() <-chan struct{} { return h.done }

// handlersCloseTimeout bounds how long Close waits for handlers to finish
// the messages in hand.
const handlersCloseTimeout = 10 * time.Second

// restoreContext puts into the handler's context the tenant and the
// correlation id the message carries, as watermill's correlation middleware
// does for its own id. The event is the cause of whatever its projection
// does.
func restoreContext(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		if t, err := tenant.Parse(msg.Metadata.Get(streams.MetaTenant)); err == nil {
			ctx = tenant.With(ctx, t)
		}
		ctx = streams.WithCorrelation(ctx, msg.Metadata.Get(streams.MetaCorrelationID), msg.UUID)
		msg.SetContext(ctx)
		return h(msg)
	}
}

// runHandler subscribes sub and runs a handler of its messages with fn,
// acking or nacking each as it did (for the record: sources act on neither;
// fn resubscribes when a message fails).
// When runHandler returns, sub's Subscribe has been called. It fails with
// ErrClosed once the runner is closed. Called without r.mu.
func (r *Runner) runHandler(topic string, sub message.Subscriber, fn message.NoPublishHandlerFunc) (*handler, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.handlers.Add(1)
	r.mu.Unlock()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		r.handlers.Done()
		return nil, err
	}
	h := &handler{cancel: cancel, done: make(chan struct{})}
	run := restoreContext(func(msg *message.Message) ([]*message.Message, error) { return nil, fn(msg) })
	go func() {
		defer r.handlers.Done()
		defer close(h.done)
		defer cancel()
		for msg := range msgs {
			// The handler's context, not the source's: a message handed
			// out before its subscription ended is still handled, until
			// the handler is stopped.
			msg.SetContext(ctx)
			if _, err := run(msg); err != nil {
				msg.Nack()
			} else {
				msg.Ack()
			}
		}
	}()
	return h, nil
}
