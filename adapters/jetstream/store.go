package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// TenantStreamPrefix prefixes the name of every tenant's JetStream stream:
// ATRIUM_EV_<tenant>, holding subjects ev.<tenant>.>.
const TenantStreamPrefix = "ATRIUM_EV_"

// maxBatch is JetStream's limit of messages in one atomic batch.
const maxBatch = 1000

// JetStream API error codes this adapter translates.
const (
	errCodeWrongLastSeq      = 10071
	errCodeBatchDuplicate    = 10201
	errCodeTooManyInflight   = 10210
	errCodeDuplicateConflict = 10158
	errCodeStreamNotFound    = 10059
)

// StoreConfig configures the event store.
type StoreConfig struct {
	// Now stamps RecordedAt; default time.Now.
	Now func() time.Time
	// Duplicates is the server-side de-duplication window for event ids;
	// default 2 minutes. Outside it, a retried append is still recognised by
	// reading the stream's tail.
	Duplicates time.Duration
	// VersionCache bounds how many streams' last (version, sequence) pairs are
	// kept to skip a lookup before an append; default 100,000.
	VersionCache int
	// Replicas of each tenant stream on a NATS cluster; default 1.
	Replicas int
	// ReadTimeout bounds a read's wait for the server; default 10s.
	ReadTimeout time.Duration
}

func (c *StoreConfig) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.VersionCache == 0 {
		c.VersionCache = 100_000
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
}

// Store is a streams.Store on NATS JetStream: one JetStream stream per
// tenant, one subject per event stream, the tenant position being the
// JetStream sequence. It is safe for concurrent use.
type Store struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg StoreConfig

	mu    sync.Mutex
	tails map[string]tail // subject -> last known version and sequence
}

type tail struct {
	version streams.Version
	seq     uint64
}

var _ streams.Store = (*Store)(nil)

// NewStore returns an event store on nc.
func NewStore(nc *nats.Conn, cfg StoreConfig) (*Store, error) {
	cfg.setDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Store{nc: nc, js: js, cfg: cfg, tails: map[string]tail{}}, nil
}

// StreamName is the JetStream stream of tenant t.
func StreamName(t tenant.ID) string { return TenantStreamPrefix + string(t) }

func tenantSubjects(t tenant.ID) string { return "ev." + string(t) + ".>" }

func subjectOf(n streams.Name) string {
	return "ev." + string(n.Tenant()) + "." + n.Aggregate() + "." + n.ID()
}

// tenantOf returns the ctx tenant, and checks that every stream named is its.
func tenantOf(ctx context.Context, names ...streams.Name) (tenant.ID, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if _, err := streams.ParseName(string(n)); err != nil {
			return "", err
		}
		if n.Tenant() != t {
			return "", fmt.Errorf("%w: %s in tenant %s", streams.ErrTenantMismatch, n, t)
		}
	}
	return t, nil
}

// Provision creates the ctx tenant's JetStream stream; it is idempotent.
func (s *Store) Provision(ctx context.Context) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	_, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:               StreamName(t),
		Description:        "Atrium events of tenant " + string(t),
		Subjects:           []string{tenantSubjects(t)},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Replicas:           s.cfg.Replicas,
		Duplicates:         s.cfg.Duplicates,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		DenyDelete:         true,
		DenyPurge:          true,
		MaxMsgSize:         4 << 20,
	})
	if err != nil {
		return translate(fmt.Errorf("provision %s: %w", t, err))
	}
	return nil
}

// Tenants lists the tenants that have an event stream.
func (s *Store) Tenants(ctx context.Context) ([]tenant.ID, error) {
	var out []tenant.ID
	names := s.js.StreamNames(ctx)
	for name := range names.Name() {
		if slug, ok := strings.CutPrefix(name, TenantStreamPrefix); ok {
			if t, err := tenant.Parse(slug); err == nil {
				out = append(out, t)
			}
		}
	}
	if err := names.Err(); err != nil {
		return nil, translate(fmt.Errorf("list tenant streams: %w", err))
	}
	return out, nil
}

