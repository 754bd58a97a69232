// Package kurrentdbtest provides an in-process stand-in for a KurrentDB
// server, for tests. It is a stand-in, not KurrentDB.
//
// The stand-in speaks the same gRPC protocol as a KurrentDB node, over real
// TCP on 127.0.0.1 without TLS, so that code using the official Go client
// (github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb) can be tested over a
// real connection. It proves the wire mapping (which messages, fields and
// error encodings the client sends and understands), not KurrentDB's
// semantics: everything is kept in memory, there are no system streams,
// projections, persistent subscriptions, deletes, ACLs or clustering, and the
// positions it hands out only look like transaction-file offsets.
//
// Implemented RPCs:
//   - ServerFeatures.GetSupportedMethods (v1), which the client calls when it
//     connects; it advertises version 25.1.0 and the v2 "appendsession"
//     method, so that the client allows MultiStreamAppend.
//   - Streams.Append (v1): expected revision any / no_stream /
//     stream_exists / exact, WrongExpectedVersion on conflict, idempotent
//     retries; a write reports its first event's position.
//   - Streams.Read (v1): stream and $all reads in both directions, with the
//     optional filter on stream-name prefixes, and catch-up subscriptions to
//     $all (confirmation, stored events, caught-up, then live events). A
//     position that is no event's is refused, as the server refuses it.
//   - StreamsService.AppendSession (v2): atomic multi-stream append, with the
//     StreamRevisionConflict error details the client decodes (a retry is a
//     conflict: the adapter recognises retries itself).
//
// Everything else answers codes.Unimplemented, which the client reports as
// ErrorCodeUnsupportedFeature.
package kurrentdbtest

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	features "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/serverfeatures"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	streamerrors "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v2/streams/errors"
	apiv2 "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v2/streams/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ServerVersion is the version the stand-in reports to the client.
const ServerVersion = "25.1.0"

// firstPosition is the log position of the first event. Like a real
// transaction file, the log does not start at zero.
const firstPosition = 4096

// Expected-revision values, as the v2 protocol encodes them. A value of zero
// or more is an exact revision. The v1 protocol is mapped onto these.
const (
	expectNoStream int64 = -1
	expectAny      int64 = -2
	expectExists   int64 = -4
)

// Recorded is one event of the stand-in's log, as stored.
type Recorded struct {
	ID          uuid.UUID
	Stream      string
	Revision    uint64 // 0-based, per stream
	Position    uint64 // commit and prepare position (always equal here)
	Type        string
	ContentType string // "application/json" or "application/octet-stream"
	Created     time.Time
	Metadata    []byte // the user's (custom) metadata
	Data        []byte
}

// Server is a running stand-in. All methods are safe for concurrent use.
type Server struct {
	lis       net.Listener
	grpc      *grpc.Server
	done      chan struct{} // closed by Close, ends live subscriptions
	closeOnce sync.Once

	mu      sync.Mutex
	log     []*Recorded            // the global log ($all), in position order
	streams map[string][]*Recorded // per stream, indexed by revision
	next    uint64                 // position of the next event
	changed chan struct{}          // closed and replaced after every write
}

// Start listens on 127.0.0.1:0 and serves until t's cleanup (or Close).
func Start(t testing.TB) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kurrentdbtest: listen: %v", err)
	}
	s := &Server{
		lis:     lis,
		done:    make(chan struct{}),
		streams: make(map[string][]*Recorded),
		next:    firstPosition,
		changed: make(chan struct{}),
	}
	s.grpc = grpc.NewServer(
		// The client pings every 10 seconds even without active calls; the
		// default policy would answer that with GOAWAY after a while.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             time.Second,
			PermitWithoutStream: true,
		}),
		// Match the client's own limit on message size.
		grpc.MaxRecvMsgSize(17*1024*1024),
	)
	features.RegisterServerFeaturesServer(s.grpc, featuresService{})
	api.RegisterStreamsServer(s.grpc, streamsV1{s: s})
	apiv2.RegisterStreamsServiceServer(s.grpc, streamsV2{s: s})
	go func() { _ = s.grpc.Serve(lis) }()
	t.Cleanup(s.Close)
	return s
}

