package projectiontest

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

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
	down       error
	cut        chan struct{} // closed when the subscriptions in progress are to end
}

// NewSource returns a source over log.
func NewSource(log *Log) *Source { return &Source{log: log, cut: make(chan struct{})} }

// Down ends the subscriptions in progress and makes every Subscribe fail
// with err until Up, as a source whose server went away would.
func (s *Source) Down(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
	close(s.cut)
	s.cut = make(chan struct{})
}

// Up lets Subscribe succeed again after Down.
func (s *Source) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = nil
}

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
	if s.down != nil {
		err := s.down
		s.mu.Unlock()
		return nil, err
	}
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		s.mu.Unlock()
		return nil, err
	}
	if s.FromStart {
		after = 0
	}
	cut := s.cut
	s.mu.Unlock()
	out := make(chan *message.Message, 16) // buffered, as a source fetching ahead is
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-cut:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer cancel()
		s.deliver(ctx, after, out)
	}()
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

// send hands out one message, without waiting for its acknowledgement.
func (s *Source) send(ctx context.Context, src *message.Message, pending int, out chan<- *message.Message) bool {
	m := src.Copy()
	if !s.NoPending {
		m.Metadata.Set(streams.MetaPending, strconv.Itoa(pending))
	}
	m.SetContext(ctx)
	select {
	case out <- m:
		return true
	case <-ctx.Done():
		return false
	}
}
