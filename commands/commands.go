// Package commands holds what every command handler shares: the request
// options a client gives (command id, If-Match), the answer, and the
// executor that loads an aggregate, runs a decision and appends its events
// with optimistic concurrency, retries and idempotency by command id.
package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Request carries what the client said about a command besides its fields.
type Request struct {
	// CommandID identifies the command: the client's Idempotency-Key when it
	// gave one, else a fresh id.
	CommandID string
	// RequestHash is a digest of the request. It is set when the client gave
	// an Idempotency-Key, and tells a retry (same hash) from a reuse of the
	// key for another request.
	RequestHash string
	// IfMatch, when set, is the version the client last saw: a command on a
	// stream at another version fails with ErrVersionConflict.
	IfMatch *streams.Version
}

// Keyed reports whether the client gave an idempotency key.
func (r Request) Keyed() bool { return r.RequestHash != "" && r.CommandID != "" }

// scopedKey is the command id a client's idempotency key stands for: a
// digest of the tenant, the caller and the key, so the same key given by
// two callers, or in two tenants, names two commands (as payment APIs scope
// keys to the account). Every id derived from the key (the aggregate's,
// the events', the idempotency record's stream) is derived from this one.
func scopedKey(t tenant.ID, who user.ID, key string) string {
	sum := sha256.Sum256([]byte("idempotency-key\x00" + string(t) + "\x00" + string(who) + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// Result is a command's answer: the aggregate id, its version and the
// tenant's position after the command.
type Result struct {
	ID       string
	Version  streams.Version
	Position streams.Position
}

var (
	// ErrVersionConflict: If-Match named a version the aggregate is no longer
	// at. Nothing was written.
	ErrVersionConflict = errors.New("commands: version conflict")
	// ErrIdempotencyKeyReused: the idempotency key was used before for
	// another request. Nothing was written.
	ErrIdempotencyKeyReused = errors.New("commands: idempotency key reused with another request")
	// ErrContention: the command kept losing optimistic-concurrency races.
	ErrContention = errors.New("commands: too much contention, try again")
)

// idNamespace derives deterministic ids from command ids.
var idNamespace = uuid.MustParse("6f1c2b8e-3a59-4d7e-9a43-2f0d5c1e7b90")

// NewAggregateID returns the id of an aggregate a command creates: derived
// from the tenant, the caller and the idempotency key when the client gave
// one (so a retry lands on the same stream), else random. Pass the id to
// RunNew.
func NewAggregateID(ctx context.Context, req Request) (string, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	who, err := user.From(ctx)
	if err != nil {
		return "", err
	}
	if req.Keyed() {
		return uuid.NewSHA1(idNamespace, []byte("aggregate\x00"+scopedKey(t, who.ID, req.CommandID))).String(), nil
	}
	return uuid.NewString(), nil
}

// Extra is a write to another stream that must happen atomically with the
// command's own events (a number taken from a numbering stream).
type Extra struct {
	Stream   streams.Name
	Expected streams.ExpectedVersion
	Events   []domain.Event
}

// Decision is what a command decided: events for its aggregate, and
// possibly atomic writes to other streams.
type Decision struct {
	Events []domain.Event
	Extras []Extra
}

// DecideFunc decides on the aggregate's history. It may read other streams
// through ctx-scoped stores; it is called again when an append lost a race.
type DecideFunc func(ctx context.Context, history []domain.Event) (Decision, error)

// Executor runs commands against an event store.
type Executor struct {
	Store    streams.Store
	Registry *streams.Registry
	// MaxAttempts bounds load-decide-append rounds lost to concurrent
	// writers; default 50.
	MaxAttempts int
}

// Load returns the decoded events of stream and its version.
func (x *Executor) Load(ctx context.Context, stream streams.Name) ([]domain.Event, []streams.Record, error) {
	recs, err := x.Store.ReadStream(ctx, stream)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", stream, err)
	}
	evs := make([]domain.Event, 0, len(recs))
	for _, r := range recs {
		e, err := x.Registry.Decode(r.Type, r.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("load %s: event %d: %w", stream, r.Version, err)
		}
		evs = append(evs, e)
	}
	return evs, recs, nil
}

// RunNew executes a command that creates the aggregate of stream, whose id
// came from NewAggregateID. A random id names a stream nobody has written
// to, so the first attempt decides on an empty history without reading it
// (the append still requires that no stream exists); a derived id may be a
// retry, so it is read like any other.
func (x *Executor) RunNew(ctx context.Context, req Request, stream streams.Name, decide DecideFunc) (Result, error) {
	if req.Keyed() || req.IfMatch != nil {
		return x.Run(ctx, req, stream, decide)
	}
	res, _, err := x.run(ctx, req, stream, decide, true)
	return res, err
}

// Run executes one command on stream: it loads the stream, decides, and
// appends with the expected version. Without If-Match, a lost race is
// retried from the load; with it, a stale version fails with
// ErrVersionConflict. A command id seen before answers its first result.
func (x *Executor) Run(ctx context.Context, req Request, stream streams.Name, decide DecideFunc) (Result, error) {
	res, _, err := x.run(ctx, req, stream, decide, false)
	return res, err
}

// RunCommitted is Run that also tells whether this call appended the
// events of decide's last call (committed true), rather than answering
// from an earlier command with the same idempotency key or having nothing
// to write. A command with an effect outside the event store (a stored
// file) keeps that effect only when its own events committed.
func (x *Executor) RunCommitted(ctx context.Context, req Request, stream streams.Name, decide DecideFunc) (Result, bool, error) {
	return x.run(ctx, req, stream, decide, false)
}

func (x *Executor) run(ctx context.Context, req Request, stream streams.Name, decide DecideFunc, fresh bool) (Result, bool, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return Result{}, false, err
	}
	who, err := user.From(ctx)
	if err != nil {
		return Result{}, false, err
	}
	if stream.Tenant() != t {
		return Result{}, false, fmt.Errorf("%w: %s", streams.ErrTenantMismatch, stream)
	}
	if req.CommandID == "" {
		req.CommandID = uuid.NewString()
	}
	var record streams.Name
	if req.Keyed() {
		req.CommandID = scopedKey(t, who.ID, req.CommandID)
		if record, err = idempotencyRecord(t, req.CommandID); err != nil {
			return Result{}, false, err
		}
		if res, ok, err := x.recorded(ctx, record, req); ok || err != nil {
			return res, false, err
		}
	}
	corr, cause := streams.Correlation(ctx)
	if corr == "" {
		corr = req.CommandID
	}
	md := streams.Metadata{Tenant: t, UserID: string(who.ID), CorrelationID: corr, CausationID: cause, CommandID: req.CommandID, RequestHash: req.RequestHash}

	attempts := x.MaxAttempts
	if attempts == 0 {
		attempts = 50
	}
	for attempt := 0; attempt < attempts; attempt++ {
		var history []domain.Event
		var recs []streams.Record
		if !fresh || attempt > 0 {
			if history, recs, err = x.Load(ctx, stream); err != nil {
				return Result{}, false, err
			}
		}
		version := streams.Version(len(recs))
		if req.Keyed() {
			if res, ok, err := replay(stream, recs, req); ok || err != nil {
				return res, false, err
			}
		}
		if req.IfMatch != nil && *req.IfMatch != version {
			return Result{}, false, fmt.Errorf("%w: %s is at version %d, not %d", ErrVersionConflict, stream, version, *req.IfMatch)
		}
		d, err := decide(ctx, history)
		if err != nil {
			return Result{}, false, err
		}
		if len(d.Events) == 0 {
			head, err := x.Store.Head(ctx)
			if err != nil {
				return Result{}, false, err
			}
			return Result{ID: stream.ID(), Version: version, Position: head}, false, nil
		}
		appends := []streams.Append{{Stream: stream, Expected: streams.Exactly(version)}}
		if appends[0].Events, err = x.encode(t, req.CommandID, stream, md, d.Events); err != nil {
			return Result{}, false, err
		}
		for _, e := range d.Extras {
			evs, err := x.encode(t, req.CommandID, e.Stream, md, e.Events)
			if err != nil {
				return Result{}, false, err
			}
			appends = append(appends, streams.Append{Stream: e.Stream, Expected: e.Expected, Events: evs})
		}
		res, err := x.Store.AppendMulti(ctx, appends...)
		if errors.Is(err, streams.ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return Result{}, false, err
			}
			continue
		}
		if err != nil {
			return Result{}, false, err
		}
		out := Result{ID: stream.ID(), Version: res[0].Version, Position: res[0].Position}
		if req.Keyed() {
			x.record(ctx, record, req, md, out)
		}
		return out, true, nil
	}
	return Result{}, false, fmt.Errorf("%w: %s", ErrContention, stream)
}