// URL returns a connection string that kurrentdb.ParseConnectionString and
// kurrentdb.NewClient turn into a plaintext single-node client (no gossip).
func (s *Server) URL() string {
	return "kurrentdb://" + s.Addr() + "?tls=false"
}

// Addr returns the host:port the stand-in listens on.
func (s *Server) Addr() string {
	return s.lis.Addr().String()
}

// Close stops the server, ending open calls and subscriptions. It is safe to
// call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.grpc.Stop()
	})
}

// Events returns a copy of the whole log ($all) in position order.
func (s *Server) Events() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.log))
	for i, r := range s.log {
		out[i] = *r
		out[i].Metadata = append([]byte(nil), r.Metadata...)
		out[i].Data = append([]byte(nil), r.Data...)
	}
	return out
}

// ---------------------------------------------------------------------------
// The in-memory store.

// proposed is an event on its way in, before it has a revision and position.
type proposed struct {
	id          uuid.UUID
	typ         string
	contentType string
	metadata    []byte
	data        []byte
}

// appendOp asks to append events to one stream, if its revision matches.
type appendOp struct {
	stream   string
	expected int64
	events   []proposed
}

// appendResult is what became of one appendOp.
type appendResult struct {
	stream      string
	revision    int64 // last revision of the stream (or of the retried batch); -1 if none
	position    uint64
	hasPosition bool // false when nothing was (or had been) written
}

// conflict says why an appendOp was refused.
type conflict struct {
	stream   string
	expected int64
	actual   int64 // -1 when the stream does not exist
}

// revision returns the stream's last revision, or -1. Callers hold s.mu.
func (s *Server) revision(stream string) int64 {
	return int64(len(s.streams[stream])) - 1
}

