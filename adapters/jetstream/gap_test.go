package jetstream_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/streams"
)

// lossyIterator hands out the messages it was given, in order, then waits
// for Stop: as a consumer does whose deliveries were partly lost on the
// way (the connection moved to another server while they were in flight).
type lossyIterator struct {
	msgs    []natsjs.Msg
	stopped chan struct{}
	once    sync.Once
}

func (l *lossyIterator) Next(...natsjs.NextOpt) (natsjs.Msg, error) {
	if len(l.msgs) > 0 {
		m := l.msgs[0]
		l.msgs = l.msgs[1:]
		return m, nil
	}
	<-l.stopped
	return nil, natsjs.ErrMsgIteratorClosed
}

func (l *lossyIterator) Stop()  { l.once.Do(func() { close(l.stopped) }) }
func (l *lossyIterator) Drain() { l.Stop() }

// TestSourceNeverHandsOutAnEventAfterAGap gives the delivery loop events
// 1, 2 and 4 of a tenant's stream, 3 lost on the way: it hands out 1 and 2
// and ends the subscription, never 4, so that its user subscribes again
// from its checkpoint and sees 3 first.
func TestSourceNeverHandsOutAnEventAfterAGap(t *testing.T) {
	store, nc, ctx := newStore(t, jetstream.StoreConfig{})
	for range 4 {
		if _, err := store.Append(ctx, newName(t), streams.NoStream, someEvents(1)...); err != nil {
			t.Fatal(err)
		}
	}
	st := acmeStream(t, ctx, nc)
	fetch := func() []natsjs.Msg {
		cons, err := st.CreateConsumer(ctx, natsjs.ConsumerConfig{AckPolicy: natsjs.AckExplicitPolicy})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.FetchNoWait(10)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []natsjs.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		return msgs
	}
	src, err := jetstream.NewSource(nc, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func(msgs []natsjs.Msg) []string {
		it := &lossyIterator{msgs: msgs, stopped: make(chan struct{})}
		out := make(chan *message.Message)
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		go src.DeliverFrom(dctx, "acme", 0, it, out)
		var got []string
		for m := range out {
			got = append(got, m.Metadata.Get(streams.MetaPosition))
			m.Ack()
		}
		if dctx.Err() != nil {
			t.Fatalf("the delivery loop was still running after %v: it handed out %v", 10*time.Second, got)
		}
		return got
	}

	msgs := fetch()
	if len(msgs) != 4 {
		t.Fatalf("fetched %d events, want 4", len(msgs))
	}
	got := run([]natsjs.Msg{msgs[0], msgs[1], msgs[3]})
	if len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Fatalf("handed out %v with event 3 lost on the way; want [1 2] and the end of the subscription", got)
	}

}
