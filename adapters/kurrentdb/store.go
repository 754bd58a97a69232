// Package kurrentdb is the event store on KurrentDB (formerly
// EventStoreDB), through the vendor's Go client
// (github.com/kurrent-io/KurrentDB-Client-Go, the successor of
// EventStore-Client-Go/v4).
//
// Streams keep their Atrium names (<tenant>.<aggregate>-<id>); a stream's
// version is its KurrentDB revision plus one. A tenant's position is the
// $all commit position of its event: KurrentDB gives every event of an
// append its own (its place in the transaction file), so a tenant's
// positions strictly increase in append order. Reading a tenant and
// subscribing to it read $all with a server-side filter on the prefix
// "<tenant>.". A provisioned tenant has a marker stream,
// atrium-tenant-<tenant>, outside every tenant's prefix.
//
// An append to several streams at once (an invoice and its tenant's
// numbering) is KurrentDB's multi-stream append, atomic on the server:
// it needs KurrentDB 25.1 or later, and an older server refuses it with an
// error that says so.
package kurrentdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Config configures the store.
type Config struct {
	// URL is a KurrentDB connection string: kurrentdb://host:2113?tls=false,
	// kurrentdb+discover://… for a cluster, with credentials and TLS
	// settings as the client documents them.
	URL string
	// RequestTimeout bounds each call when ctx has no earlier deadline;
	// default 10s.
	RequestTimeout time.Duration
	// MaxAppendSize is the most data and metadata one append may carry;
	// default 1 MiB, the server's own default (its MaxAppendSize setting).
	// Larger appends fail with streams.ErrTooLarge before anything is sent.
	MaxAppendSize int
	// Namespace, when set, prefixes every stream name this store writes and
	// reads, so that several deployments (or test runs) share one server
	// without seeing each other's tenants; default none: streams are named
	// <tenant>.<aggregate>-<id>. It is lower-case letters, digits and
	// dashes ending in one colon ("staging:"): a colon is in no tenant slug
	// and no other place of a name, so no namespace is the start of another
	// one's, nor of a tenant's streams of a deployment without one.
	Namespace string
	// Now stamps each event's RecordedAt; default time.Now.
	Now func() time.Time
	// Logger receives the client's own log at debug level: what it says of
	// discovery and of dropped subscriptions the store reports itself as
	// errors to its callers; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MaxAppendSize <= 0 {
		c.MaxAppendSize = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Store is a streams.Store on KurrentDB.
type Store struct {
	cfg    Config
	client *kdb.Client
	all    *filteredReads

	// provisioned caches the tenants whose marker stream was seen: a
	// tenant is never unprovisioned while a process runs.
	provisioned sync.Map // tenant.ID → struct{}
}

var _ streams.Store = (*Store)(nil)

// Open connects to the KurrentDB of cfg.URL. The connection is made on
// first use; Open fails only on a bad configuration.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.Namespace != "" && !namespaceRE.MatchString(cfg.Namespace) {
		return nil, fmt.Errorf("kurrentdb: namespace %q: want lower-case letters, digits and dashes ending in a colon (staging:)", cfg.Namespace)
	}
	conf, err := kdb.ParseConnectionString(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: connection string: %w", err)
	}
	log := cfg.Logger
	conf.Logger = func(level kdb.LogLevel, format string, args ...any) {
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("kurrentdb client: "+fmt.Sprintf(format, args...), "level", level)
		}
	}
	client, err := kdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: %w", err)
	}
	all, err := dialFiltered(conf, cfg.Namespace)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kurrentdb: %w", err)
	}
	return &Store{cfg: cfg, client: client, all: all}, nil
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}:$`)

// Close closes the connections.
func (s *Store) Close() error {
	return errors.Join(s.client.Close(), s.all.close())
}

// markerStream is the stream that says a tenant is provisioned. It has no
// tenant's prefix, so it is in no tenant's log.
func (s *Store) markerStream(t tenant.ID) string {
	return s.cfg.Namespace + "atrium-tenant-" + string(t)
}

// prefix is what every stream name of the tenant starts with.
func (s *Store) prefix(t tenant.ID) string { return prefix(s.cfg.Namespace, t) }

// prefix is what every stream name of tenant t starts with in namespace.
func prefix(namespace string, t tenant.ID) string { return namespace + string(t) + "." }

// stream is the KurrentDB name of a stream.
func (s *Store) stream(n streams.Name) string { return s.cfg.Namespace + string(n) }

// withTimeout bounds ctx by the request timeout unless it ends earlier.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.cfg.RequestTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// Provision writes the ctx tenant's marker stream unless it exists.
func (s *Store) Provision(ctx context.Context) error {
	t, err := streams.TenantOf(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	data, err := json.Marshal(map[string]string{"tenant": string(t)})
	if err != nil {
		return err
	}
	_, err = s.client.AppendToStream(ctx, s.markerStream(t), kdb.AppendToStreamOptions{StreamState: kdb.NoStream{}}, kdb.EventData{
		EventID: uuid.New(), EventType: "atrium.tenant.provisioned", ContentType: kdb.ContentTypeJson, Data: data,
	})
	if err != nil && code(err) != kdb.ErrorCodeWrongExpectedVersion {
		return fmt.Errorf("kurrentdb: provision %s: %w", t, translate(ctx, err))
	}
	s.provisioned.Store(t, struct{}{})
	return nil
}

// begin starts a call on the ctx tenant's streams: the tenant (every
// stream named must be its), provisioned, and ctx bounded by the request
// timeout (cancel it when done).
func (s *Store) begin(ctx context.Context, names ...streams.Name) (context.Context, context.CancelFunc, tenant.ID, error) {
	t, err := streams.TenantOf(ctx, names...)
	if err != nil {
		return ctx, func() {}, "", err
	}
	ctx, cancel := s.withTimeout(ctx)
	if err := s.known(ctx, t); err != nil {
		cancel()
		return ctx, func() {}, "", err
	}
	return ctx, cancel, t, nil
}

// known fails with streams.ErrUnknownTenant unless t is provisioned.
func (s *Store) known(ctx context.Context, t tenant.ID) error {
	if _, ok := s.provisioned.Load(t); ok {
		return nil
	}
	ok, err := s.marked(ctx, t)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: %s", streams.ErrUnknownTenant, t)
	}
	s.provisioned.Store(t, struct{}{})
	return nil
}

// marked reports whether t's marker stream has its event: one event read.
func (s *Store) marked(ctx context.Context, t tenant.ID) (bool, error) {
	rs, err := s.client.ReadStream(ctx, s.markerStream(t), kdb.ReadStreamOptions{From: kdb.Start{}}, 1)
	if err == nil {
		defer rs.Close()
		_, err = rs.Recv()
	}
	switch {
	case err == nil:
		return true, nil
	case code(err) == kdb.ErrorCodeResourceNotFound || errors.Is(err, io.EOF):
		return false, nil
	}
	return false, translate(ctx, err)
}

// Ping asks whether the server answers, at the cost of one event read
// whatever the size of $all (/readyz asks it; a head would scan $all back
// to the platform's last event).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	_, err := s.marked(ctx, tenant.Platform)
	return err
}

// Append writes events at the end of stream, atomically.
func (s *Store) Append(ctx context.Context, stream streams.Name, expected streams.ExpectedVersion, events ...streams.EventData) (streams.AppendResult, error) {
	res, err := s.AppendMulti(ctx, streams.Append{Stream: stream, Expected: expected, Events: events})
	if err != nil {
		return streams.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMulti writes to several streams of the ctx tenant atomically: one
// stream is one append, several are one multi-stream append.
func (s *Store) AppendMulti(ctx context.Context, appends ...streams.Append) ([]streams.AppendResult, error) {
	t, _, err := streams.CheckAppends(ctx, appends)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.known(ctx, t); err != nil {
		return nil, err
	}
	data := make([][]kdb.EventData, len(appends))
	size := 0
	now := s.cfg.Now()
	for i, a := range appends {
		if data[i], err = eventData(t, now, a.Events); err != nil {
			return nil, err
		}
		for _, e := range data[i] {
			size += len(e.Data) + len(e.Metadata) + len(e.EventType)
		}
	}
	if size > s.cfg.MaxAppendSize {
		return nil, fmt.Errorf("%w: %d bytes in one append, at most %d", streams.ErrTooLarge, size, s.cfg.MaxAppendSize)
	}
	var revisions []uint64 // each stream's last revision after the append
	if len(appends) == 1 {
		var w *kdb.WriteResult
		w, err = s.client.AppendToStream(ctx, s.stream(appends[0].Stream), kdb.AppendToStreamOptions{StreamState: streamState(appends[0].Expected)}, data[0]...)
		if err == nil {
			revisions = []uint64{w.NextExpectedVersion}
			// A one-event append's commit position is its event's; a
			// longer append's is read back from its last event, whatever
			// the server reports for the whole write.
			if len(data[0]) == 1 && w.CommitPosition > 0 {
				return []streams.AppendResult{{Version: streams.Version(w.NextExpectedVersion + 1), Position: streams.Position(w.CommitPosition)}}, nil
			}
		}
	} else {
		var m *kdb.MultiStreamAppendResponse
		m, err = s.client.MultiStreamAppend(ctx, s.requests(appends, data))
		if err == nil {
			// The events are written; an answer that cannot be read is an
			// error, and the command's retry (same event ids) is answered
			// by retried below.
			byStream := make(map[string]int64, len(m.Responses))
			for _, r := range m.Responses {
				byStream[r.Stream] = r.StreamRevision
			}
			for _, a := range appends {
				rev, ok := byStream[s.stream(a.Stream)]
				if !ok || rev < 0 {
					return nil, fmt.Errorf("kurrentdb: a multi-stream append's answer has no revision for %s", a.Stream)
				}
				revisions = append(revisions, uint64(rev))
			}
		}
	}
	switch c := code(err); {
	case err == nil:
		return s.results(ctx, appends, revisions)
	case c == kdb.ErrorCodeWrongExpectedVersion || c == kdb.ErrorCodeStreamRevisionConflict:
		// A retry of an append that was written is answered as it was.
		return s.retried(ctx, appends)
	case c == kdb.ErrorCodeUnsupportedFeature:
		return nil, fmt.Errorf("kurrentdb: an atomic append to several streams needs KurrentDB 25.1 or later: %w", err)
	default:
		return nil, translate(ctx, err)
	}
}

// requests are appends as a multi-stream append's requests.
func (s *Store) requests(appends []streams.Append, data [][]kdb.EventData) iter.Seq[kdb.AppendStreamRequest] {
	return func(yield func(kdb.AppendStreamRequest) bool) {
		for i, a := range appends {
			if !yield(kdb.AppendStreamRequest{StreamName: s.stream(a.Stream), Events: slices.Values(data[i]), ExpectedStreamState: streamState(a.Expected)}) {
				return
			}
		}
	}
}

// results are the append results once each stream's last revision is
// known (the events are written: when the read back fails, the error is
// the caller's, whose retry with the same event ids is answered as the
// first append was): the version is the revision plus one, and the position, for
// every stream, the tenant's position after the append, the last event's
// (read back: the appends are written in order, so it is the last
// stream's last event).
func (s *Store) results(ctx context.Context, appends []streams.Append, revisions []uint64) ([]streams.AppendResult, error) {
	last := len(appends) - 1
	rec, err := s.eventAt(ctx, appends[last].Stream, revisions[last])
	if err != nil {
		return nil, err
	}
	res := make([]streams.AppendResult, len(appends))
	for i := range appends {
		res[i] = streams.AppendResult{Version: streams.Version(revisions[i] + 1), Position: rec.Position}
	}
	return res, nil
}

// retried answers an append refused for its expected version: when every
// stream's last events are exactly the append's (a retry of an append that
// succeeded), the results it had; otherwise streams.ErrConflict.
func (s *Store) retried(ctx context.Context, appends []streams.Append) ([]streams.AppendResult, error) {
	res := make([]streams.AppendResult, len(appends))
	for i, a := range appends {
		tail, err := s.tail(ctx, a.Stream, len(a.Events))
		if err != nil {
			return nil, err
		}
		if len(tail) != len(a.Events) || (!a.Expected.IsAny() && tail[0].Version != a.Expected.Version()+1) {
			return nil, streams.ErrConflict
		}
		for j, r := range tail {
			if r.ID != a.Events[j].ID {
				return nil, streams.ErrConflict
			}
		}
		res[i].Version = tail[len(tail)-1].Version
		res[i].Position = tail[len(tail)-1].Position
	}
	for i := range res {
		res[i].Position = res[len(res)-1].Position
	}
	return res, nil
}

// eventAt reads the event of stream at revision.
func (s *Store) eventAt(ctx context.Context, stream streams.Name, revision uint64) (streams.Record, error) {
	recs, err := s.readStream(ctx, stream, kdb.ReadStreamOptions{From: kdb.Revision(revision)}, 1)
	if err != nil {
		return streams.Record{}, err
	}
	if len(recs) == 0 {
		return streams.Record{}, fmt.Errorf("kurrentdb: %s has no event at revision %d", stream, revision)
	}
	return recs[0], nil
}

// tail reads the last n events of stream, oldest first.
func (s *Store) tail(ctx context.Context, stream streams.Name, n int) ([]streams.Record, error) {
	recs, err := s.readStream(ctx, stream, kdb.ReadStreamOptions{Direction: kdb.Backwards, From: kdb.End{}}, uint64(n))
	slices.Reverse(recs)
	return recs, err
}

// ReadStream returns the events of stream, oldest first.
func (s *Store) ReadStream(ctx context.Context, stream streams.Name) ([]streams.Record, error) {
	ctx, cancel, _, err := s.begin(ctx, stream)
	defer cancel()
	if err != nil {
		return nil, err
	}
	return s.readStream(ctx, stream, kdb.ReadStreamOptions{From: kdb.Start{}}, math.MaxUint64)
}

// readStream reads count events of stream as opts say; a stream that does
// not exist has none.
func (s *Store) readStream(ctx context.Context, stream streams.Name, opts kdb.ReadStreamOptions, count uint64) ([]streams.Record, error) {
	rs, err := s.client.ReadStream(ctx, s.stream(stream), opts, count)
	if err != nil {
		if code(err) == kdb.ErrorCodeResourceNotFound {
			return nil, nil
		}
		return nil, translate(ctx, err)
	}
	defer rs.Close()
	var out []streams.Record
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if code(err) == kdb.ErrorCodeResourceNotFound {
				return nil, nil
			}
			return nil, translate(ctx, err)
		}
		if ev.Event == nil {
			continue
		}
		r, err := recordOf(s.cfg.Namespace, ev.Event)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
}

// ReadTenant returns at most limit events of the ctx tenant after the
// position, from $all filtered on the tenant's prefix.
func (s *Store) ReadTenant(ctx context.Context, after streams.Position, limit int) ([]streams.Record, error) {
	ctx, cancel, t, err := s.begin(ctx)
	defer cancel()
	if err != nil || limit <= 0 {
		return nil, err
	}
	// A read of $all from a position includes the event there: one more
	// is asked for, and the event at after dropped.
	recs, err := s.all.read(ctx, t, forwards, after, uint64(limit)+1)
	if err != nil {
		err = translateFrom(ctx, after, err)
		if errors.Is(err, streams.ErrUnknownPosition) {
			// No event is there: past the tenant's last one, there is
			// nothing after it; before it, the position means nothing.
			if head, herr := s.Head(ctx); herr == nil && after >= head {
				return nil, nil
			}
		}
		return nil, err
	}
	recs = slices.DeleteFunc(recs, func(r streams.Record) bool { return r.Position <= after })
	if len(recs) > limit {
		recs = recs[:limit]
	}
	return recs, nil
}

// Head returns the position of the ctx tenant's last event, 0 when none:
// one event read backwards from the end of $all, filtered.
func (s *Store) Head(ctx context.Context) (streams.Position, error) {
	ctx, cancel, t, err := s.begin(ctx)
	defer cancel()
	if err != nil {
		return 0, err
	}
	recs, err := s.all.read(ctx, t, backwards, 0, 1)
	if err != nil {
		return 0, translate(ctx, err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	return recs[0].Position, nil
}

// Subscribe calls handle for every event of the ctx tenant after the
// position, those stored first, then each as it is appended: a
// subscription to $all filtered on the tenant's prefix.
func (s *Store) Subscribe(ctx context.Context, after streams.Position, handle func(context.Context, streams.Record) error) error {
	_, cancel, t, err := s.begin(ctx) // the subscription itself has no timeout
	cancel()
	if err != nil {
		return err
	}
	return s.follow(ctx, t, after, func(ev kdb.SubscriptionEvent, r streams.Record) error {
		if ev.EventAppeared == nil {
			return nil // caught up, or fell behind: no event
		}
		return handle(ctx, r)
	})
}

// follow subscribes to the tenant's events after the position and calls
// each for every event, with the subscription event that carried it (an
// event, or a caught-up or fell-behind signal with a zero record), until
// ctx ends (ctx.Err()) or each fails (its error).
func (s *Store) follow(ctx context.Context, t tenant.ID, after streams.Position, each func(kdb.SubscriptionEvent, streams.Record) error) error {
	opts := kdb.SubscribeToAllOptions{
		From:   allPosition(after),
		Filter: &kdb.SubscriptionFilter{Type: kdb.StreamFilterType, Prefixes: []string{s.prefix(t)}},
	}
	sub, err := s.client.SubscribeToAll(ctx, opts)
	if err != nil {
		return translateFrom(ctx, after, err)
	}
	defer func() { _ = sub.Close() }()
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("kurrentdb: subscription of %s dropped: %w", t, translateFrom(ctx, after, ev.SubscriptionDropped.Error))
		case ev.EventAppeared != nil:
			if ev.EventAppeared.Event == nil {
				continue
			}
			r, err := recordOf(s.cfg.Namespace, ev.EventAppeared.Event)
			if err != nil {
				return err
			}
			if r.Position <= after || r.Stream.Tenant() != t {
				continue
			}
			if err := each(*ev, r); err != nil {
				return err
			}
		case ev.CheckPointReached != nil:
		default:
			// Caught up (an older server's caught-up has no date, and so
			// arrives as an empty event) or fell behind.
			if err := each(*ev, streams.Record{}); err != nil {
				return err
			}
		}
	}
}

// allPosition is where a subscription after p starts: $all's start for 0,
// else the event at p (a subscription starts after its position).
func allPosition(p streams.Position) kdb.AllPosition {
	if p == 0 {
		return kdb.Start{}
	}
	return kdb.Position{Commit: uint64(p), Prepare: uint64(p)}
}

// streamState is an expected version as KurrentDB's stream state: a
// version v > 0 is the revision of the stream's last event, v-1.
func streamState(e streams.ExpectedVersion) kdb.StreamState {
	switch {
	case e.IsAny():
		return kdb.Any{}
	case e.Version() == 0:
		return kdb.NoStream{}
	default:
		return kdb.Revision(uint64(e.Version() - 1))
	}
}

// translateFrom translates the error of a read of $all from after: the
// server refuses a position that is no event's (an argument error), which
// is streams.ErrUnknownPosition.
func translateFrom(ctx context.Context, after streams.Position, err error) error {
	if after > 0 && status.Code(err) == codes.InvalidArgument {
		return fmt.Errorf("%w: %d: %w", streams.ErrUnknownPosition, after, err)
	}
	return translate(ctx, err)
}

// code is the client error code of err, ErrorCodeUnknown when it is not
// a client error.
func code(err error) kdb.ErrorCode {
	var e *kdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return kdb.ErrorCodeUnknown
}

// translate maps the client's errors to the port's: a server out of reach
// or not answering in time is streams.ErrUnavailable (unless ctx itself
// ended, then ctx.Err()).
func translate(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	switch code(err) {
	case kdb.ErrorUnavailable, kdb.ErrorCodeDeadlineExceeded, kdb.ErrorCodeConnectionClosed, kdb.ErrorCodeNotLeader:
		return fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
	case kdb.ErrorCodeAppendRecordSizeExceeded, kdb.ErrorCodeAppendTransactionSizeExceeded:
		return fmt.Errorf("%w: %w", streams.ErrTooLarge, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
	}
	return fmt.Errorf("kurrentdb: %w", err)
}