// commit applies all ops atomically: either every expected revision holds and
// every event is written, or nothing is written and the first failing op is
// reported. With dedupe (v1 appends), a retry of events already written (same
// ids, in the same order, where the expected revision says they belong) is
// answered with the original result and nothing is written, as KurrentDB
// does; a multi-stream append's retry is answered as a conflict here, so
// that the adapter's own recognition of retries is what tests exercise.
func (s *Server) commit(ops []appendOp, dedupe bool) ([]appendResult, *conflict) {
	s.mu.Lock()
	defer s.mu.Unlock()

	results := make([]appendResult, len(ops))
	retry := dedupe
	for i, op := range ops {
		if !retry {
			break
		}
		r, ok := s.retried(op)
		retry = ok
		results[i] = r
	}
	if retry {
		return results, nil
	}

	for _, op := range ops {
		actual := s.revision(op.stream)
		ok := op.expected == expectAny ||
			(op.expected == expectNoStream && actual == -1) ||
			(op.expected == expectExists && actual >= 0) ||
			(op.expected >= 0 && op.expected == actual)
		if !ok {
			return nil, &conflict{stream: op.stream, expected: op.expected, actual: actual}
		}
	}

	now := time.Now()
	wrote := false
	for i, op := range ops {
		res := appendResult{stream: op.stream}
		for _, ev := range op.events {
			rec := &Recorded{
				ID:          ev.id,
				Stream:      op.stream,
				Revision:    uint64(len(s.streams[op.stream])),
				Position:    s.next,
				Type:        ev.typ,
				ContentType: ev.contentType,
				Created:     now,
				Metadata:    ev.metadata,
				Data:        ev.data,
			}
			// Advance like a transaction file: a fixed record header plus
			// the variable parts, so the gaps between positions vary.
			s.next += 100 + uint64(len(op.stream)+len(ev.typ)+len(ev.metadata)+len(ev.data))
			s.log = append(s.log, rec)
			s.streams[op.stream] = append(s.streams[op.stream], rec)
			if !res.hasPosition {
				// The position of the write is its first event's: an
				// adapter that needs its last event's reads it back.
				res.position, res.hasPosition = rec.Position, true
			}
			wrote = true
		}
		res.revision = s.revision(op.stream)
		results[i] = res
	}
	if wrote {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return results, nil
}

// retried reports whether op's events are exactly the events already stored
// where op's expected revision puts them, and if so what the original append
// returned. Callers hold s.mu.
func (s *Server) retried(op appendOp) (appendResult, bool) {
	stored := s.streams[op.stream]
	if len(op.events) == 0 || len(stored) == 0 {
		return appendResult{}, false
	}
	from := -1
	switch {
	case op.expected >= 0:
		from = int(op.expected) + 1
	case op.expected == expectNoStream:
		from = 0
	default: // any or stream_exists: find where the first event went
		for i, r := range stored {
			if r.ID == op.events[0].id {
				from = i
				break
			}
		}
	}
	if from < 0 || from+len(op.events) > len(stored) {
		return appendResult{}, false
	}
	for i, ev := range op.events {
		if stored[from+i].ID != ev.id {
			return appendResult{}, false
		}
	}
	first, last := stored[from], stored[from+len(op.events)-1]
	return appendResult{stream: op.stream, revision: int64(last.Revision), position: first.Position, hasPosition: true}, true
}

// ---------------------------------------------------------------------------
// v1 ServerFeatures.

type featuresService struct {
	features.UnimplementedServerFeaturesServer
}

// GetSupportedMethods is the first call the client makes on a new
// connection (if it fails, the connection attempt fails). The client parses
// the version and looks for a few method names: "appendsession" under any
// service unlocks MultiStreamAppend. "appendrecords" is left out on purpose,
// since AppendRecords is not implemented: the client then refuses it itself
// with ErrorCodeUnsupportedFeature. The other names are informative only.
func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*features.SupportedMethods, error) {
	method := func(service, name string) *features.SupportedMethod {
		return &features.SupportedMethod{ServiceName: service, MethodName: name}
	}
	return &features.SupportedMethods{
		EventStoreServerVersion: ServerVersion,
		Methods: []*features.SupportedMethod{
			method("event_store.client.server_features.serverfeatures", "getsupportedmethods"),
			method("event_store.client.streams.streams", "read"),
			method("event_store.client.streams.streams", "append"),
			method("kurrentdb.protocol.v2.streams.streamsservice", "appendsession"),
		},
	}, nil
}

// ---------------------------------------------------------------------------
// v1 Streams: Append.

type streamsV1 struct {
	api.UnimplementedStreamsServer
	s *Server
}

// Append reads the options message, then the proposed events until the
// client closes its side, and answers once.
func (h streamsV1) Append(stream grpc.ClientStreamingServer[api.AppendReq, api.AppendResp]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil || len(opts.GetStreamIdentifier().GetStreamName()) == 0 {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options and a stream name")
	}
	op := appendOp{stream: string(opts.GetStreamIdentifier().GetStreamName()), expected: expectAny}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		op.expected = int64(e.Revision)
	case *api.AppendReq_Options_NoStream:
		op.expected = expectNoStream
	case *api.AppendReq_Options_StreamExists:
		op.expected = expectExists
	}

	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		ev, err := proposedFromV1(msg.GetProposedMessage())
		if err != nil {
			return err
		}
		op.events = append(op.events, ev)
	}

	results, c := h.s.commit([]appendOp{op}, true)
	if c != nil {
		return stream.SendAndClose(wrongExpectedVersion(c))
	}
	r := results[0]
	success := &api.AppendResp_Success{}
	if r.revision < 0 {
		success.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(r.revision)}
	}
	if r.hasPosition {
		success.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: r.position, PreparePosition: r.position,
		}}
	} else {
		success.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return stream.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: success}})
}

