package jetstream

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Headers of JetStream atomic batch publishing.
const (
	batchIDHdr     = "Nats-Batch-Id"
	batchSeqHdr    = "Nats-Batch-Sequence"
	batchCommitHdr = "Nats-Batch-Commit"
)

// maxAttempts bounds the attempts of one append that meets a transient
// refusal (too many batches in flight, a concurrent write under Any).
const maxAttempts = 40

// errAlreadyStored: the server recognised an event id of the append as one
// it already holds.
var errAlreadyStored = errors.New("event id already stored")

// Append implements streams.Store: one event is a plain JetStream publish,
// several are one atomic batch.
func (s *Store) Append(ctx context.Context, stream streams.Name, expected streams.ExpectedVersion, events ...streams.EventData) (streams.AppendResult, error) {
	res, err := s.AppendMulti(ctx, streams.Append{Stream: stream, Expected: expected, Events: events})
	if err != nil {
		return streams.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMulti implements streams.Store: the events of every part are
// written in one JetStream atomic batch (at most 1000 events, else
// ErrTooLarge), each stream guarded by the last subject sequence matching
// its expected version. The events of one part occupy consecutive
// positions, parts in the order given. Every result's Position is the
// position of the batch's last event.
//
// Transient refusals (too many batches in flight on the server, an Any
// stream written by another process between its read and the write) are
// retried with a jittered backoff, at most 40 times. An error wrapping
// ErrUnavailable leaves the outcome unknown: retrying with the same event
// ids is safe, and answers the original result if the first attempt
// was written.
func (s *Store) AppendMulti(ctx context.Context, appends ...streams.Append) ([]streams.AppendResult, error) {
	t, err := s.checkAppends(ctx, appends)
	if err != nil {
		return nil, err
	}
	defer s.lockAny(appends)()
	for attempt := 1; ; attempt++ {
		res, again, err := s.appendOnce(ctx, t, appends)
		if !again || attempt == maxAttempts {
			return res, err
		}
		// Jittered exponential backoff, 1ms to 64ms.
		wait := time.Duration(1<<min(attempt, 6)) * time.Millisecond
		wait = wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			return nil, translate(fmt.Errorf("append: %w (after %w)", ctx.Err(), err))
		case <-time.After(wait):
		}
	}
}

// lockAny serialises this store's Any appends to a stream: each reads the
// stream's tail then writes after it, so concurrent ones would refuse each
// other and retry. Writers in other processes are still met by retrying.
func (s *Store) lockAny(appends []streams.Append) (unlock func()) {
	var stripes []int
	for _, a := range appends {
		if a.Expected.IsAny() {
			stripes = append(stripes, int(maphash.String(s.seed, string(a.Stream))%uint64(len(s.anyLocks))))
		}
	}
	slices.Sort(stripes) // always in the same order: no deadlock
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		s.anyLocks[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			s.anyLocks[i].Unlock()
		}
	}
}

// checkAppends validates an append before anything is sent
// (streams.CheckAppends, and JetStream's limit of one batch), and returns
// the ctx tenant.
func (s *Store) checkAppends(ctx context.Context, appends []streams.Append) (tenant.ID, error) {
	t, total, err := streams.CheckAppends(ctx, appends)
	if err != nil {
		return "", err
	}
	if total > maxBatch {
		return "", fmt.Errorf("%w: %d events in one append, at most %d", streams.ErrTooLarge, total, maxBatch)
	}
	return t, nil
}

