package kurrentdb

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// ErrSourceClosed is returned by Subscribe after Close.
var ErrSourceClosed = errors.New("kurrentdb: event source closed")

// fetchAhead is how many of a tenant's events a subscription holds before
// the projections take them.
const fetchAhead = 512

// Source delivers a tenant's events to the projections as watermill
// messages (projections.Source): message UUID = event id, payload = event
// data, metadata = the streams bus keys with Atrium-Position set from the
// $all commit position. Each Subscribe is a subscription to $all filtered
// on the tenant's prefix, starting after the checkpoint it is given, so
// the projections read KurrentDB directly, with no second copy of the
// events on NATS and no relay checkpoint of its own. Atrium-Pending is
// "0" on a message the subscription has caught up with (it holds no event
// after it), so the projections commit a batch as soon as they are caught
// up; otherwise it is not set: KurrentDB does not say how many events
// remain, and positions are log offsets, so a count added to a position
// would name no event.
type Source struct {
	store *Store
	log   *slog.Logger

	mu     sync.Mutex
	closed bool
	subs   map[*context.CancelFunc]struct{}
	wg     sync.WaitGroup
}

var _ projections.Source = (*Source)(nil)

// NewSource returns a source on the store's server; log receives why a
// subscription ended, when it failed (nil: slog.Default).
func NewSource(store *Store, log *slog.Logger) *Source {
	if log == nil {
		log = slog.Default()
	}
	return &Source{store: store, log: log, subs: map[*context.CancelFunc]struct{}{}}
}

// Subscribe starts a subscription of the ctx tenant after the position.
func (src *Source) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	t, err := streams.TenantOf(ctx)
	if err != nil {
		return nil, err
	}
	kctx, cancel := src.store.withTimeout(ctx)
	err = src.store.known(kctx, t)
	cancel()
	if err != nil {
		return nil, err
	}
	src.mu.Lock()
	if src.closed {
		src.mu.Unlock()
		return nil, ErrSourceClosed
	}
	ctx, cancel = context.WithCancel(ctx)
	src.subs[&cancel] = struct{}{}
	src.wg.Add(2)
	src.mu.Unlock()

	out := make(chan *message.Message)
	held := make(chan streams.Record, fetchAhead)
	var caughtUp atomic.Bool
	go func() {
		defer src.wg.Done()
		defer close(held)
		err := src.store.follow(ctx, t, after, func(ev kdb.SubscriptionEvent, r streams.Record) error {
			if ev.EventAppeared == nil {
				caughtUp.Store(ev.FellBehind == nil)
				return nil
			}
			select {
			case held <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if ctx.Err() == nil {
			src.log.Warn("kurrentdb: a projections subscription ended", "tenant", t, "error", err)
		}
	}()
	go func() {
		defer src.wg.Done()
		defer close(out)
		defer func() {
			cancel()
			src.mu.Lock()
			delete(src.subs, &cancel)
			src.mu.Unlock()
		}()
		for r := range held {
			msg := message.NewMessage(r.ID.String(), r.Data)
			msg.Metadata = streams.RecordMetadata(r)
			if caughtUp.Load() && len(held) == 0 {
				msg.Metadata[streams.MetaPending] = "0"
			}
			select {
			case out <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Close ends every subscription and waits for them.
func (src *Source) Close() error {
	src.mu.Lock()
	src.closed = true
	for c := range src.subs {
		(*c)()
	}
	src.mu.Unlock()
	src.wg.Wait()
	return nil
}