// proposedFromV1 checks and converts one v1 proposed message. Like the
// server, it insists on the "type" and "content-type" metadata entries.
func proposedFromV1(m *api.AppendReq_ProposedMessage) (proposed, error) {
	if m == nil {
		return proposed{}, status.Error(codes.InvalidArgument, "expected a proposed message after the options")
	}
	id, err := uuidFromProto(m.GetId())
	if err != nil {
		return proposed{}, status.Errorf(codes.InvalidArgument, "bad event id: %v", err)
	}
	typ, ok := m.GetMetadata()["type"]
	if !ok {
		return proposed{}, status.Error(codes.InvalidArgument, "required metadata property missing: type")
	}
	contentType, ok := m.GetMetadata()["content-type"]
	if !ok {
		return proposed{}, status.Error(codes.InvalidArgument, "required metadata property missing: content-type")
	}
	return proposed{id: id, typ: typ, contentType: contentType, metadata: m.GetCustomMetadata(), data: m.GetData()}, nil
}

// wrongExpectedVersion builds the v1 answer to a failed revision check. The
// client turns it into a *kurrentdb.Error with ErrorCodeWrongExpectedVersion.
// Both the current fields and the legacy (20.6.0) ones are filled, as the
// server does.
func wrongExpectedVersion(c *conflict) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if c.actual < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(c.actual)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(c.actual)}
	}
	switch c.expected {
	case expectNoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expectAny:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case expectExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(c.expected)}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(c.expected)}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// ---------------------------------------------------------------------------
// v1 Streams: Read (reads and subscriptions).