// appendOnce tries the append once. again is true when it failed for a
// reason a new attempt may not meet (a stream moved under an Any append,
// too many batches in flight); err then says why.
func (s *Store) appendOnce(ctx context.Context, t tenant.ID, appends []streams.Append) (res []streams.AppendResult, again bool, err error) {
	bases := make([]tail, len(appends))
	for i, a := range appends {
		if a.Expected == streams.NoStream {
			// The server checks that the subject has no message.
			continue
		}
		subject := subjectOf(a.Stream)
		lastID := a.Events[len(a.Events)-1].ID
		switch {
		case a.Expected.IsAny():
			last, err := s.lastEvent(ctx, t, subject)
			if err != nil {
				return nil, false, err
			}
			if last.id == lastID {
				// A retry of an Any append that succeeded, maybe outside
				// the server's de-duplication window.
				if res, ok, err := s.alreadyAppended(ctx, t, appends); err != nil || ok {
					return res, false, err
				}
			}
			bases[i] = last.tail
		default:
			want := a.Expected.Version()
			if c, ok := s.tails.get(subject); ok && c.version == want {
				bases[i] = c
				continue
			}
			last, err := s.lastEvent(ctx, t, subject)
			if err != nil {
				return nil, false, err
			}
			if last.version != want {
				return s.conflict(ctx, t, appends, fmt.Errorf("%s is at version %d, expected %d", a.Stream, last.version, want))
			}
			bases[i] = last.tail
		}
	}

	msgs, err := s.messages(t, appends, bases)
	if err != nil {
		return nil, false, err
	}
	lastSeq, err := s.publish(ctx, t, msgs)
	if err != nil {
		switch code := apiErrCode(err); {
		case errors.Is(err, errAlreadyStored), code == errCodeBatchDuplicate:
			return s.conflict(ctx, t, appends, err)
		case code == errCodeWrongLastSeq:
			res, _, cerr := s.conflict(ctx, t, appends, err)
			if res != nil || !errors.Is(cerr, streams.ErrConflict) {
				return res, false, cerr
			}
			// When only Any parts moved between their read and the write,
			// read them again.
			if retry, rerr := s.onlyAnyMoved(ctx, t, appends); rerr != nil || !retry {
				return nil, false, errors.Join(cerr, rerr)
			}
			return nil, true, cerr
		case code == errCodeWrongLastSeqBusy, code == errCodeDuplicateInProcess,
			code == errCodeBatchIncomplete, code == errCodeBatchInflight:
			return nil, true, fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
		}
		return nil, false, s.fail(ctx, t, fmt.Errorf("append: %w", err))
	}

	// The batch occupies the sequences lastSeq-len(msgs)+1 .. lastSeq, in
	// the order of the parts.
	res = make([]streams.AppendResult, len(appends))
	seq := lastSeq - uint64(len(msgs))
	first := 0 // the part's first message
	for i, a := range appends {
		seq += uint64(len(a.Events))
		v := bases[i].version + streams.Version(len(a.Events))
		res[i] = streams.AppendResult{Version: v, Position: streams.Position(lastSeq)}
		s.tails.put(msgs[first].Subject, tail{version: v, seq: seq})
		first += len(a.Events)
	}
	return res, false, nil
}

// conflict answers an append the server refused as stale or duplicate: the
// original result when its events are already the last ones of their
// streams (a retry), else ErrConflict.
func (s *Store) conflict(ctx context.Context, t tenant.ID, appends []streams.Append, cause error) ([]streams.AppendResult, bool, error) {
	res, ok, err := s.alreadyAppended(ctx, t, appends)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("append after %w: %w", cause, err)
	case ok:
		return res, false, nil
	}
	return nil, false, fmt.Errorf("%w: %w", streams.ErrConflict, cause)
}

// onlyAnyMoved reports whether an append refused as stale has Any parts
// and every other part is still at its expected version.
func (s *Store) onlyAnyMoved(ctx context.Context, t tenant.ID, appends []streams.Append) (bool, error) {
	anyPart := false
	for _, a := range appends {
		if a.Expected.IsAny() {
			anyPart = true
		}
	}
	if !anyPart {
		return false, nil
	}
	for _, a := range appends {
		if a.Expected.IsAny() {
			continue
		}
		last, err := s.lastEvent(ctx, t, subjectOf(a.Stream))
		if err != nil {
			return false, err
		}
		if last.version != a.Expected.Version() {
			return false, nil
		}
	}
	return true, nil
}

