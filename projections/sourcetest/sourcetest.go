// Package sourcetest is the conformance suite of projections.Source: what
// its doc comment promises, checked against every implementation (the
// JetStream source, the in-memory one of projectiontest):
//
//   - the events after the given position, in position order, events
//     appended together included, then those appended later as they come;
//   - each message is its event: UUID the event id, payload its data,
//     metadata exactly the streams bus keys of its record with
//     Atrium-Position, and Atrium-Pending, when present, the number of the
//     tenant's events after it;
//   - the next message only once the previous one is acked, a nacked one
//     again before any later one;
//   - the channel closed when ctx ends, with a message in flight or none;
//   - a tenant's subscription never delivers another tenant's events;
//     subscriptions are independent of each other; none without a tenant
//     in ctx (tenant.ErrNoTenant).
//
// Run it from the implementation's tests:
//
//	sourcetest.Run(t, func(t *testing.T) (projections.Source, sourcetest.Log) { return newSource(t) })
//
// Every subtest asks for its own source and log and provisions the tenants
// it uses; subtests run in parallel.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Log is how the suite writes the events a source delivers; a
// streams.Store is one.
type Log interface {
	// Provision prepares the ctx tenant; it is idempotent.
	Provision(ctx context.Context) error
	// Append writes events at the end of stream, of the ctx tenant, and
	// returns the stream's version and the tenant's position after them.
	Append(ctx context.Context, stream streams.Name, expected streams.ExpectedVersion, events ...streams.EventData) (streams.AppendResult, error)
}

// Run runs every conformance test against sources made by newSource, which
// returns a new source and the log it reads; the caller closes them
// (t.Cleanup).
func Run(t *testing.T, newSource func(t *testing.T) (projections.Source, Log)) {
	tests := []struct {
		name string
		fn   func(f *fixture)
	}{
		{"NoTenantInContext", testNoTenant},
		{"InPositionOrderAfterThePosition", testOrder},
		{"MessageIsTheEvent", testMessage},
		{"EventsAppendedTogether", testAppendedTogether},
		{"PendingCountsTheEventsAfter", testPending},
		{"NotPacedByAcknowledgements", testNotPaced},
		{"ClosedWhenContextEnds", testClosed},
		{"TenantIsolation", testIsolation},
		{"LiveDelivery", testLive},
		{"ConcurrentAppendsInOrder", testConcurrentAppends},
		{"SubscriptionsAreIndependent", testIndependent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, log := newSource(t)
			tc.fn(&fixture{t: t, src: src, log: log})
		})
	}
}

func testNoTenant(f *fixture) {
	if _, err := f.src.Subscribe(context.Background(), 0); !errors.Is(err, tenant.ErrNoTenant) {
		f.t.Fatalf("subscribe without a tenant: %v, want tenant.ErrNoTenant", err)
	}
}

func testOrder(f *fixture) {
	ctx := f.provisioned("acme")
	recs := f.appendEvents(ctx, 6)
	for _, skip := range []int{0, 2, 5, 6} {
		var after streams.Position
		if skip > 0 {
			after = recs[skip-1].Position
		}
		ch, cancel := f.subscribe(ctx, after)
		for _, want := range recs[skip:] {
			f.next(ch, want)
		}
		f.silent(ch, fmt.Sprintf("after %d, every event delivered", after))
		cancel()
	}
}

func testMessage(f *fixture) {
	ctx := f.provisioned("acme")
	full := f.appendEvents(ctx, 1)[0]
	// No optional metadata: its keys are absent, not empty.
	bare := f.appendOne(ctx, streams.EventData{ID: uuid.New(), Type: "sourcetest.bare.v1", Data: []byte(`{}`)})
	ch, _ := f.subscribe(ctx, 0)
	f.next(ch, full)
	f.next(ch, bare)
}

func testAppendedTogether(f *fixture) {
	ctx := f.provisioned("acme")
	before := f.appendEvents(ctx, 1)[0]
	stream, err := streams.NewName("acme", "sourcetest", uuid.NewString())
	if err != nil {
		f.t.Fatal(err)
	}
	evs := make([]streams.EventData, 3)
	for i := range evs {
		evs[i] = streams.EventData{ID: uuid.New(), Type: "sourcetest.batched.v1", Data: fmt.Appendf(nil, `{"i":%d}`, i),
			Metadata: streams.Metadata{UserID: "u-2", CorrelationID: "corr-batch", CommandID: "cmd-batch"}}
	}
	r, err := f.log.Append(ctx, stream, streams.NoStream, evs...)
	if err != nil {
		f.t.Fatal(err)
	}
	ch, _ := f.subscribe(ctx, 0)
	f.next(ch, before)
	last := before.Position
	for i, ev := range evs {
		m := f.receive(ch)
		// Positions of events appended together are the store's: in order,
		// the last one the append's.
		pos, err := strconv.ParseUint(m.Metadata.Get(streams.MetaPosition), 10, 64)
		if err != nil || streams.Position(pos) <= last || streams.Position(pos) > r.Position ||
			(i == len(evs)-1 && streams.Position(pos) != r.Position) {
			f.t.Fatalf("event %d of the append at %q: want after %d, up to %d", i, m.Metadata.Get(streams.MetaPosition), last, r.Position)
		}
		last = streams.Position(pos)
		md := ev.Metadata
		md.Tenant = "acme"
		f.expect(m, streams.Record{ID: ev.ID, Stream: stream, Type: ev.Type, Version: streams.Version(i + 1),
			Position: last, Data: ev.Data, Metadata: md})
		m.Ack()
	}
}