// Read serves a finite read (count option) or a subscription (subscription
// option). A finite read sends only events, or a single stream_not_found:
// the client panics on any other message in a read.
func (h streamsV1) Read(req *api.ReadReq, stream grpc.ServerStreamingServer[api.ReadResp]) error {
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "read options are required")
	}
	f, err := newFilter(opts.GetFilter())
	if err != nil {
		return err
	}
	stringIDs := opts.GetUuidOption().GetString_() != nil
	if opts.GetSubscription() != nil {
		return h.s.subscribe(opts, f, stringIDs, stream)
	}
	backwards := opts.GetReadDirection() == api.ReadReq_Options_Backwards

	var records []*Recorded
	switch {
	case opts.GetStream() != nil:
		name := string(opts.GetStream().GetStreamIdentifier().GetStreamName())
		h.s.mu.Lock()
		stored := h.s.streams[name]
		h.s.mu.Unlock()
		if len(stored) == 0 {
			return stream.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{
				StreamNotFound: &api.ReadResp_StreamNotFound{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}},
			}})
		}
		records = selectFromStream(stored, opts.GetStream(), backwards)
		f = nil // filters apply to $all only
	case opts.GetAll() != nil:
		h.s.mu.Lock()
		all := h.s.log
		h.s.mu.Unlock()
		var err error
		if records, err = selectFromAll(all, opts.GetAll(), backwards); err != nil {
			return err
		}
	default:
		return status.Error(codes.InvalidArgument, "read options need a stream or $all")
	}

	count := opts.GetCount()
	var sent uint64
	for _, r := range records {
		if sent >= count {
			break
		}
		if !f.match(r) {
			continue
		}
		if err := stream.Send(eventResp(r, stringIDs)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// selectFromStream returns a stream's events in read order, starting where
// the options say (inclusive). stored is indexed by revision.
func selectFromStream(stored []*Recorded, o *api.ReadReq_Options_StreamOptions, backwards bool) []*Recorded {
	n := uint64(len(stored))
	if !backwards {
		from := uint64(0)
		switch {
		case o.GetEnd() != nil:
			from = n
		case o.GetStart() == nil:
			from = min(o.GetRevision(), n)
		}
		return stored[from:]
	}
	from := n - 1 // end
	switch {
	case o.GetStart() != nil:
		from = 0
	case o.GetEnd() == nil:
		from = min(o.GetRevision(), n-1)
	}
	return reversed(stored[:from+1])
}

// selectFromAll returns the log in read order. Forwards from a position
// includes the event at that position; backwards from a position starts
// with the event before it. A position that is no event's is refused, as
// the server refuses it.
func selectFromAll(all []*Recorded, o *api.ReadReq_Options_AllOptions, backwards bool) ([]*Recorded, error) {
	switch {
	case o.GetStart() != nil && !backwards:
		return all, nil
	case o.GetEnd() != nil && backwards:
		return reversed(all), nil
	case o.GetStart() != nil, o.GetEnd() != nil:
		return nil, nil
	}
	i, err := at(all, o.GetPosition().GetCommitPosition())
	if err != nil {
		return nil, err
	}
	if !backwards {
		return all[i:], nil
	}
	return reversed(all[:i]), nil
}

// at is the index in the log of the event at position p (0: the start),
// or the InvalidArgument error the server answers for a position that is
// no event's.
func at(all []*Recorded, p uint64) (int, error) {
	if p == 0 {
		return 0, nil
	}
	i, ok := slices.BinarySearchFunc(all, p, func(r *Recorded, p uint64) int { return cmp.Compare(r.Position, p) })
	if !ok {
		return 0, status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
	}
	return i, nil
}

func reversed(in []*Recorded) []*Recorded {
	out := make([]*Recorded, len(in))
	for i, r := range in {
		out[len(in)-1-i] = r
	}
	return out
}

// subscribe serves a catch-up subscription: the confirmation, the stored
// events after the start point, a caught-up message, then every new matching
// event until the client goes away or the server closes. For filtered $all
// subscriptions it also sends a checkpoint every (window x multiplier)
// scanned events, roughly as the server does.
func (s *Server) subscribe(opts *api.ReadReq_Options, f *filter, stringIDs bool, stream grpc.ServerStreamingServer[api.ReadResp]) error {
	a := opts.GetAll()
	if a == nil {
		// The adapter subscribes to $all only.
		return status.Error(codes.Unimplemented, "kurrentdbtest: subscriptions to $all only")
	}
	every := checkpointInterval(opts, f) // 0: no checkpoints
	s.mu.Lock()
	cursor := 0 // next index into s.log to look at
	switch {
	case a.GetStart() != nil:
	case a.GetEnd() != nil:
		cursor = len(s.log)
	default: // strictly after the given event
		i, err := at(s.log, a.GetPosition().GetCommitPosition())
		if err != nil {
			s.mu.Unlock()
			return err
		}
		cursor = i
		if a.GetPosition().GetCommitPosition() > 0 {
			cursor++
		}
	}
	s.mu.Unlock()

	confirm := &api.ReadResp{Content: &api.ReadResp_Confirmation{
		Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}}
	if err := stream.Send(confirm); err != nil {
		return err
	}

	caughtUp := false
	scanned := 0
	for {
		s.mu.Lock()
		batch := s.log[cursor:]
		changed := s.changed
		up := &api.ReadResp_CaughtUp{Timestamp: timestamppb.Now()}
		if len(s.log) > 0 {
			last := s.log[len(s.log)-1].Position
			up.Position = &api.ReadResp_Position{CommitPosition: last, PreparePosition: last}
		}
		s.mu.Unlock()
		cursor += len(batch)

		for _, r := range batch {
			if f.match(r) {
				if err := stream.Send(eventResp(r, stringIDs)); err != nil {
					return err
				}
			}
			if scanned++; every > 0 && scanned%every == 0 {
				cp := &api.ReadResp_Checkpoint{CommitPosition: r.Position, PreparePosition: r.Position, Timestamp: timestamppb.Now()}
				if err := stream.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: cp}}); err != nil {
					return err
				}
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := stream.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: up}}); err != nil {
				return err
			}
		}

		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return status.Error(codes.Unavailable, "kurrentdbtest: server closed")
		}
	}
}