// messages builds the JetStream messages of an append: the metadata in
// one streams.MetaEvent header, the event id as Nats-Msg-Id, the tenant's
// stream as the one expected, and the expected last subject sequence on
// the first message of each stream.
func (s *Store) messages(t tenant.ID, appends []streams.Append, bases []tail) ([]*nats.Msg, error) {
	now := s.cfg.Now().UTC()
	limit := min(int(s.nc.MaxPayload()), maxEventSize)
	stream := StreamName(t)
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	msgs := make([]*nats.Msg, 0, n)
	buf := make([]byte, 0, 256)
	for i, a := range appends {
		subject := subjectOf(a.Stream)
		for j, e := range a.Events {
			buf = streams.AppendEventMeta(buf[:0], a.Stream, e.Type, bases[i].version+streams.Version(j+1), now, e.Metadata)
			m := &nats.Msg{Subject: subject, Data: e.Data, Header: nats.Header{
				streams.MetaEvent:      {string(buf)},
				nats.MsgIdHdr:          {e.ID.String()},
				nats.ExpectedStreamHdr: {stream},
			}}
			if j == 0 {
				m.Header[nats.ExpectedLastSubjSeqHdr] = []string{strconv.FormatUint(bases[i].seq, 10)}
			}
			if size := msgSize(m) + 128; size > limit { // 128: the batch headers
				return nil, fmt.Errorf("%w: event %s of %d bytes, at most %d", streams.ErrTooLarge, e.ID, size, limit)
			}
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// msgSize is the size of m on the wire: headers and data.
func msgSize(m *nats.Msg) int {
	n := len("NATS/1.0\r\n\r\n") + len(m.Data)
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// publish writes msgs, one as a plain publish and several as one atomic
// batch, and returns the sequence of the last. A message whose id the
// stream already holds fails with errAlreadyStored (single) or a
// batch-duplicate API error (batch).
//
// An attempt the stream leaves unanswered (it is electing a leader) is
// sent again after AttemptTimeout, until RequestTimeout.
func (s *Store) publish(ctx context.Context, t tenant.ID, msgs []*nats.Msg) (seq uint64, err error) {
	err = s.attempts(ctx, func(ctx context.Context) (bool, error) {
		seq, err = s.publishOnce(ctx, t, msgs)
		return unanswered(err), err
	})
	return seq, err
}

// attempts calls try, each call bounded by AttemptTimeout, all of them by
// RequestTimeout, again while it says it went unanswered (a stream
// electing a leader answers nothing, or says it has none), after a short
// pause. It returns try's last error.
//
// Each attempt has one context, ending at the earlier of its own and the
// whole request's deadline (a context and a timer per append, not two).
func (s *Store) attempts(ctx context.Context, try func(context.Context) (again bool, err error)) error {
	deadline := time.Now().Add(s.cfg.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		end := time.Now().Add(s.cfg.AttemptTimeout)
		if end.After(deadline) {
			end = deadline
		}
		actx, acancel := context.WithDeadline(ctx, end)
		again, err := try(actx)
		acancel()
		if !again || ctx.Err() != nil {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		select {
		case <-time.After(min(50*time.Millisecond, left)):
		case <-ctx.Done():
			return err
		}
		if !time.Now().Before(deadline) {
			return err
		}
	}
}

// unanswered reports whether a publish got no answer in time. (No
// responders at all is an answer: no stream takes the subject, an
// unprovisioned tenant; the stream's replicas keep taking it while they
// elect a leader.)
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
}

// publishOnce is one attempt of publish.
func (s *Store) publishOnce(ctx context.Context, t tenant.ID, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) == 1 {
		rctx, cancel := s.withTimeout(ctx)
		defer cancel()
		ack, err := s.publishMsg(rctx, msgs[0])
		if err != nil {
			return 0, err
		}
		if ack.Stream != StreamName(t) {
			return 0, fmt.Errorf("%w: acknowledged by stream %q", jetstream.ErrInvalidJSAck, ack.Stream)
		}
		if ack.Duplicate {
			return 0, fmt.Errorf("%w: sequence %d", errAlreadyStored, ack.Sequence)
		}
		return ack.Sequence, nil
	}
	return s.publishBatch(ctx, t, msgs)
}

// pubAck is the server's answer to a publish, or to a batch commit.
type pubAck struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     uint16 `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	BatchID   string `json:"batch"`
	Count     int    `json:"count"`
}

// parseAck reads the server's answer to a publish: an API error as a
// *jetstream.APIError.
func parseAck(data []byte) (pubAck, error) {
	var ack pubAck
	if err := gojson.Unmarshal(data, &ack); err != nil {
		return pubAck{}, fmt.Errorf("%w: %q: %w", jetstream.ErrInvalidJSAck, data, err)
	}
	if e := ack.Error; e != nil {
		return pubAck{}, &jetstream.APIError{Code: e.Code, ErrorCode: jetstream.ErrorCode(e.ErrCode), Description: e.Description}
	}
	if ack.Stream == "" {
		return pubAck{}, fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, data)
	}
	return ack, nil
}

// publishMsg publishes m and waits for its acknowledgement, as
// jetstream.PublishMsg does (asked again, twice, 250 ms apart, when
// nothing answers, then jetstream.ErrNoStreamResponse), with a cheaper
// reading of the acknowledgement.
func (s *Store) publishMsg(ctx context.Context, m *nats.Msg) (pubAck, error) {
	resp, err := s.nc.RequestMsgWithContext(ctx, m)
	for r := 0; errors.Is(err, nats.ErrNoResponders) && r < jetstream.DefaultPubRetryAttempts; r++ {
		select {
		case <-ctx.Done():
		case <-time.After(jetstream.DefaultPubRetryWait):
		}
		resp, err = s.nc.RequestMsgWithContext(ctx, m)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return pubAck{}, jetstream.ErrNoStreamResponse
	}
	if err != nil {
		return pubAck{}, err
	}
	return parseAck(resp.Data)
}

// publishBatch sends msgs as one atomic batch: all but the last without
// waiting, the last as the commit request. The server stores all or none.
func (s *Store) publishBatch(ctx context.Context, t tenant.ID, msgs []*nats.Msg) (uint64, error) {
	select {
	case s.batches <- struct{}{}:
		defer func() { <-s.batches }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	id := uuid.NewString()
	n := len(msgs)
	for i, m := range msgs {
		m.Header.Set(batchIDHdr, id)
		m.Header.Set(batchSeqHdr, strconv.Itoa(i+1))
		if i < n-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, err
			}
		}
	}
	commit := msgs[n-1]
	commit.Header.Set(batchCommitHdr, "1")
	rctx, cancel := s.withTimeout(ctx)
	defer cancel()
	resp, err := s.nc.RequestMsgWithContext(rctx, commit)
	if err != nil {
		return 0, err
	}
	ack, err := parseAck(resp.Data)
	if err != nil {
		return 0, fmt.Errorf("batch %s: %w", id, err)
	}
	if ack.Stream != StreamName(t) || ack.BatchID != id || ack.Count != n {
		return 0, fmt.Errorf("batch %s of %d: acknowledged as batch %s of %d in %s", id, n, ack.BatchID, ack.Count, ack.Stream)
	}
	return ack.Sequence, nil
}

// alreadyAppended reports whether every part's events are already the last
// events of their streams, in order (a retried append that succeeded), and
// then returns the original results. It costs one request per part, plus
// one per part of several events.
func (s *Store) alreadyAppended(ctx context.Context, t tenant.ID, appends []streams.Append) ([]streams.AppendResult, bool, error) {
	res := make([]streams.AppendResult, len(appends))
	var pos uint64
	for i, a := range appends {
		subject := subjectOf(a.Stream)
		k := len(a.Events)
		last, err := s.lastEvent(ctx, t, subject)
		if err != nil {
			return nil, false, err
		}
		if last.id != a.Events[k-1].ID || uint64(last.version) < uint64(k) || last.seq < uint64(k) {
			return nil, false, nil
		}
		if k > 1 {
			// The events of one append are consecutive in the stream,
			// the last at last.seq, which the read must reach.
			recs := make([]streams.Record, 0, k)
			err := s.directGetTo(ctx, t, last.seq-uint64(k)+1, last.seq, subject, k, func(r streams.Record) bool {
				recs = append(recs, r)
				return len(recs) < k
			})
			if err != nil {
				return nil, false, err
			}
			if len(recs) != k || uint64(recs[k-1].Position) != last.seq {
				return nil, false, nil
			}
			for j, e := range a.Events {
				if recs[j].ID != e.ID {
					return nil, false, nil
				}
			}
		}
		res[i].Version = last.version
		pos = max(pos, last.seq)
	}
	for i := range res {
		res[i].Position = streams.Position(pos)
	}
	return res, true, nil
}
