package sourcetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// patience bounds every wait for a message or a closed channel.
const patience = 30 * time.Second

// quiet is how long the suite watches for a message that must not come.
const quiet = 300 * time.Millisecond

type fixture struct {
	t   *testing.T
	src projections.Source
	log Log
}

// run runs fn as a subtest, with a fixture of the subtest on the same
// source and log.
func (f *fixture) run(name string, fn func(f *fixture)) {
	f.t.Helper()
	f.t.Run(name, func(t *testing.T) { fn(&fixture{t: t, src: f.src, log: f.log}) })
}

// provisioned returns a context of tenant tn, provisioned, that ends with
// the test.
func (f *fixture) provisioned(tn tenant.ID) context.Context {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), tn), 2*time.Minute)
	f.t.Cleanup(cancel)
	if err := f.log.Provision(ctx); err != nil {
		f.t.Fatalf("provision %s: %v", tn, err)
	}
	return ctx
}

// appendEvents appends n events of the ctx tenant, each alone and to a
// stream of its own, with every metadata field set, and returns them as a
// source must deliver them (RecordedAt aside: the log sets it).
func (f *fixture) appendEvents(ctx context.Context, n int) []streams.Record {
	f.t.Helper()
	out := make([]streams.Record, 0, n)
	for range n {
		rec, err := f.tryAppend(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// appendOne appends ev alone to a new stream of the ctx tenant.
func (f *fixture) appendOne(ctx context.Context, ev streams.EventData) streams.Record {
	f.t.Helper()
	rec, err := f.appendData(ctx, ev)
	if err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// tryAppend is appendEvents of one event, returning its error instead of
// failing the test: for other goroutines than the test's.
func (f *fixture) tryAppend(ctx context.Context) (streams.Record, error) {
	id := uuid.New()
	return f.appendData(ctx, streams.EventData{
		ID: id, Type: "sourcetest.happened.v1", Data: fmt.Appendf(nil, `{"id":%q}`, id),
		Metadata: streams.Metadata{UserID: "u-1", CorrelationID: "corr-" + id.String(), CausationID: "cause-" + id.String(),
			CommandID: "cmd-" + id.String(), RequestHash: "hash-" + id.String()},
	})
}

// appendData appends ev alone to a new stream of the ctx tenant and
// returns it as a source must deliver it (RecordedAt aside: the log sets
// it).
func (f *fixture) appendData(ctx context.Context, ev streams.EventData) (streams.Record, error) {
	tn, err := tenant.From(ctx)
	if err != nil {
		return streams.Record{}, err
	}
	stream, err := streams.NewName(tn, "sourcetest", uuid.NewString())
	if err != nil {
		return streams.Record{}, err
	}
	r, err := f.log.Append(ctx, stream, streams.NoStream, ev)
	if err != nil {
		return streams.Record{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	md := ev.Metadata
	md.Tenant = tn
	return streams.Record{ID: ev.ID, Stream: stream, Type: ev.Type, Version: r.Version, Position: r.Position, Data: ev.Data, Metadata: md}, nil
}

// subscribe subscribes the ctx tenant after pos, until cancel is called or
// the test ends.
func (f *fixture) subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, context.CancelFunc) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	f.t.Cleanup(cancel)
	ch, err := f.src.Subscribe(ctx, after)
	if err != nil {
		cancel()
		f.t.Fatalf("subscribe after %d: %v", after, err)
	}
	return ch, cancel
}

// receive returns the next message on ch, failing when ch is closed or
// none comes in time.
func (f *fixture) receive(ch <-chan *message.Message) *message.Message {
	f.t.Helper()
	timer := time.NewTimer(patience)
	defer timer.Stop()
	select {
	case m, ok := <-ch:
		if !ok {
			f.t.Fatal("subscription closed while a message was expected")
		}
		return m
	case <-timer.C:
		f.t.Fatalf("no message within %s", patience)
	}
	return nil
}

// next receives the next message, checks that it is want, and acks it.
func (f *fixture) next(ch <-chan *message.Message, want streams.Record) *message.Message {
	f.t.Helper()
	m := f.receive(ch)
	f.expect(m, want)
	m.Ack()
	return m
}

// expect checks that m is the event want: its id, its data, and exactly the
// streams bus keys of the record, with Atrium-Pending, when present, a
// count.
func (f *fixture) expect(m *message.Message, want streams.Record) {
	f.t.Helper()
	if m.UUID != want.ID.String() {
		f.t.Fatalf("message %s (%s %s), want event %s at %d", m.UUID, m.Metadata.Get(streams.MetaPosition),
			m.Metadata.Get(streams.MetaTenant), want.ID, want.Position)
	}
	if !bytes.Equal(m.Payload, want.Data) {
		f.t.Fatalf("event %d: payload %q, want the event's data %q", want.Position, m.Payload, want.Data)
	}
	got := maps.Clone(map[string]string(m.Metadata))
	if p, ok := got[streams.MetaPending]; ok {
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			f.t.Fatalf("event %d: %s %q is no count", want.Position, streams.MetaPending, p)
		}
		delete(got, streams.MetaPending)
	}
	at, err := time.Parse(time.RFC3339Nano, got[streams.MetaRecordedAt])
	if err != nil || at.IsZero() {
		f.t.Fatalf("event %d: %s %q: %v", want.Position, streams.MetaRecordedAt, got[streams.MetaRecordedAt], err)
	}
	want.RecordedAt = at
	if w := streams.RecordMetadata(want); !maps.Equal(got, w) {
		f.t.Fatalf("event %d: metadata\n%v\nwant the record's bus keys\n%v", want.Position, got, w)
	}
}

// pending returns m's Atrium-Pending, and whether it has one.
func pending(m *message.Message) (string, bool) {
	p, ok := m.Metadata[streams.MetaPending]
	return p, ok
}

// silent fails when a message comes on ch, or ch is closed, within quiet:
// an absence can only be watched for a while.
func (f *fixture) silent(ch <-chan *message.Message, why string) {
	f.t.Helper()
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	select {
	case m, ok := <-ch:
		if !ok {
			f.t.Fatalf("%s: the subscription closed", why)
		}
		f.t.Fatalf("%s: message %s at %s delivered", why, m.UUID, m.Metadata.Get(streams.MetaPosition))
	case <-timer.C:
	}
}

// closed fails unless ch is closed in time; messages still on it are
// dropped.
func (f *fixture) closed(ch <-chan *message.Message) {
	f.t.Helper()
	timer := time.NewTimer(patience)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch: // delivered as the context ended: left unacked
			if !ok {
				return
			}
		case <-timer.C:
			f.t.Fatalf("subscription not closed within %s of its context's end", patience)
		}
	}
}