// checkpointInterval returns after how many scanned events a filtered $all
// subscription gets a checkpoint, or 0 for none.
func checkpointInterval(opts *api.ReadReq_Options, f *filter) int {
	fo := opts.GetFilter()
	if f == nil || opts.GetAll() == nil || fo.GetMax() == 0 {
		return 0
	}
	return int(fo.GetMax()) * max(int(fo.GetCheckpointIntervalMultiplier()), 1)
}

// eventResp converts a stored event to the v1 read message. The "created"
// metadata entry is in 100-nanosecond ticks since the Unix epoch: that is
// what the server sends and what the client parses (it exits the process if
// the entry is missing or not a number).
func eventResp(r *Recorded, stringIDs bool) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               uuidToProto(r.ID, stringIDs),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.Stream)},
			StreamRevision:   r.Revision,
			PreparePosition:  r.Position,
			CommitPosition:   r.Position,
			Metadata: map[string]string{
				"type":         r.Type,
				"content-type": r.ContentType,
				"created":      strconv.FormatInt(r.Created.UnixNano()/100, 10),
			},
			CustomMetadata: r.Metadata,
			Data:           r.Data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.Position},
	}}}
}

// filter is the server-side $all filter on stream-name prefixes, the one
// the adapter sends (others answer Unimplemented). A nil filter matches
// everything.
type filter struct {
	prefixes []string
}

func newFilter(o *api.ReadReq_Options_FilterOptions) (*filter, error) {
	if o == nil {
		return nil, nil
	}
	expr := o.GetStreamIdentifier()
	if expr == nil || expr.GetRegex() != "" {
		return nil, status.Error(codes.Unimplemented, "kurrentdbtest: stream-name prefix filters only")
	}
	return &filter{prefixes: expr.GetPrefix()}, nil
}

func (f *filter) match(r *Recorded) bool {
	if f == nil || len(f.prefixes) == 0 {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(r.Stream, p) {
			return true
		}
	}
	return false
}

// uuidFromProto and uuidToProto use the client's structured encoding (the
// two big-endian halves of the UUID) or the string form.
func uuidFromProto(id *shared.UUID) (uuid.UUID, error) {
	if st := id.GetStructured(); st != nil {
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[:8], uint64(st.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(u[8:], uint64(st.GetLeastSignificantBits()))
		return u, nil
	}
	if id.GetString_() != "" {
		return uuid.Parse(id.GetString_())
	}
	return uuid.New(), nil // no id given: the server makes one up
}

func uuidToProto(u uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: u.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(u[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(u[8:])),
	}}}
}

// ---------------------------------------------------------------------------
// v2 StreamsService: AppendSession.

type streamsV2 struct {
	apiv2.UnimplementedStreamsServiceServer
	s *Server
}