// Append implements streams.Store.
func (s *Store) Append(ctx context.Context, stream streams.Name, expected streams.ExpectedVersion, events ...streams.EventData) (streams.AppendResult, error) {
	res, err := s.AppendMulti(ctx, streams.Append{Stream: stream, Expected: expected, Events: events})
	if err != nil {
		return streams.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMulti implements streams.Store: every part is written in one
// JetStream atomic batch, each stream guarded by its expected last subject
// sequence.
func (s *Store) AppendMulti(ctx context.Context, appends ...streams.Append) ([]streams.AppendResult, error) {
	names := make([]streams.Name, len(appends))
	total := 0
	for i, a := range appends {
		names[i] = a.Stream
		if len(a.Events) == 0 {
			return nil, fmt.Errorf("append to %s: no events", a.Stream)
		}
		total += len(a.Events)
	}
	if len(appends) == 0 {
		return nil, errors.New("append: nothing to append")
	}
	t, err := tenantOf(ctx, names...)
	if err != nil {
		return nil, err
	}
	if total > maxBatch {
		return nil, fmt.Errorf("%w: %d events, at most %d", streams.ErrTooLarge, total, maxBatch)
	}
	seen := map[streams.Name]bool{}
	for _, a := range appends {
		if seen[a.Stream] {
			return nil, fmt.Errorf("append: stream %s named twice", a.Stream)
		}
		seen[a.Stream] = true
	}

	for attempt := 0; ; attempt++ {
		res, retry, err := s.appendOnce(ctx, t, appends)
		if !retry || attempt >= 50 {
			return res, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Millisecond):
		}
	}
}

// appendOnce tries the append once. retry is true when the attempt failed
// for a reason that a new attempt may not meet (the stream moved under an
// Any append, too many batches in flight).
func (s *Store) appendOnce(ctx context.Context, t tenant.ID, appends []streams.Append) ([]streams.AppendResult, bool, error) {
	now := s.cfg.Now().UTC()
	type part struct {
		subject string
		base    tail
	}
	parts := make([]part, len(appends))
	for i, a := range appends {
		subj := subjectOf(a.Stream)
		cur, err := s.tail(ctx, t, subj, a.Expected)
		if err != nil {
			return nil, false, err
		}
		if !a.Expected.IsAny() && cur.version != a.Expected.Version() {
			// A retry of an append that succeeded finds its own events at the end.
			if res, ok := s.alreadyAppended(ctx, t, appends); ok {
				return res, false, nil
			}
			return nil, false, fmt.Errorf("%w: %s is at version %d, expected %d", streams.ErrConflict, a.Stream, cur.version, a.Expected.Version())
		}
		parts[i] = part{subject: subj, base: cur}
	}

	var msgs []*nats.Msg
	for i, a := range appends {
		for j, e := range a.Events {
			md := e.Metadata
			md.Tenant = t
			m := nats.NewMsg(parts[i].subject)
			m.Data = e.Data
			for k, v := range streams.EventMetadata(a.Stream, e.Type, parts[i].base.version+streams.Version(j+1), now, md) {
				m.Header.Set(k, v)
			}
			m.Header.Set(nats.MsgIdHdr, e.ID.String())
			if j == 0 {
				m.Header.Set(nats.ExpectedLastSubjSeqHdr, strconv.FormatUint(parts[i].base.seq, 10))
			}
			msgs = append(msgs, m)
		}
	}

	lastSeq, err := s.publish(ctx, t, msgs)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			switch apiErr.ErrorCode {
			case errCodeWrongLastSeq, errCodeBatchDuplicate, errCodeDuplicateConflict:
				s.forget(parts[0].subject)
				for _, p := range parts {
					s.forget(p.subject)
				}
				if res, ok := s.alreadyAppended(ctx, t, appends); ok {
					return res, false, nil
				}
				anyAppend := false
				for _, a := range appends {
					anyAppend = anyAppend || a.Expected.IsAny()
				}
				return nil, anyAppend, fmt.Errorf("%w: %w", streams.ErrConflict, err)
			case errCodeTooManyInflight:
				return nil, true, fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
			}
		}
		return nil, false, translate(err)
	}

	// The batch occupies the sequences lastSeq-total+1 .. lastSeq, in order.
	results := make([]streams.AppendResult, len(appends))
	seq := lastSeq - uint64(len(msgs))
	for i, a := range appends {
		seq += uint64(len(a.Events))
		v := parts[i].base.version + streams.Version(len(a.Events))
		results[i] = streams.AppendResult{Version: v, Position: streams.Position(lastSeq)}
		s.remember(parts[i].subject, tail{version: v, seq: seq})
	}
	return results, false, nil
}

// publish writes msgs: one message as a plain publish, several as one atomic
// batch. It returns the sequence of the last message; a duplicate single
// message returns the original's sequence.
func (s *Store) publish(ctx context.Context, t tenant.ID, msgs []*nats.Msg) (uint64, error) {
	for _, m := range msgs {
		m.Header.Set(nats.ExpectedStreamHdr, StreamName(t))
	}
	if len(msgs) == 1 {
		ack, err := s.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return 0, err
		}
		if ack.Duplicate {
			// Already stored: report it as the conflict-then-verify path does.
			return 0, &jetstream.APIError{ErrorCode: errCodeBatchDuplicate, Description: "duplicate message id"}
		}
		return ack.Sequence, nil
	}
	id := uuid.NewString()
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
	}
	ack, err := s.js.PublishMsg(ctx, msgs[len(msgs)-1])
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// alreadyAppended reports whether every append's events are already the
// last events of their streams, in order (a retried append that succeeded),
// and returns the original results.
func (s *Store) alreadyAppended(ctx context.Context, t tenant.ID, appends []streams.Append) ([]streams.AppendResult, bool) {
	results := make([]streams.AppendResult, len(appends))
	var pos streams.Position
	for i, a := range appends {
		recs, err := s.readSubject(ctx, t, a.Stream)
		if err != nil || len(recs) < len(a.Events) {
			return nil, false
		}
		tailRecs := recs[len(recs)-len(a.Events):]
		for j, e := range a.Events {
			if tailRecs[j].ID != e.ID {
				return nil, false
			}
		}
		last := tailRecs[len(tailRecs)-1]
		results[i] = streams.AppendResult{Version: last.Version}
		pos = max(pos, last.Position)
	}
	for i := range results {
		results[i].Position = pos
	}
	return results, true
}