// Precheck answers, without writing anything, what Run would answer before
// deciding on stream, whose records the caller has just loaded: the result
// of an earlier command with the same idempotency key (done true),
// ErrIdempotencyKeyReused, or ErrVersionConflict for a stale If-Match.
// done false and no error: Run would decide. A command with an effect
// outside the event store (a stored file) calls it before that effect, so
// a request Run would replay or refuse does nothing; Run checks all of it
// again, so a race between the two is still answered right.
func (x *Executor) Precheck(ctx context.Context, req Request, stream streams.Name, recs []streams.Record) (res Result, done bool, err error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return Result{}, false, err
	}
	if stream.Tenant() != t {
		return Result{}, false, fmt.Errorf("%w: %s", streams.ErrTenantMismatch, stream)
	}
	if req.Keyed() {
		who, err := user.From(ctx)
		if err != nil {
			return Result{}, false, err
		}
		req.CommandID = scopedKey(t, who.ID, req.CommandID)
		record, err := idempotencyRecord(t, req.CommandID)
		if err != nil {
			return Result{}, false, err
		}
		if res, ok, err := x.recorded(ctx, record, req); ok || err != nil {
			return res, ok && err == nil, err
		}
		if res, ok, err := replay(stream, recs, req); ok || err != nil {
			return res, ok && err == nil, err
		}
	}
	if version := streams.Version(len(recs)); req.IfMatch != nil && *req.IfMatch != version {
		return Result{}, false, fmt.Errorf("%w: %s is at version %d, not %d", ErrVersionConflict, stream, version, *req.IfMatch)
	}
	return Result{}, false, nil
}

