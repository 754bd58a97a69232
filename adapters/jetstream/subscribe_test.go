package jetstream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/streams"
)

// follower runs Store.Subscribe for acme in the background, as the tenant
// catalog does, and records the positions handled.
type follower struct {
	mu   sync.Mutex
	seen []streams.Position
	stop context.CancelFunc
	done chan error
}

func follow(ctx context.Context, s *jetstream.Store, after streams.Position) *follower {
	ctx, cancel := context.WithCancel(ctx)
	f := &follower{stop: cancel, done: make(chan error, 1)}
	go func() {
		f.done <- s.Subscribe(ctx, after, func(_ context.Context, r streams.Record) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.seen = append(f.seen, r.Position)
			return nil
		})
	}()
	return f
}

func (f *follower) last() streams.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		return 0
	}
	return f.seen[len(f.seen)-1]
}

func (f *follower) end(t *testing.T) {
	t.Helper()
	f.stop()
	select {
	case err := <-f.done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe ended with %v, want its context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe did not return after its context ended")
	}
}

// consumerInfos lists the consumers on acme's stream.
func consumerInfos(t *testing.T, js natsjs.JetStream, ctx context.Context) []*natsjs.ConsumerInfo {
	t.Helper()
	st, err := js.Stream(ctx, jetstream.StreamName("acme"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*natsjs.ConsumerInfo
	infos := st.ListConsumers(ctx)
	for info := range infos.Info() {
		out = append(out, info)
	}
	if err := infos.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSubscribeLeavesNoConsumersBehind(t *testing.T) {
	store, nc, ctx := newStore(t, jetstream.StoreConfig{})
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	appendOne := func() streams.Position {
		t.Helper()
		r, err := store.Append(ctx, newName(t), streams.NoStream, someEvents(1)...)
		if err != nil {
			t.Fatal(err)
		}
		return r.Position
	}
	appendOne()

	// Subscriptions ended and begun again, as the catalog does after a
	// failure, each delete their consumer.
	for range 5 {
		f := follow(ctx, store, 0)
		eventually(t, "the event handled", func() bool { return f.last() == 1 })
		f.end(t)
	}
	eventually(t, "no consumer left after the subscriptions ended", func() bool { return consumers(t, js, ctx, "acme") == 0 })

	// One subscription whose consumer is replaced again and again: after
	// reconnections, and after it is deleted underneath. Each replacement
	// resumes after the last event handled, and the server keeps one
	// consumer, with a short inactivity threshold for any left behind.
	f := follow(ctx, store, 0)
	t.Cleanup(func() { f.end(t) })
	eventually(t, "the event handled", func() bool { return f.last() == 1 })
	for i := range 6 {
		if i%2 == 0 {
			if err := nc.ForceReconnect(); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, info := range consumerInfos(t, js, ctx) {
				if err := js.DeleteConsumer(ctx, jetstream.StreamName("acme"), info.Name); err != nil {
					t.Fatal(err)
				}
			}
		}
		pos := appendOne()
		eventually(t, "the event appended after the replacement handled", func() bool { return f.last() == pos })
	}
	eventually(t, "one consumer left", func() bool { return consumers(t, js, ctx, "acme") == 1 })
	for _, info := range consumerInfos(t, js, ctx) {
		if info.Config.InactiveThreshold <= 0 || info.Config.InactiveThreshold > 30*time.Second {
			t.Fatalf("consumer %s is kept %s after its client is gone", info.Name, info.Config.InactiveThreshold)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, pos := range f.seen {
		if pos != streams.Position(i+1) {
			t.Fatalf("positions handled %v: each once, in order", f.seen)
		}
	}
}