// tail returns the stream's current version and last sequence, from the
// cache when it agrees with an exact expectation, else from the server.
func (s *Store) tail(ctx context.Context, t tenant.ID, subject string, expected streams.ExpectedVersion) (tail, error) {
	if !expected.IsAny() {
		if expected.Version() == 0 {
			// NoStream: the server checks "no message on this subject" itself.
			return tail{}, nil
		}
		s.mu.Lock()
		c, ok := s.tails[subject]
		s.mu.Unlock()
		if ok && c.version == expected.Version() {
			return c, nil
		}
	}
	raw, err := s.js.Stream(ctx, StreamName(t))
	if err != nil {
		return tail{}, translate(err)
	}
	msg, err := raw.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return tail{}, nil
	}
	if err != nil {
		return tail{}, translate(err)
	}
	v, err := strconv.ParseUint(msg.Header.Get(streams.MetaVersion), 10, 64)
	if err != nil {
		return tail{}, fmt.Errorf("stream %s: last event has no version: %w", subject, err)
	}
	c := tail{version: streams.Version(v), seq: msg.Sequence}
	s.remember(subject, c)
	return c, nil
}

func (s *Store) remember(subject string, c tail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tails) >= s.cfg.VersionCache {
		for k := range s.tails { // evict an arbitrary entry
			delete(s.tails, k)
			break
		}
	}
	if prev, ok := s.tails[subject]; !ok || prev.seq < c.seq {
		s.tails[subject] = c
	}
}

func (s *Store) forget(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tails, subject)
}

// ReadStream implements streams.Store.
func (s *Store) ReadStream(ctx context.Context, stream streams.Name) ([]streams.Record, error) {
	t, err := tenantOf(ctx, stream)
	if err != nil {
		return nil, err
	}
	recs, err := s.readSubject(ctx, t, stream)
	if err != nil {
		return nil, err
	}
	if n := len(recs); n > 0 {
		s.remember(subjectOf(stream), tail{version: recs[n-1].Version, seq: uint64(recs[n-1].Position)})
	}
	return recs, nil
}

func (s *Store) readSubject(ctx context.Context, t tenant.ID, stream streams.Name) ([]streams.Record, error) {
	var out []streams.Record
	err := s.directGet(ctx, t, 1, subjectOf(stream), 0, func(r streams.Record) bool {
		out = append(out, r)
		return true
	})
	return out, err
}

// ReadTenant implements streams.Store.
func (s *Store) ReadTenant(ctx context.Context, after streams.Position, limit int) ([]streams.Record, error) {
	t, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	out := make([]streams.Record, 0, min(limit, 1024))
	err = s.directGet(ctx, t, uint64(after)+1, tenantSubjects(t), limit, func(r streams.Record) bool {
		out = append(out, r)
		return len(out) < limit
	})
	return out, err
}

// Head implements streams.Store.
func (s *Store) Head(ctx context.Context) (streams.Position, error) {
	t, err := tenantOf(ctx)
	if err != nil {
		return 0, err
	}
	st, err := s.js.Stream(ctx, StreamName(t))
	if err != nil {
		return 0, translate(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, translate(err)
	}
	return streams.Position(info.State.LastSeq), nil
}

// Subscribe implements streams.Store with an ordered consumer: catch-up
// then live, in order, one handler call at a time.
func (s *Store) Subscribe(ctx context.Context, after streams.Position, handle func(context.Context, streams.Record) error) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName(t), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{tenantSubjects(t)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    uint64(after) + 1,
	})
	if err != nil {
		return translate(err)
	}
	it, err := cons.Messages()
	if err != nil {
		return translate(err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return translate(err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", t, err)
		}
		rec, err := recordOf(msg.Headers(), msg.Data(), streams.Position(meta.Sequence.Stream))
		if err != nil {
			return fmt.Errorf("subscribe %s: event at %d: %w", t, meta.Sequence.Stream, err)
		}
		if err := handle(ctx, rec); err != nil {
			return err
		}
	}
}

func recordOf(h nats.Header, data []byte, pos streams.Position) (streams.Record, error) {
	return streams.RecordFromMetadata(h.Get(nats.MsgIdHdr), data, h.Get, pos)
}

// translate maps NATS errors onto the streams sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStreamNotFound:
		return fmt.Errorf("%w: %w", streams.ErrUnknownTenant, err)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	return err
}