// Refused reports whether err, from Run, is an answer given before
// anything was appended: a rejection by the decision, a stale If-Match, a
// reused idempotency key, or every attempt lost to other writers. Any
// other error (the store unavailable, the context ended) may have come
// after the append reached the store, so whether the command committed is
// unknown.
func Refused(err error) bool {
	var de *domain.Error
	return errors.As(err, &de) || errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrIdempotencyKeyReused) ||
		errors.Is(err, ErrContention)
}

func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(1+min(attempt, 20)*2)) * time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (x *Executor) encode(t tenant.ID, commandID string, stream streams.Name, md streams.Metadata, evs []domain.Event) ([]streams.EventData, error) {
	out := make([]streams.EventData, len(evs))
	for i, e := range evs {
		typ, data, err := x.Registry.Encode(e)
		if err != nil {
			return nil, err
		}
		id := uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "event\x00%s\x00%s\x00%s\x00%d", t, commandID, stream, i))
		out[i] = streams.EventData{ID: id, Type: typ, Data: data, Metadata: md}
	}
	return out, nil
}

// replay looks for the command's own events in the loaded stream: a retry of
// a command whose append succeeded but whose answer was lost.
func replay(stream streams.Name, recs []streams.Record, req Request) (Result, bool, error) {
	var found *streams.Record
	for i := range recs {
		if recs[i].Metadata.CommandID == req.CommandID {
			found = &recs[i]
		}
	}
	if found == nil {
		return Result{}, false, nil
	}
	if found.Metadata.RequestHash != req.RequestHash {
		return Result{}, true, ErrIdempotencyKeyReused
	}
	return Result{ID: stream.ID(), Version: found.Version, Position: found.Position}, true, nil
}

// idempotencyRecord names the stream that keeps the answer of the command
// with this scoped id (a digest, from scopedKey) in tenant t.
func idempotencyRecord(t tenant.ID, scopedID string) (streams.Name, error) {
	return streams.NewName(t, "idempotency", scopedID)
}

// Completed records a command's answer under its idempotency key.
type Completed struct {
	Key         string `json:"key"`
	RequestHash string `json:"request_hash"`
	ID          string `json:"id"`
	Version     uint64 `json:"version"`
	Position    uint64 `json:"position"`
}

// EventName implements domain.Event.
func (Completed) EventName() string { return "command.completed.v1" }

// Register registers the events of this package.
func Register(r *streams.Registry) { streams.Register(r, Completed{}) }

// Answered returns the first answer of a keyed command the ctx caller ran
// before, with ok true; ErrIdempotencyKeyReused when the key was used for
// another request. A command with effects outside the event store (a
// credential, a stored file) asks before it makes them, so that a retry or
// a reused key writes nothing.
func (x *Executor) Answered(ctx context.Context, req Request) (Result, bool, error) {
	if !req.Keyed() {
		return Result{}, false, nil
	}
	t, err := tenant.From(ctx)
	if err != nil {
		return Result{}, false, err
	}
	who, err := user.From(ctx)
	if err != nil {
		return Result{}, false, err
	}
	req.CommandID = scopedKey(t, who.ID, req.CommandID)
	record, err := idempotencyRecord(t, req.CommandID)
	if err != nil {
		return Result{}, false, err
	}
	return x.recorded(ctx, record, req)
}

func (x *Executor) recorded(ctx context.Context, record streams.Name, req Request) (Result, bool, error) {
	evs, _, err := x.Load(ctx, record)
	if err != nil || len(evs) == 0 {
		return Result{}, false, err
	}
	c, ok := evs[0].(Completed)
	if !ok {
		return Result{}, false, fmt.Errorf("idempotency record %s holds %T", record, evs[0])
	}
	if c.RequestHash != req.RequestHash {
		return Result{}, true, ErrIdempotencyKeyReused
	}
	return Result{ID: c.ID, Version: streams.Version(c.Version), Position: streams.Position(c.Position)}, true, nil
}

// record keeps the answer under the key. A failure here loses nothing: a
// retry finds the command's events in its stream instead.
func (x *Executor) record(ctx context.Context, record streams.Name, req Request, md streams.Metadata, res Result) {
	evs, err := x.encode(md.Tenant, req.CommandID, record, md, []domain.Event{Completed{
		Key: req.CommandID, RequestHash: req.RequestHash, ID: res.ID, Version: uint64(res.Version), Position: uint64(res.Position),
	}})
	if err != nil {
		return
	}
	_, _ = x.Store.Append(ctx, record, streams.NoStream, evs...)
}

// ValidID reports whether id is an aggregate or user id as this service
// gives them: a UUID in its canonical 36-character form. The other forms
// uuid accepts ("urn:uuid:…", "{…}", no dashes) name nothing here.
func ValidID(id string) bool {
	return len(id) == 36 && uuid.Validate(id) == nil
}
