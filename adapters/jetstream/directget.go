package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

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

// lastEvent reads the last event on subject with one direct get, and
// caches its tail.
func (s *Store) lastEvent(ctx context.Context, t tenant.ID, subject string) (lastMsg, error) {
	rctx, cancel := s.withTimeout(ctx)
	defer cancel()
	msg, err := s.nc.RequestWithContext(rctx, directGetSubject(t)+"."+subject, nil)
	if err != nil {
		return lastMsg{}, s.fail(ctx, t, fmt.Errorf("last event of %s: %w", subject, err))
	}
	switch msg.Header.Get(statusHdr) {
	case "":
	case "404":
		return lastMsg{}, nil
	default:
		return lastMsg{}, fmt.Errorf("%w: last event of %s: status %s %s", streams.ErrUnavailable, subject, msg.Header.Get(statusHdr), msg.Header.Get(descriptionHdr))
	}
	seq, err := strconv.ParseUint(msg.Header.Get(sequenceHdr), 10, 64)
	if err != nil {
		return lastMsg{}, fmt.Errorf("last event of %s: sequence: %w", subject, err)
	}
	v, err := strconv.ParseUint(msg.Header.Get(streams.MetaVersion), 10, 64)
	if err != nil {
		return lastMsg{}, fmt.Errorf("last event of %s at %d: version: %w", subject, seq, err)
	}
	id, err := uuid.Parse(msg.Header.Get(nats.MsgIdHdr))
	if err != nil {
		return lastMsg{}, fmt.Errorf("last event of %s at %d: id: %w", subject, seq, err)
	}
	last := lastMsg{tail: tail{version: streams.Version(v), seq: seq}, id: id}
	s.tails.put(subject, last.tail)
	return last, nil
}

// directGet reads the tenant stream's messages on subject (wildcards
// allowed) from sequence from on, with batched direct gets: one request
// answers up to a page of messages followed by an end-of-batch marker. It
// calls fn for each record until fn returns false, limit records were read
// (0: no limit) or the stream is exhausted.
func (s *Store) directGet(ctx context.Context, t tenant.ID, from uint64, subject string, limit int, fn func(streams.Record) bool) error {
	read := 0
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
			return err
		}
		inbox := s.nc.NewRespInbox()
		// A channel sized for one page and its end marker: a sync
		// subscription would allocate a 64k-slot channel per read.
		ch := make(chan *nats.Msg, page+8)
		sub, err := s.nc.ChanSubscribe(inbox, ch)
		if err != nil {
			return translate(err)
		}
		err = s.nc.PublishRequest(directGetSubject(t), inbox, req)
		if err != nil {
			_ = sub.Unsubscribe()
			return translate(err)
		}
		last, more, n, stop, err := s.drainBatch(ctx, ch, fn)
		_ = sub.Unsubscribe()
		if err != nil {
			return s.fail(ctx, t, err)
		}
		read += n
		if stop || !more || n == 0 || (limit > 0 && read >= limit) {
			return nil
		}
		from = last + 1
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
