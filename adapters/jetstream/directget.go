package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// directPage is how many messages one direct-get request asks for.
const directPage = 256

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
		err = s.nc.PublishRequest("$JS.API.DIRECT.GET."+StreamName(t), inbox, req)
		if err != nil {
			_ = sub.Unsubscribe()
			return translate(err)
		}
		last, more, n, stop, err := s.drainBatch(ctx, ch, fn)
		_ = sub.Unsubscribe()
		if err != nil {
			return err
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
	timeout := time.NewTimer(s.cfg.ReadTimeout)
	defer timeout.Stop()
	for {
		var msg *nats.Msg
		select {
		case msg = <-ch:
		case <-ctx.Done():
			return 0, false, n, false, ctx.Err()
		case <-timeout.C:
			return 0, false, n, false, fmt.Errorf("%w: direct get: no answer in %s", streams.ErrUnavailable, s.cfg.ReadTimeout)
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") != "" {
			switch msg.Header.Get("Status") {
			case "204": // end of batch
				pending, _ := strconv.ParseUint(msg.Header.Get("Nats-Num-Pending"), 10, 64)
				return last, pending > 0, n, stop, nil
			case "404": // nothing (more) matches
				return last, false, n, stop, nil
			case "503": // no stream answers for this tenant
				return 0, false, n, false, fmt.Errorf("%w: direct get: no responders", streams.ErrUnknownTenant)
			default:
				return 0, false, n, false, fmt.Errorf("%w: direct get status %s %s", streams.ErrUnavailable, msg.Header.Get("Status"), msg.Header.Get("Description"))
			}
		}
		seq, err := strconv.ParseUint(msg.Header.Get("Nats-Sequence"), 10, 64)
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
