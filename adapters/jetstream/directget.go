package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// directPage is how many messages one direct-get request asks for.
const directPage = 256

// Headers of direct-get answers.
const (
	statusHdr      = "Status"
	descriptionHdr = "Description"
	sequenceHdr    = "Nats-Sequence"
	numPendingHdr  = "Nats-Num-Pending"
)

func directGetSubject(t tenant.ID) string { return "$JS.API.DIRECT.GET." + StreamName(t) }

// lastMsg is the end of an event stream as read from the server: its tail
// and the id of its last event (zero for a stream with no event).
type lastMsg struct {
	tail
	id uuid.UUID
}

// lastEvent reads the last event on subject, with one direct get, or from
// the stream's leader when the stream has followers (see fenced), and
// caches its tail.
func (s *Store) lastEvent(ctx context.Context, t tenant.ID, subject string) (lastMsg, error) {
	var (
		h     nats.Header
		seq   uint64
		found bool
		err   error
	)
	if s.fenced() {
		h, seq, found, err = s.leaderLast(ctx, t, subject, true)
	} else {
		h, seq, found, err = s.directLast(ctx, t, subject)
	}
	if err != nil || !found {
		return lastMsg{}, err
	}
	get, err := metadataOf(h)
	if err != nil {
		return lastMsg{}, fmt.Errorf("last event of %s at %d: %w", subject, seq, err)
	}
	v, err := strconv.ParseUint(get(streams.MetaVersion), 10, 64)
	if err != nil {
		return lastMsg{}, fmt.Errorf("last event of %s at %d: version: %w", subject, seq, err)
	}
	id, err := uuid.Parse(h.Get(nats.MsgIdHdr))
	if err != nil {
		return lastMsg{}, fmt.Errorf("last event of %s at %d: id: %w", subject, seq, err)
	}
	last := lastMsg{tail: tail{version: streams.Version(v), seq: seq}, id: id}
	s.tails.put(subject, last.tail)
	return last, nil
}

// directLast reads the last message on subject with one direct get: its
// headers and sequence; found is false when the subject has none.
func (s *Store) directLast(ctx context.Context, t tenant.ID, subject string) (h nats.Header, seq uint64, found bool, err error) {
	rctx, cancel := s.withTimeout(ctx)
	defer cancel()
	msg, err := s.nc.RequestWithContext(rctx, directGetSubject(t)+"."+subject, nil)
	if err != nil {
		return nil, 0, false, s.fail(ctx, t, fmt.Errorf("last event of %s: %w", subject, err))
	}
	switch msg.Header.Get(statusHdr) {
	case "":
	case "404":
		return nil, 0, false, nil
	default:
		return nil, 0, false, fmt.Errorf("%w: last event of %s: status %s %s", streams.ErrUnavailable, subject, msg.Header.Get(statusHdr), msg.Header.Get(descriptionHdr))
	}
	seq, err = strconv.ParseUint(msg.Header.Get(sequenceHdr), 10, 64)
	if err != nil {
		return nil, 0, false, fmt.Errorf("last event of %s: sequence: %w", subject, err)
	}
	return msg.Header, seq, true, nil
}

// directGet reads the tenant stream's messages on subject (wildcards
// allowed) from sequence from on, with batched direct gets: one request
// answers up to a page of messages followed by an end-of-batch marker. It
// calls fn for each record until fn returns false, limit records were read
// (0: no limit) or the stream is exhausted. When the stream has followers
// (see fenced), it first asks the leader for the last sequence on subject,
// and reads until it has reached it.
func (s *Store) directGet(ctx context.Context, t tenant.ID, from uint64, subject string, limit int, fn func(streams.Record) bool) error {
	var fence uint64
	if s.fenced() {
		var err error
		if fence, err = s.leaderSeq(ctx, t, subject); err != nil {
			return err
		}
	}
	return s.directGetTo(ctx, t, from, fence, subject, limit, fn)
}

