package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Read fence: a direct get is answered by any replica of the tenant
// stream, and on a cluster a follower applies an event a moment after the
// leader acknowledged it. With more than one replica, every read first
// learns from the stream's leader (STREAM.MSG.GET, which only the leader
// answers) what it must include, so that a read sent after an append
// acknowledged to anyone sees it:
//
//   - the last event of a stream, before an append, is read from the
//     leader itself: one message either way;
//   - a batched read of a stream or of the tenant asks the leader for the
//     last sequence on its subject, then reads with direct gets, and reads
//     again after a short pause while the replica that answered ends
//     before that sequence, for at most fenceWait.
//
// With one replica the stream has no follower: reads are direct gets
// alone.

// JetStream API error code of a message get that finds none.
const errCodeNoMessage = 10037

// fenceWait bounds how long a fenced read waits for a replica to reach
// the leader's last sequence; fencePause is the first pause between
// reads, doubled up to fenceMaxPause.
const (
	fenceWait     = 2 * time.Second
	fencePause    = time.Millisecond
	fenceMaxPause = 32 * time.Millisecond
)

func msgGetSubject(t tenant.ID) string { return "$JS.API.STREAM.MSG.GET." + StreamName(t) }

// fenced reports whether reads need the leader's word: the tenant streams
// have followers.
func (s *Store) fenced() bool { return s.cfg.Replicas > 1 }

// storedMsg is the leader's answer to a message get.
type storedMsg struct {
	Message *struct {
		Subject  string `json:"subject"`
		Sequence uint64 `json:"seq"`
		Header   []byte `json:"hdrs"`
	} `json:"message"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     uint16 `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// leaderLast reads the last message on subject from the stream's leader:
// its headers (when headers is true) and sequence; found is false when
// the subject has none. A wildcard subject is allowed.
func (s *Store) leaderLast(ctx context.Context, t tenant.ID, subject string, headers bool) (h nats.Header, seq uint64, found bool, err error) {
	req, err := json.Marshal(struct {
		LastFor  string `json:"last_by_subj"`
		NoHeader bool   `json:"no_hdr,omitempty"`
	}{subject, !headers})
	if err != nil {
		return nil, 0, false, err
	}
	// While the stream elects a leader, nobody answers, or a replica says
	// it has none: asked again.
	var resp storedMsg
	err = s.attempts(ctx, func(ctx context.Context) (bool, error) {
		msg, err := s.nc.RequestWithContext(ctx, msgGetSubject(t), req)
		if err != nil {
			return unanswered(err), err
		}
		resp = storedMsg{}
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return false, fmt.Errorf("answer %q: %w", msg.Data, err)
		}
		return resp.Error != nil && resp.Error.ErrCode == errCodeClusterUnavailable, nil
	})
	if err != nil {
		return nil, 0, false, s.fail(ctx, t, fmt.Errorf("last message on %s from the leader: %w", subject, err))
	}
	if e := resp.Error; e != nil {
		apiErr := &jetstream.APIError{Code: e.Code, ErrorCode: jetstream.ErrorCode(e.ErrCode), Description: e.Description}
		switch apiErr.ErrorCode {
		case errCodeNoMessage:
			return nil, 0, false, nil
		case errCodeClusterUnavailable:
			return nil, 0, false, fmt.Errorf("%w: last message on %s from the leader: %w", streams.ErrUnavailable, subject, apiErr)
		}
		return nil, 0, false, translate(fmt.Errorf("last message on %s from the leader: %w", subject, apiErr))
	}
	if resp.Message == nil {
		return nil, 0, false, fmt.Errorf("last message on %s from the leader: the answer has no message", subject)
	}
	if headers && len(resp.Message.Header) > 0 {
		if h, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return nil, 0, false, fmt.Errorf("last message on %s from the leader: headers: %w", subject, err)
		}
	}
	return h, resp.Message.Sequence, true, nil
}

// leaderSeq returns the sequence of the last message on subject as the
// stream's leader holds it, 0 when none. The tenant's wildcard is asked
// as ">": the stream holds nothing else, and the leader answers ">" from
// the stream's last sequence instead of looking through every subject.
func (s *Store) leaderSeq(ctx context.Context, t tenant.ID, subject string) (uint64, error) {
	if subject == tenantSubjects(t) {
		subject = ">"
	}
	_, seq, _, err := s.leaderLast(ctx, t, subject, false)
	return seq, err
}

// awaitFence pauses before a fenced read is sent again: pause is the
// previous pause (0 for the first), since the first read started at
// begun. It fails with ErrUnavailable once the reads have taken
// fenceWait.
func awaitFence(ctx context.Context, begun time.Time, pause time.Duration, subject string, fence, reached uint64) (time.Duration, error) {
	if time.Since(begun) >= fenceWait {
		return 0, fmt.Errorf("%w: reads of %s reached sequence %d, the leader has %d, after %s",
			streams.ErrUnavailable, subject, reached, fence, fenceWait)
	}
	pause = min(max(2*pause, fencePause), fenceMaxPause)
	select {
	case <-ctx.Done():
		return 0, fmt.Errorf("reads of %s before sequence %d: %w", subject, fence, ctx.Err())
	case <-time.After(pause):
		return pause, nil
	}
}