func testPending(f *fixture) {
	ctx := f.provisioned("acme")
	recs := f.appendEvents(ctx, 4)
	ch, _ := f.subscribe(ctx, 0)
	check := func(m *message.Message, want int) {
		f.t.Helper()
		if p, ok := pending(m); ok && p != strconv.Itoa(want) {
			f.t.Fatalf("event %s: %s %s, want %d", m.Metadata.Get(streams.MetaPosition), streams.MetaPending, p, want)
		}
	}
	for i, want := range recs {
		check(f.next(ch, want), len(recs)-1-i)
	}
	live := f.appendEvents(ctx, 1)[0]
	check(f.next(ch, live), 0)
}

func testNotPaced(f *fixture) {
	ctx := f.provisioned("acme")
	recs := f.appendEvents(ctx, 3)
	ch, _ := f.subscribe(ctx, 0)
	f.expect(f.receive(ch), recs[0]) // never acknowledged
	m := f.receive(ch)
	f.expect(m, recs[1])
	m.Nack() // not delivered again
	f.expect(f.receive(ch), recs[2])
	f.silent(ch, "every event delivered once")
}

func testClosed(f *fixture) {
	ctx := f.provisioned("acme")
	f.run("MessageInFlight", func(f *fixture) {
		recs := f.appendEvents(ctx, 3)
		ch, cancel := f.subscribe(ctx, recs[0].Position) // a position the store gave
		f.expect(f.receive(ch), recs[1])                 // never acknowledged
		cancel()
		f.closed(ch)
	})
	f.run("AckedAsTheContextEnds", func(f *fixture) {
		recs := f.appendEvents(ctx, 2)
		ch, cancel := f.subscribe(ctx, recs[0].Position)
		m := f.receive(ch)
		f.expect(m, recs[1])
		cancel()
		m.Ack()
		f.closed(ch)
	})
	f.run("WaitingForEvents", func(f *fixture) {
		head := f.appendEvents(ctx, 1)[0].Position
		ch, cancel := f.subscribe(ctx, head)
		f.silent(ch, "nothing after the head")
		cancel()
		f.closed(ch)
	})
}

func testIsolation(f *fixture) {
	acme, globex := f.provisioned("acme"), f.provisioned("globex")
	var a, g []streams.Record
	for range 4 {
		a = append(a, f.appendEvents(acme, 1)...)
		g = append(g, f.appendEvents(globex, 2)...)
	}
	ach, _ := f.subscribe(acme, 0)
	gch, _ := f.subscribe(globex, 0)
	for _, want := range a {
		f.next(ach, want)
	}
	for _, want := range g {
		f.next(gch, want)
	}
	// Live: another tenant's new events never reach the subscription.
	g = f.appendEvents(globex, 2)
	f.silent(ach, "only globex appended")
	a = f.appendEvents(acme, 1)
	f.next(ach, a[0])
	for _, want := range g {
		f.next(gch, want)
	}
	f.silent(gch, "only acme appended")
}

func testLive(f *fixture) {
	ctx := f.provisioned("acme")
	// A tenant with no event yet.
	ch, _ := f.subscribe(ctx, 0)
	f.silent(ch, "no event yet")
	for range 3 {
		f.next(ch, f.appendEvents(ctx, 1)[0])
	}
	// From the head of a tenant with events.
	head := f.appendEvents(ctx, 2)
	f.next(ch, head[0])
	f.next(ch, head[1])
	later, _ := f.subscribe(ctx, head[1].Position)
	for range 2 {
		want := f.appendEvents(ctx, 1)[0]
		f.next(later, want)
		f.next(ch, want)
	}
}

func testConcurrentAppends(f *fixture) {
	ctx := f.provisioned("acme")
	ch, _ := f.subscribe(ctx, 0)
	const writers, each = 4, 10
	var mu sync.Mutex
	appended := map[string]streams.Record{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for range writers {
		wg.Go(func() {
			for range each {
				rec, err := f.tryAppend(ctx)
				if err != nil {
					f.t.Error(err)
					return
				}
				mu.Lock()
				appended[rec.ID.String()] = rec
				mu.Unlock()
			}
		})
	}
	var last streams.Position
	got := map[string]*message.Message{}
	for range writers * each {
		m := f.receive(ch)
		pos, err := strconv.ParseUint(m.Metadata.Get(streams.MetaPosition), 10, 64)
		if err != nil || streams.Position(pos) <= last || got[m.UUID] != nil {
			f.t.Fatalf("event %s at %q after %d: not in position order, or twice", m.UUID, m.Metadata.Get(streams.MetaPosition), last)
		}
		last, got[m.UUID] = streams.Position(pos), m
		m.Ack()
	}
	wg.Wait()
	if f.t.Failed() {
		return
	}
	for id, want := range appended {
		m, ok := got[id]
		if !ok {
			f.t.Fatalf("event %s at %d never delivered", id, want.Position)
		}
		f.expect(m, want)
	}
	f.silent(ch, "every event delivered")
}

func testIndependent(f *fixture) {
	ctx := f.provisioned("acme")
	recs := f.appendEvents(ctx, 4)
	a, cancelA := f.subscribe(ctx, 0)
	b, _ := f.subscribe(ctx, recs[1].Position)
	// Each holds a message unacknowledged while the other is served.
	ma := f.receive(a)
	f.expect(ma, recs[0])
	mb := f.receive(b)
	f.expect(mb, recs[2])
	ma.Ack()
	f.next(a, recs[1])
	mb.Nack()
	// Ending one leaves the other.
	cancelA()
	f.closed(a)
	f.next(b, recs[3])
	f.next(b, f.appendEvents(ctx, 1)[0])
}
