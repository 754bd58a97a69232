// Package projectiontest helps test projectors and the runner without an
// event store: a tenant's log kept in memory, a projections.Source over it
// that keeps the delivery contract of the real ones (position order, one
// message at a time, redelivery of a nacked message, Atrium-Pending), and a
// way to apply records to projectors in a real read-store transaction.
package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
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
	l.versions[stream]++
	rec := streams.Record{
		ID: uuid.New(), Stream: stream, Type: typ, Version: l.versions[stream],
		Position: streams.Position(len(l.msgs) + 1), RecordedAt: l.At, Data: data,
		Metadata: streams.Metadata{Tenant: l.t, UserID: "u-test", CorrelationID: "corr-" + strconv.Itoa(len(l.msgs)+1)},
	}
	m := message.NewMessage(rec.ID.String(), rec.Data)
	for k, v := range streams.RecordMetadata(rec) {
		m.Metadata.Set(k, v)
	}
	l.msgs = append(l.msgs, m)
	close(l.changed)
	l.changed = make(chan struct{})
	return rec
}

// AppendMessage appends a message as it is, metadata and all, at the next
// position (to deliver what no store would write).
func (l *Log) AppendMessage(m *message.Message) streams.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
	close(l.changed)
	l.changed = make(chan struct{})
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

// Source is a projections.Source over a Log.
type Source struct {
	log *Log
	// NoPending leaves out Atrium-Pending, as a source that does not know
	// it would.
	NoPending bool
	// Duplicate delivers every message twice in a row, as an at-least-once
	// transport may.
	Duplicate bool
	// FromStart ignores the position asked for and delivers from the first
	// event, as a transport that lost its place would.
	FromStart bool

	mu         sync.Mutex
	subscribes []streams.Position
	fail       []error
	cutAfter   streams.Position
}

// NewSource returns a source over log.
func NewSource(log *Log) *Source { return &Source{log: log} }

// FailNext makes the next Subscribe calls fail with errs, in order.
func (s *Source) FailNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, errs...)
}

// CutAfter makes the current and next subscriptions end once they have
// delivered the event at pos, as a failing transport would; the next
// subscription is not cut again.
func (s *Source) CutAfter(pos streams.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutAfter = pos
}

// Subscribes returns the position each Subscribe call asked for.
func (s *Source) Subscribes() []streams.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]streams.Position(nil), s.subscribes...)
}

// Subscribe implements projections.Source.
func (s *Source) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	if t != s.log.t {
		return nil, fmt.Errorf("source of %s subscribed for %s", s.log.t, t)
	}
	s.mu.Lock()
	s.subscribes = append(s.subscribes, after)
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		s.mu.Unlock()
		return nil, err
	}
	if s.FromStart {
		after = 0
	}
	s.mu.Unlock()
	out := make(chan *message.Message)
	go s.deliver(ctx, after, out)
	return out, nil
}

func (s *Source) deliver(ctx context.Context, after streams.Position, out chan<- *message.Message) {
	defer close(out)
	for pos := after + 1; ; pos++ {
		s.log.mu.Lock()
		for int(pos) > len(s.log.msgs) {
			changed := s.log.changed
			s.log.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			s.log.mu.Lock()
		}
		src, pending := s.log.msgs[pos-1], len(s.log.msgs)-int(pos)
		s.log.mu.Unlock()
		times := 1
		if s.Duplicate {
			times = 2
		}
		for range times {
			if !s.send(ctx, src, pending, out) {
				return
			}
		}
		s.mu.Lock()
		cut := s.cutAfter != 0 && pos >= s.cutAfter
		if cut {
			s.cutAfter = 0
		}
		s.mu.Unlock()
		if cut {
			return
		}
	}
}

// send hands out one message until it is acknowledged; a nacked one is
// handed out again.
func (s *Source) send(ctx context.Context, src *message.Message, pending int, out chan<- *message.Message) bool {
	for {
		m := src.Copy()
		if !s.NoPending {
			m.Metadata.Set(streams.MetaPending, strconv.Itoa(pending))
		}
		m.SetContext(ctx)
		select {
		case out <- m:
		case <-ctx.Done():
			return false
		}
		select {
		case <-m.Acked():
			return true
		case <-m.Nacked():
		case <-ctx.Done():
			return false
		}
	}
}

// Apply applies recs, in order, to every projector in one transaction of
// db, decoding them with reg, and commits. Types reg does not know are
// skipped, as the runner does.
func Apply(tb testing.TB, db projections.DB, reg *streams.Registry, ps []projections.Projector, recs ...streams.Record) {
	tb.Helper()
	if err := ApplyErr(db, reg, ps, recs...); err != nil {
		tb.Fatal(err)
	}
}

// ApplyErr is Apply returning the error instead of failing the test; the
// transaction is rolled back on error.
func ApplyErr(db projections.DB, reg *streams.Registry, ps []projections.Projector, recs ...streams.Record) (err error) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	for _, rec := range recs {
		if !reg.Known(rec.Type) {
			continue
		}
		ev, err := reg.Decode(rec.Type, rec.Data)
		if err != nil {
			return err
		}
		ctx := tenant.With(ctx, rec.Metadata.Tenant)
		for _, p := range ps {
			if err := p.Apply(ctx, tx, db.Dialect, rec, ev); err != nil {
				return fmt.Errorf("%s at %d: %w", p.Name(), rec.Position, err)
			}
		}
	}
	return tx.Commit()
}