// directGetTo is directGet knowing what the read must reach: the sequence
// fence (0: whatever the replica that answers holds). While a read ends
// before fence, it is sent again for the rest after a short pause, for at
// most fenceWait, then fails with ErrUnavailable.
func (s *Store) directGetTo(ctx context.Context, t tenant.ID, from, fence uint64, subject string, limit int, fn func(streams.Record) bool) error {
	var (
		begun time.Time
		pause time.Duration
	)
	for {
		last, n, done, err := s.directRead(ctx, t, from, subject, limit, fn)
		if err != nil || done || fence < from || last >= fence {
			return err
		}
		if n > 0 {
			from = last + 1
			if limit > 0 {
				limit -= n
			}
		}
		if begun.IsZero() {
			begun = time.Now()
		}
		if pause, err = awaitFence(ctx, begun, pause, subject, fence, from-1); err != nil {
			return err
		}
	}
}

// directRead is one pass of directGet: it returns the last sequence read
// (0: none), how many records it passed to fn, and done when fn asked to
// stop or limit records were read.
func (s *Store) directRead(ctx context.Context, t tenant.ID, from uint64, subject string, limit int, fn func(streams.Record) bool) (last uint64, read int, done bool, err error) {
	for {
		page := directPage
		if limit > 0 {
			page = min(page, limit-read)
		}
		req, err := json.Marshal(struct {
			Seq     uint64 `json:"seq"`
			NextFor string `json:"next_by_subj"`
			Batch   int    `json:"batch"`
		}{from, subject, page})
		if err != nil {
			return 0, read, false, err
		}
		inbox := s.nc.NewRespInbox()
		// A channel sized for one page and its end marker: a sync
		// subscription would allocate a 64k-slot channel per read.
		ch := make(chan *nats.Msg, page+8)
		sub, err := s.nc.ChanSubscribe(inbox, ch)
		if err != nil {
			return 0, read, false, translate(err)
		}
		err = s.nc.PublishRequest(directGetSubject(t), inbox, req)
		if err != nil {
			_ = sub.Unsubscribe()
			return 0, read, false, translate(err)
		}
		seq, more, n, stop, err := s.drainBatch(ctx, ch, fn)
		_ = sub.Unsubscribe()
		if err != nil {
			return 0, read, false, s.fail(ctx, t, err)
		}
		read += n
		if n > 0 {
			last = seq
		}
		if stop || (limit > 0 && read >= limit) {
			return last, read, true, nil
		}
		if !more || n == 0 {
			return last, read, false, nil
		}
		from = seq + 1
	}
}

// drainBatch reads one direct-get batch answer. It returns the last sequence
// read, whether more messages match after it, how many records were passed
// to fn and whether fn asked to stop.
func (s *Store) drainBatch(ctx context.Context, ch <-chan *nats.Msg, fn func(streams.Record) bool) (last uint64, more bool, n int, stop bool, err error) {
	rctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for {
		var msg *nats.Msg
		select {
		case msg = <-ch:
		case <-rctx.Done():
			return 0, false, n, false, fmt.Errorf("direct get: %w", rctx.Err())
		}
		if status := msg.Header.Get(statusHdr); len(msg.Data) == 0 && status != "" {
			switch status {
			case "204": // end of batch
				pending, _ := strconv.ParseUint(msg.Header.Get(numPendingHdr), 10, 64)
				return last, pending > 0, n, stop, nil
			case "404": // nothing (more) matches
				return last, false, n, stop, nil
			case "503": // no stream answers for this tenant
				return 0, false, n, false, fmt.Errorf("direct get: %w", errNoResponders)
			default:
				return 0, false, n, false, fmt.Errorf("%w: direct get: status %s %s", streams.ErrUnavailable, status, msg.Header.Get(descriptionHdr))
			}
		}
		seq, err := strconv.ParseUint(msg.Header.Get(sequenceHdr), 10, 64)
		if err != nil {
			return 0, false, n, false, fmt.Errorf("direct get: bad sequence: %w", err)
		}
		last = seq
		if stop {
			continue // read the rest of the batch so the inbox is clean
		}
		rec, err := recordOf(msg.Header, msg.Data, streams.Position(seq))
		if err != nil {
			return 0, false, n, false, fmt.Errorf("event at %d: %w", seq, err)
		}
		n++
		if !fn(rec) {
			stop = true
		}
	}
}
