package commands

import (
	"context"
	"fmt"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Executor runs commands against an event store, each through the same
// pipeline (see Handle). Safe for concurrent use.
type Executor struct {
	Store    streams.Store
	Registry *streams.Registry
	// MaxAttempts bounds load-decide-append rounds lost to concurrent
	// writers; default 50.
	MaxAttempts int
	// Observer, when set, hears every named command's outcome.
	Observer Observer
}

// Load returns the decoded events of stream and its records.
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

// Call is a command that is not a Spec's: a decision on one stream the
// caller names, for the commands that need more than one aggregate's
// decision (signing in, provisioning, storing a receipt).
type Call struct {
	// Name names the command for the observer; empty: not observed.
	Name    string
	Request Request
	Stream  streams.Name
	// New marks a stream with a random new id: its first attempt decides on
	// an empty history without reading it (the append still requires that
	// no stream exists).
	New    bool
	Decide DecideFunc
}

// Run executes c through the pipeline (without a role check: the caller
// made its own): it loads the stream, decides, and appends with the
// expected version. Without If-Match, a lost race is retried from the
// load; with it, a stale version fails with ErrVersionConflict. A keyed
// command seen before answers its first result.
func (x *Executor) Run(ctx context.Context, c Call) (Result, error) {
	res, _, err := x.RunCommitted(ctx, c)
	return res, err
}

// RunCommitted is Run that also tells whether this call appended the
// events of its decision (committed true), rather than answering from an
// earlier command with the same idempotency key or having nothing to
// write. A command with an effect outside the event store (a stored file)
// keeps that effect only when its own events committed.
func (x *Executor) RunCommitted(ctx context.Context, c Call) (Result, bool, error) {
	k := &call{name: c.Name, req: c.Request, stream: c.Stream, fresh: c.New && !c.Request.Keyed() && c.Request.IfMatch == nil,
		decide: func(ctx context.Context, _ Target, history []domain.Event) (Decision, error) {
			return c.Decide(ctx, history)
		}}
	res, err := x.pipeline()(ctx, k)
	return res, k.committed, err
}

// Precheck answers, without writing anything, what Run would answer before
// deciding on stream, whose records the caller has just loaded: the result
// of an earlier command with the same idempotency key (done true),
// ErrIdempotencyKeyReused, or ErrVersionConflict for a stale If-Match.
// done false and no error: Run would decide. A command with an effect
// outside the event store (a stored file, a credential) calls it before
// that effect, so a request Run would replay or refuse does nothing; Run
// checks all of it again, so a race between the two is still answered
// right.
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
