package jetstream

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// TenantStreamPrefix prefixes the name of every tenant's JetStream stream:
// ATRIUM_EV_<tenant>, holding subjects ev.<tenant>.>.
const TenantStreamPrefix = "ATRIUM_EV_"

// Limits of one append.
const (
	// maxBatch is JetStream's limit of messages in one atomic batch.
	maxBatch = 1000
	// maxEventSize bounds one stored event, headers included; it is the
	// tenant streams' MaxMsgSize.
	maxEventSize = 4 << 20
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
	// RequestTimeout bounds each wait for the server when ctx has no earlier
	// deadline; default 10s.
	RequestTimeout time.Duration
	// AttemptTimeout is how long an append waits for the stream's answer
	// before it sends the same events again, within RequestTimeout; default
	// 2s. On a cluster, an append sent while its stream elects a new leader
	// is never answered: sent again, the new leader answers it (or says it
	// has it already: the events' ids make the retry harmless).
	AttemptTimeout time.Duration
	// MaxInflightBatches bounds the atomic batches this store has open on the
	// server at once (the server refuses more than 50 per stream); default 32.
	MaxInflightBatches int
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
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MaxInflightBatches == 0 {
		c.MaxInflightBatches = 32
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 2 * time.Second
	}
}

// Validate reports every problem of c.
func (c StoreConfig) Validate() error {
	var errs []error
	if c.Duplicates < 0 {
		errs = append(errs, errors.New("jetstream store: Duplicates is negative"))
	}
	if c.VersionCache < 0 {
		errs = append(errs, errors.New("jetstream store: VersionCache is negative"))
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("jetstream store: Replicas %d, want 1 to 5", c.Replicas))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("jetstream store: RequestTimeout is negative"))
	}
	if c.AttemptTimeout < 0 {
		errs = append(errs, errors.New("jetstream store: AttemptTimeout is negative"))
	}
	if c.MaxInflightBatches < 0 || c.MaxInflightBatches > 50 {
		errs = append(errs, fmt.Errorf("jetstream store: MaxInflightBatches %d, want 1 to 50", c.MaxInflightBatches))
	}
	return errors.Join(errs...)
}

// Store is a streams.Store on NATS JetStream: one JetStream stream per
// tenant (ATRIUM_EV_<tenant>), one subject per event stream
// (ev.<tenant>.<aggregate>.<id>), the tenant position being the JetStream
// stream sequence, so positions are gap-free per tenant. Expected versions
// are enforced by the server (Nats-Expected-Last-Subject-Sequence); several
// events are written as one JetStream atomic batch. It is safe for
// concurrent use, also by several processes on one server.
type Store struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg StoreConfig

	tails    *tailCache
	batches  chan struct{} // a slot per atomic batch in flight
	seed     maphash.Seed
	anyLocks [64]sync.Mutex // Any appends, by stream hash
}

var _ streams.Store = (*Store)(nil)

// NewStore returns an event store on nc. It does not provision any tenant.
func NewStore(nc *nats.Conn, cfg StoreConfig) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Store{
		nc: nc, js: js, cfg: cfg,
		tails:   newTailCache(cfg.VersionCache),
		batches: make(chan struct{}, cfg.MaxInflightBatches),
		seed:    maphash.MakeSeed(),
	}, nil
}

// StreamName is the JetStream stream of tenant t.
func StreamName(t tenant.ID) string { return TenantStreamPrefix + string(t) }

func tenantSubjects(t tenant.ID) string { return "ev." + string(t) + ".>" }

func subjectOf(n streams.Name) string {
	return "ev." + string(n.Tenant()) + "." + n.Aggregate() + "." + n.ID()
}

// withTimeout bounds ctx by the request timeout unless it ends earlier.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.cfg.RequestTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// Provision creates the ctx tenant's JetStream stream, or updates its
// configuration; it is idempotent.
func (s *Store) Provision(ctx context.Context) error {
	t, err := streams.TenantOf(ctx)
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
		MaxMsgSize:         maxEventSize,
	})
	if err != nil {
		return translate(fmt.Errorf("provision %s: %w", t, err))
	}
	return s.awaitReachable(ctx, t)
}

// Deprovision deletes the ctx tenant's stream, every event of it
// (offboarding).
func (s *Store) Deprovision(ctx context.Context) error {
	t, err := streams.TenantOf(ctx)
	if err != nil {
		return err
	}
	if err := s.js.DeleteStream(ctx, StreamName(t)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return translate(fmt.Errorf("deprovision %s: %w", t, err))
	}
	return nil
}

// awaitReachable waits until t's stream answers appends and reads sent on
// this connection. On a cluster a server learns of a new stream's
// subscriptions (its leader's subjects, its replicas' direct gets) a
// moment after the stream is created, and a request sent before finds no
// responders; a stream whose replicas have just changed may leave the
// first requests unanswered. The append probe names another stream as
// the one expected, so the leader refuses it before anything is written.
func (s *Store) awaitReachable(ctx context.Context, t tenant.ID) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	probe := refusedProbe("ev."+string(t)+".provision.probe", StreamName(t))
	err := awaitAnswer(ctx, s.nc, probe, func(ctx context.Context) error {
		_, err := s.nc.RequestWithContext(ctx, directGetSubject(t)+"."+probe.Subject, nil)
		return err
	})
	if err != nil {
		return translate(fmt.Errorf("provision %s: stream not reachable: %w", t, err))
	}
	return nil
}

