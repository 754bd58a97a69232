// Package projectiontest helps test projectors and the runner without an
// event store: a tenant's log kept in memory, a projections.Source over it
// that keeps the delivery contract of the real ones (position order, one
// message at a time, redelivery of a nacked message, Atrium-Pending; it
// passes projections/sourcetest), Logs for several tenants, and a way to
// apply records to projectors in a real read-store transaction.
package projectiontest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Log is one tenant's event log in memory. It is safe for concurrent use.
type Log struct {
	t   tenant.ID
	reg *streams.Registry
	// At is the recording time of appended events; default: a fixed instant.
	At time.Time

	mu       sync.Mutex
	msgs     []*message.Message // msgs[i] is at position i+1
	versions map[streams.Name]streams.Version
	changed  chan struct{} // closed and replaced on every append
}

// NewLog returns an empty log of tenant t encoding events with reg.
func NewLog(t tenant.ID, reg *streams.Registry) *Log {
	return &Log{t: t, reg: reg, At: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC),
		versions: map[streams.Name]streams.Version{}, changed: make(chan struct{})}
}

// Stream returns the name of the stream of aggregate id in the log's tenant.
func (l *Log) Stream(tb testing.TB, aggregate, id string) streams.Name {
	tb.Helper()
	n, err := streams.NewName(l.t, aggregate, id)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// Append encodes ev and appends it to stream; it returns the record.
func (l *Log) Append(tb testing.TB, stream streams.Name, ev domain.Event) streams.Record {
	tb.Helper()
	typ, data, err := l.reg.Encode(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return l.AppendRaw(stream, typ, data)
}

// AppendRaw appends an event of any type and data, registered or not.
func (l *Log) AppendRaw(stream streams.Name, typ string, data []byte) streams.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	md := streams.Metadata{UserID: "u-test", CorrelationID: "corr-" + strconv.Itoa(len(l.msgs)+1)}
	rec := l.push(stream, streams.EventData{ID: uuid.New(), Type: typ, Data: data, Metadata: md})
	l.wake()
	return rec
}

// appendEvents appends evs to stream when it is at expected, as a
// streams.Store's Append does: all or none, ErrConflict when the stream is
// elsewhere. Retries are not told from new appends.
func (l *Log) appendEvents(stream streams.Name, expected streams.ExpectedVersion, evs []streams.EventData) (streams.AppendResult, error) {
	if len(evs) == 0 {
		return streams.AppendResult{}, fmt.Errorf("append to %s: no events", stream)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !expected.IsAny() && l.versions[stream] != expected.Version() {
		return streams.AppendResult{}, fmt.Errorf("%w: %s at version %d, not %d", streams.ErrConflict, stream, l.versions[stream], expected.Version())
	}
	var rec streams.Record
	for _, ev := range evs {
		rec = l.push(stream, ev)
	}
	l.wake()
	return streams.AppendResult{Version: rec.Version, Position: rec.Position}, nil
}

// push appends ev to stream at the next position, in the log's tenant, and
// returns its record. Called with l.mu held.
func (l *Log) push(stream streams.Name, ev streams.EventData) streams.Record {
	l.versions[stream]++
	md := ev.Metadata
	md.Tenant = l.t
	rec := streams.Record{
		ID: ev.ID, Stream: stream, Type: ev.Type, Version: l.versions[stream],
		Position: streams.Position(len(l.msgs) + 1), RecordedAt: l.At, Data: ev.Data, Metadata: md,
	}
	m := message.NewMessage(rec.ID.String(), rec.Data)
	for k, v := range streams.RecordMetadata(rec) {
		m.Metadata.Set(k, v)
	}
	l.msgs = append(l.msgs, m)
	return rec
}

// wake wakes the subscriptions waiting for an append. Called with l.mu
// held.
func (l *Log) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// AppendMessage appends a message as it is, metadata and all, at the next
// position (to deliver what no store would write).
func (l *Log) AppendMessage(m *message.Message) streams.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
	l.wake()
	return streams.Position(len(l.msgs))
}

// Head returns the position of the last event.
func (l *Log) Head() streams.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return streams.Position(len(l.msgs))
}

// Records returns the log's events, in position order.
func (l *Log) Records(tb testing.TB) []streams.Record {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]streams.Record, 0, len(l.msgs))
	for _, m := range l.msgs {
		rec, err := streams.RecordFromMetadata(m.UUID, m.Payload, m.Metadata.Get, 0)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}
