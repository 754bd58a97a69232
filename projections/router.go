package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// startRouter starts the process's router, once. Called with r.mu held.
func (r *Runner) startRouter() error {
	if r.router != nil {
		return nil
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, r.cfg.WatermillLogger)
	if err != nil {
		return fmt.Errorf("projections router: %w", err)
	}
	router.AddMiddleware(restoreContext)
	// A router stops when its last handler does; this one lasts as long as
	// the runner, so stopping the last tenant does not stop the router.
	router.AddConsumerHandler("projections.idle", "", idleSubscriber{}, func(*message.Message) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		defer close(done)
		runErr <- router.Run(ctx)
	}()
	select {
	case <-router.Running():
	case err := <-runErr:
		cancel()
		return fmt.Errorf("projections router: %w", err)
	}
	r.router, r.routerCtx, r.routerCancel, r.routerDone = router, ctx, cancel, done
	return nil
}

// idleSubscriber delivers nothing until its subscription ends.
type idleSubscriber struct{}

func (idleSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func (idleSubscriber) Close() error { return nil }

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

// runHandler adds a handler consuming sub to the running router and runs
// it: when runHandler returns, sub's Subscribe has been called. It fails
// with ErrClosed once the runner is closed. Called without r.mu.
func (r *Runner) runHandler(name, topic string, sub message.Subscriber, fn message.NoPublishHandlerFunc) (*message.Handler, error) {
	r.mu.Lock()
	router, ctx, closed := r.router, r.routerCtx, r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	h := router.AddConsumerHandler(name, topic, sub, fn)
	if err := router.RunHandlers(ctx); err != nil {
		return nil, err
	}
	// RunHandlers has subscribed every handler added before it took the
	// router's lock, this one included.
	return h, nil
}
