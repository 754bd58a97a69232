package jetstream_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/sourcetest"
	"github.com/atrium-platform/atrium/streams"
)

// receive waits for the next message on ch, failing at the deadline or
// when ch is closed.
func receive(t *testing.T, ch <-chan *message.Message, deadline <-chan time.Time) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-deadline:
		t.Fatal("no message before the deadline")
	}
	return nil
}

// eventually waits until cond holds, failing at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not before the deadline", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

func consumers(t *testing.T, js natsjs.JetStream, ctx context.Context, tn tenant.ID) int {
	t.Helper()
	st, err := js.Stream(ctx, jetstream.StreamName(tn))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

func TestSourceDeliversTenantEventsInOrderAfterPosition(t *testing.T) {
	store, nc, acme := newStore(t, jetstream.StoreConfig{})
	globex := tenant.With(acme, "globex")
	if err := store.Provision(globex); err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	appendBoth := func(i int) streams.AppendResult {
		t.Helper()
		ev := streams.EventData{ID: uuid.New(), Type: "invoice.drafted.v1", Data: []byte(`{}`),
			Metadata: streams.Metadata{UserID: "u1", CorrelationID: "c" + strconv.Itoa(i), CommandID: "cmd"}}
		ids = append(ids, ev.ID)
		r, err := store.Append(acme, newName(t), streams.NoStream, ev)
		if err != nil {
			t.Fatal(err)
		}
		gn, _ := streams.NewName("globex", "invoice", uuid.NewString())
		if _, err := store.Append(globex, gn, streams.NoStream, someEvents(1)...); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 5 {
		appendBoth(i)
	}
	src, err := jetstream.NewSource(nc, jetstream.QuietLogger(slog.Default()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	ch, err := src.Subscribe(acme, 2)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	check := func(i int, pending string) {
		t.Helper()
		m := receive(t, ch, deadline)
		rec, err := streams.RecordFromMetadata(m.UUID, m.Payload, m.Metadata.Get, 0)
		if err != nil {
			t.Fatal(err)
		}
		m.Ack()
		want := streams.Metadata{Tenant: "acme", UserID: "u1", CorrelationID: "c" + strconv.Itoa(i), CommandID: "cmd"}
		if rec.ID != ids[i] || rec.Position != streams.Position(i+1) || rec.Metadata != want || rec.Version != 1 || rec.Type != "invoice.drafted.v1" {
			t.Fatalf("message %d: %+v", i, rec)
		}
		if got := m.Metadata.Get(streams.MetaPending); got != pending {
			t.Fatalf("message %d: pending %q, want %s", i, got, pending)
		}
	}
	// Stored events after position 2, then new ones as they are appended.
	for i := 2; i < 5; i++ {
		check(i, strconv.Itoa(4-i))
	}
	for i := 5; i < 8; i++ {
		appendBoth(i)
		check(i, "0")
	}

	if _, err := src.Subscribe(context.Background(), 0); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("subscribe without a tenant: %v", err)
	}
	if _, err := src.Subscribe(tenant.With(acme, "ghost"), 0); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("subscribe to an unprovisioned tenant: %v", err)
	}
}

func TestSourceEndsSubscriptions(t *testing.T) {
	store, nc, ctx := newStore(t, jetstream.StoreConfig{})
	if _, err := store.Append(ctx, newName(t), streams.NoStream, someEvents(1)...); err != nil {
		t.Fatal(err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := jetstream.NewSource(nc, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Ending the context closes the channel and deletes the consumer.
	sctx, cancel := context.WithCancel(ctx)
	ch, err := src.Subscribe(sctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, time.After(30*time.Second)) // in flight, never acked
	cancel()
	for range ch {
	}
	eventually(t, "consumer deleted after its context ended", func() bool { return consumers(t, js, ctx, "acme") == 0 })

	// Close ends every subscription and refuses new ones.
	a, err := src.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Subscribe(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan *message.Message{a, b} {
		for m := range ch {
			m.Ack()
		}
	}
	if n := consumers(t, js, ctx, "acme"); n != 0 {
		t.Fatalf("%d consumers left after Close", n)
	}
	if _, err := src.Subscribe(ctx, 0); !errors.Is(err, jetstream.ErrSourceClosed) {
		t.Fatalf("subscribe after Close: %v", err)
	}
}

func TestPoisonPublisher(t *testing.T) {
	_, nc, ctx := newStore(t, jetstream.StoreConfig{})
	pub, err := jetstream.NewPoisonPublisher(ctx, nc, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := message.NewMessage(uuid.NewString(), []byte(`{"n":1}`))
	m.Metadata.Set(streams.MetaPosition, "7")
	if err := pub.Publish("poison.acme", m); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil || nc.IsClosed() {
		t.Fatalf("closing the publisher: %v, connection closed: %v", err, nc.IsClosed())
	}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "ATRIUM_POISON")
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetLastMsgForSubject(ctx, "poison.acme")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != `{"n":1}` || got.Header.Get(streams.MetaPosition) != "7" {
		t.Fatalf("poison queue holds %q with headers %v", got.Data, got.Header)
	}
}

func TestSourceConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) (projections.Source, sourcetest.Log) {
		_, nc := jetstreamtest.Start(t)
		store, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		src, err := jetstream.NewSource(nc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = src.Close() })
		return src, store
	})
}

// closedWithin waits for ch to be closed, acking what it still delivers,
// failing after d.
func closedWithin(t *testing.T, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			m.Ack()
		case <-deadline:
			t.Fatalf("subscription still open after %s", d)
		}
	}
}

func TestSourceEndsWhenItsConsumerIsLost(t *testing.T) {
	t.Run("deleted", func(t *testing.T) {
		t.Parallel()
		store, nc, ctx := newStore(t, jetstream.StoreConfig{})
		if _, err := store.Append(ctx, newName(t), streams.NoStream, someEvents(1)...); err != nil {
			t.Fatal(err)
		}
		src, err := jetstream.NewSource(nc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = src.Close() })
		ch, err := src.Subscribe(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		receive(t, ch, time.After(10*time.Second)).Ack()
		st := acmeStream(t, ctx, nc)
		for name := range st.ConsumerNames(ctx).Name() {
			if err := st.DeleteConsumer(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		closedWithin(t, ch, 10*time.Second)
	})
	t.Run("lost with its server", func(t *testing.T) {
		t.Parallel()
		srv := jetstreamtest.StartRestartable(t)
		nc := srv.Connect(t.Name())
		store, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
		t.Cleanup(cancel)
		if err := store.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		src, err := jetstream.NewSource(nc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = src.Close() })
		ch, err := src.Subscribe(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The server comes back without the consumer, and nothing tells the
		// waiting pull request: the missing heartbeats end the
		// subscription, for its user to subscribe again from its
		// checkpoint, rather than wait for events that never come.
		srv.Stop()
		srv.ForgetConsumers(jetstream.StreamName("acme"))
		srv.Start()
		closedWithin(t, ch, 10*time.Second)
	})
}

// subscribeSource subscribes a new source on nc, closed with the test, to
// the ctx tenant's events after pos.
func subscribeSource(t *testing.T, nc *nats.Conn, ctx context.Context, after streams.Position) <-chan *message.Message {
	t.Helper()
	src, err := jetstream.NewSource(nc, jetstream.QuietLogger(slog.Default()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	ch, err := src.Subscribe(ctx, after)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