// AppendSession reads one AppendRequest per stream until the client closes
// its side, then commits them all or none. Errors are gRPC statuses with the
// typed details the client decodes (google.rpc.Status details): on a
// revision conflict, FAILED_PRECONDITION with StreamRevisionConflictErrorDetails,
// which the client returns as ErrorCodeStreamRevisionConflict wrapping a
// *kurrentdb.StreamRevisionConflictError.
func (h streamsV2) AppendSession(stream grpc.ClientStreamingServer[apiv2.AppendRequest, apiv2.AppendSessionResponse]) error {
	var ops []appendOp
	var bad error // the first problem; reported only after the client is done sending
	seen := make(map[string]bool)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if bad != nil {
			continue
		}
		switch {
		case req.GetStream() == "":
			bad = status.Error(codes.InvalidArgument, "append request without a stream name")
		case seen[req.GetStream()]:
			bad = detailedError(codes.Aborted,
				fmt.Sprintf("stream %q appears more than once in the append session", req.GetStream()),
				&streamerrors.StreamAlreadyInAppendSessionErrorDetails{Stream: req.GetStream()})
		}
		seen[req.GetStream()] = true
		op := appendOp{stream: req.GetStream(), expected: expectAny}
		if req.ExpectedRevision != nil {
			op.expected = req.GetExpectedRevision()
		}
		for _, rec := range req.GetRecords() {
			ev, err := proposedFromV2(rec)
			if err != nil && bad == nil {
				bad = err
			}
			op.events = append(op.events, ev)
		}
		ops = append(ops, op)
	}
	if bad != nil {
		return bad
	}
	if len(ops) == 0 {
		return status.Error(codes.FailedPrecondition, "append session without append requests")
	}

	results, c := h.s.commit(ops, false)
	if c != nil {
		return detailedError(codes.FailedPrecondition,
			fmt.Sprintf("append failed due to a revision conflict on stream %q: expected %d, actual %d", c.stream, c.expected, c.actual),
			&streamerrors.StreamRevisionConflictErrorDetails{Stream: c.stream, ExpectedRevision: c.expected, ActualRevision: c.actual})
	}
	resp := &apiv2.AppendSessionResponse{}
	for _, r := range results {
		out := &apiv2.AppendResponse{Stream: r.stream, StreamRevision: r.revision}
		if r.hasPosition {
			p := int64(r.position)
			out.Position = &p
			resp.Position = max(resp.Position, p)
		}
		resp.Output = append(resp.Output, out)
	}
	return stream.SendAndClose(resp)
}

// detailedError builds a gRPC status error carrying one typed detail.
func detailedError(code codes.Code, msg string, detail protoadapt.MessageV1) error {
	st, err := status.New(code, msg).WithDetails(detail)
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// proposedFromV2 converts a v2 record. The schema name becomes the event
// type. The properties become the custom metadata as a JSON object of
// strings, plus "$schema.format" and "$schema.name", which is how the server
// shows them to v1 readers (the client's own tests check those two keys).
func proposedFromV2(rec *apiv2.AppendRecord) (proposed, error) {
	id := uuid.New()
	if rec.GetRecordId() != "" {
		var err error
		if id, err = uuid.Parse(rec.GetRecordId()); err != nil {
			return proposed{}, status.Errorf(codes.InvalidArgument, "bad record id %q: %v", rec.GetRecordId(), err)
		}
	}
	format := rec.GetSchema().GetFormat()
	contentType := "application/octet-stream"
	if format == apiv2.SchemaFormat_SCHEMA_FORMAT_JSON {
		contentType = "application/json"
	}
	props := make(map[string]string, len(rec.GetProperties())+2)
	for k, v := range rec.GetProperties() {
		if sv, isString := v.AsInterface().(string); isString {
			props[k] = sv
		} else {
			b, _ := json.Marshal(v.AsInterface())
			props[k] = string(b)
		}
	}
	props["$schema.format"] = formatName(format)
	props["$schema.name"] = rec.GetSchema().GetName()
	metadata, err := json.Marshal(props)
	if err != nil {
		return proposed{}, status.Errorf(codes.InvalidArgument, "record properties: %v", err)
	}
	return proposed{id: id, typ: rec.GetSchema().GetName(), contentType: contentType, metadata: metadata, data: rec.GetData()}, nil
}

// formatName spells a schema format the way the server does in metadata.
func formatName(f apiv2.SchemaFormat) string {
	switch f {
	case apiv2.SchemaFormat_SCHEMA_FORMAT_JSON:
		return "Json"
	case apiv2.SchemaFormat_SCHEMA_FORMAT_PROTOBUF:
		return "Protobuf"
	case apiv2.SchemaFormat_SCHEMA_FORMAT_AVRO:
		return "Avro"
	case apiv2.SchemaFormat_SCHEMA_FORMAT_BYTES:
		return "Bytes"
	default:
		return "Unspecified"
	}
}