// refusedProbe is a message on subject that stream refuses before
// anything is written: it names another stream as the one expected (no
// stream name has a dot).
func refusedProbe(subject, stream string) *nats.Msg {
	probe := nats.NewMsg(subject)
	probe.Header.Set(nats.ExpectedStreamHdr, stream+".probe")
	return probe
}

// awaitAnswer sends probe, then also (when given), until both are answered
// on nc, each attempt waiting longer, until ctx ends. On a cluster a server
// learns of a new stream's subscriptions a moment after the stream is
// created, and a request sent before finds no responders; a stream whose
// replicas have just changed may leave the first requests unanswered.
func awaitAnswer(ctx context.Context, nc *nats.Conn, probe *nats.Msg, also func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		rctx, cancel := context.WithTimeout(ctx, wait)
		_, err := nc.RequestMsgWithContext(rctx, probe)
		if err == nil && also != nil {
			err = also(rctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		retry := isNoResponders(err) || errors.Is(err, context.DeadlineExceeded)
		if !retry || ctx.Err() != nil {
			return err
		}
		wait = min(2*wait, 2*time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
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

// ReadStream implements streams.Store: one direct-get request per 256
// events, after one to the stream's leader when it has followers (see
// fenced): the events read include every event acknowledged before.
func (s *Store) ReadStream(ctx context.Context, stream streams.Name) ([]streams.Record, error) {
	t, err := streams.TenantOf(ctx, stream)
	if err != nil {
		return nil, err
	}
	recs, err := s.readSubject(ctx, t, subjectOf(stream), 1, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	if n := len(recs); n > 0 {
		s.tails.put(subjectOf(stream), tail{version: recs[n-1].Version, seq: uint64(recs[n-1].Position)})
	}
	return recs, nil
}

// readSubject returns the events on subject from sequence from on, at most
// limit of them (0: all).
func (s *Store) readSubject(ctx context.Context, t tenant.ID, subject string, from uint64, limit int) ([]streams.Record, error) {
	var out []streams.Record
	err := s.directGet(ctx, t, from, subject, limit, func(r streams.Record) bool {
		out = append(out, r)
		return limit == 0 || len(out) < limit
	})
	return out, err
}

// ReadTenant implements streams.Store, as ReadStream does.
func (s *Store) ReadTenant(ctx context.Context, after streams.Position, limit int) ([]streams.Record, error) {
	t, err := streams.TenantOf(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || after == math.MaxUint64 {
		return nil, nil // nothing is after the largest position
	}
	out := make([]streams.Record, 0, min(limit, 1024))
	err = s.directGet(ctx, t, uint64(after)+1, tenantSubjects(t), limit, func(r streams.Record) bool {
		out = append(out, r)
		return len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("read tenant %s after %d: %w", t, after, err)
	}
	return out, nil
}

// Head implements streams.Store with one stream-info request.
func (s *Store) Head(ctx context.Context) (streams.Position, error) {
	t, err := streams.TenantOf(ctx)
	if err != nil {
		return 0, err
	}
	st, err := s.js.Stream(ctx, StreamName(t))
	if err != nil {
		return 0, translate(fmt.Errorf("head of %s: %w", t, err))
	}
	return streams.Position(st.CachedInfo().State.LastSeq), nil
}

// Subscribe implements streams.Store with an ordered consumer: catch-up
// then live, in order, one handler call at a time. The ordered consumer
// replaces its server-side consumer after a reconnection, a missed
// heartbeat (see pullHeartbeat) or a deleted consumer, resuming after the
// last event handed to handle.
//
// Ordered consumers used to pile up on the server after a node loss: the
// client deletes the consumer it replaces, but in the background and once,
// and that delete fails while the stream has no leader, the very moment a
// replacement happens; stopping the iterator when Subscribe returns stops
// pulling but deletes nothing. Those consumers were kept for the client's
// default inactivity threshold, five minutes, each replacement adding one.
// Now the server drops any left behind after consumerInactive, and
// Subscribe deletes its last one when it returns.
func (s *Store) Subscribe(ctx context.Context, after streams.Position, handle func(context.Context, streams.Record) error) error {
	t, err := streams.TenantOf(ctx)
	if err != nil {
		return err
	}
	cons, err := s.js.OrderedConsumer(ctx, StreamName(t), jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{tenantSubjects(t)},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       uint64(after) + 1,
		InactiveThreshold: consumerInactive,
	})
	if err != nil {
		return translate(fmt.Errorf("subscribe %s: %w", t, err))
	}
	defer s.deleteOrdered(ctx, t, cons)
	it, err := cons.Messages(jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return translate(fmt.Errorf("subscribe %s: %w", t, err))
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
			return translate(fmt.Errorf("subscribe %s: %w", t, err))
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

// deleteOrdered deletes the server-side consumer an ordered consumer of
// tenant t's stream is on, once it is no longer used; one that cannot be
// deleted now is dropped by the server after consumerInactive.
func (s *Store) deleteOrdered(ctx context.Context, t tenant.ID, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	dctx, cancel := s.withTimeout(context.WithoutCancel(ctx))
	defer cancel()
	_ = s.js.DeleteConsumer(dctx, StreamName(t), info.Name) // best effort: see above
}

// recordOf reads a stored event: its metadata in one MetaEvent header,
// or, stored before, in one header per key.
func recordOf(h nats.Header, data []byte, pos streams.Position) (streams.Record, error) {
	get, err := metadataOf(h)
	if err != nil {
		return streams.Record{}, err
	}
	return streams.RecordFromMetadata(h.Get(nats.MsgIdHdr), data, get, pos)
}

// metadataOf returns the bus metadata of a stored event by key, from its
// MetaEvent header or, stored before there was one, its header per key.
func metadataOf(h nats.Header) (get func(key string) string, err error) {
	v := h.Get(streams.MetaEvent)
	if v == "" {
		return h.Get, nil
	}
	m, err := streams.ParseEventMeta(v)
	if err != nil {
		return nil, err
	}
	return m.Get, nil
}

// JetStream API error codes this adapter translates (nats-server's
// errors.json).
const (
	errCodeMsgTooLarge        = 10054 // message size exceeds maximum allowed
	errCodeStreamNotFound     = 10059 // stream not found
	errCodeWrongLastSeq       = 10071 // wrong last sequence: {seq}
	errCodeDuplicateInProcess = 10158 // duplicate message id is in process
	errCodeWrongLastSeqBusy   = 10164 // wrong last sequence (subject written concurrently)
	errCodeBatchIncomplete    = 10176 // atomic publish batch is incomplete
	errCodeBatchTooLarge      = 10199 // atomic publish batch is too large
	errCodeBatchDuplicate     = 10201 // atomic publish batch contains duplicate message id
	errCodeBatchInflight      = 10210 // atomic publish too many inflight
)

// apiErrCode returns the JetStream API error code of err, 0 when none.
func apiErrCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

// errNoResponders: nothing answered on the tenant's subjects, so either the
// tenant is not provisioned or its stream is momentarily without a leader.
var errNoResponders = errors.New("no stream answers")

func isNoResponders(err error) bool {
	return errors.Is(err, errNoResponders) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// fail translates err from an operation on tenant t's stream. A request
// nobody answered is ErrUnknownTenant when the stream does not exist, else
// ErrUnavailable.
func (s *Store) fail(ctx context.Context, t tenant.ID, err error) error {
	if !isNoResponders(err) {
		return translate(err)
	}
	_, serr := s.js.Stream(ctx, StreamName(t))
	if errors.Is(serr, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: %s: %w", streams.ErrUnknownTenant, t, err)
	}
	return fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
}

// translate maps NATS errors onto the streams sentinels, keeping the cause.
func translate(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), apiErrCode(err) == errCodeStreamNotFound:
		return fmt.Errorf("%w: %w", streams.ErrUnknownTenant, err)
	case apiErrCode(err) == errCodeMsgTooLarge, apiErrCode(err) == errCodeBatchTooLarge, errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", streams.ErrTooLarge, err)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		isNoResponders(err):
		return fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
	}
	return err
}

// tail is what the store knows of a stream's end: its version and the
// sequence of its last event. Streams only grow, so a (version, sequence)
// pair once true stays true: a cached pair can be stale (the stream has
// moved on, and the server refuses an append made on it) but never wrong.
type tail struct {
	version streams.Version
	seq     uint64
}

// tailCache is a bounded map subject -> tail in two generations: when the
// current one is full it becomes the old one, and entries read from the old
// one move back to the current one, so the streams in use stay cached.
type tailCache struct {
	mu       sync.Mutex
	size     int
	cur, old map[string]tail
}

func newTailCache(size int) *tailCache {
	return &tailCache{size: max(size/2, 1), cur: map[string]tail{}}
}

func (c *tailCache) get(subject string) (tail, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cur[subject]; ok {
		return t, true
	}
	t, ok := c.old[subject]
	if ok {
		c.setLocked(subject, t)
	}
	return t, ok
}

// put records t unless a later tail of subject is known.
func (c *tailCache) put(subject string, t tail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.cur[subject]; ok && prev.seq >= t.seq {
		return
	}
	if prev, ok := c.old[subject]; ok && prev.seq >= t.seq {
		t = prev
	}
	c.setLocked(subject, t)
}

func (c *tailCache) setLocked(subject string, t tail) {
	if _, ok := c.cur[subject]; !ok && len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[string]tail, c.size)
	}
	c.cur[subject] = t
}
