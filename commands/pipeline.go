package commands

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// The pipeline: each step below does one thing and hands the call on, the
// outermost first: observed, principal, authorized, named, idempotent,
// attempts.

// call is one command going through the pipeline.
type call struct {
	name      string
	req       Request
	authorize bool // check roles (a Spec's command); the entry points check their own
	roles     []user.Role
	category  string
	creates   bool
	id        string       // the aggregate's id, given or, when it creates it, made by named
	stream    streams.Name // named from category and id, or given by an entry point
	fresh     bool         // a random new id: the first attempt need not read the stream
	missing   string
	decide    func(ctx context.Context, t Target, history []domain.Event) (Decision, error)

	// Set on the way in.
	t   tenant.ID
	who user.Principal
	// committed: this call appended its events (not a replay, not a no-op).
	committed bool
}

type step func(ctx context.Context, k *call) (Result, error)

// pipeline composes the steps every command goes through.
func (x *Executor) pipeline() step {
	s := x.attempts
	for _, wrap := range []func(step) step{x.idempotent, named, authorized, principal, x.observed} {
		s = wrap(s)
	}
	return s
}

// Observer hears every command's outcome: its name, the ctx tenant, its
// error (nil when it succeeded) and how long it took. Safe for concurrent
// use.
type Observer interface {
	Observed(ctx context.Context, name string, err error, took time.Duration)
}

func (x *Executor) observed(next step) step {
	return func(ctx context.Context, k *call) (Result, error) {
		start := time.Now()
		res, err := next(ctx, k)
		if x.Observer != nil && k.name != "" {
			x.Observer.Observed(ctx, k.name, err, time.Since(start))
		}
		return res, err
	}
}

// principal takes the tenant and the caller from ctx: no command runs
// without both.
func principal(next step) step {
	return func(ctx context.Context, k *call) (Result, error) {
		t, err := tenant.From(ctx)
		if err != nil {
			return Result{}, err
		}
		who, err := user.From(ctx)
		if err != nil {
			return Result{}, err
		}
		k.t, k.who = t, who
		return next(ctx, k)
	}
}

// authorized refuses a caller without one of the command's roles; a
// command open to every member still needs a member.
func authorized(next step) step {
	return func(ctx context.Context, k *call) (Result, error) {
		if k.authorize && (len(k.who.Roles) == 0 || (len(k.roles) > 0 && !k.who.Has(k.roles...))) {
			return Result{}, domain.Forbiddenf("your roles do not allow this")
		}
		return next(ctx, k)
	}
}

// named names the aggregate's stream in the ctx tenant: a new id for a
// command that creates its aggregate, the given one (a canonical UUID, or
// NotFound) for the others.
func named(next step) step {
	return func(ctx context.Context, k *call) (Result, error) {
		if k.stream == "" {
			if k.creates {
				k.id = newID(k.t, k.who.ID, k.req)
				k.fresh = !k.req.Keyed() && k.req.IfMatch == nil
			} else if !ValidID(k.id) {
				return Result{}, domain.NotFoundf(k.missing, "no such %s", k.category)
			}
			s, err := streams.NewName(k.t, k.category, k.id)
			if err != nil {
				return Result{}, err
			}
			k.stream = s
		}
		if k.stream.Tenant() != k.t {
			return Result{}, fmt.Errorf("%w: %s", streams.ErrTenantMismatch, k.stream)
		}
		k.id = k.stream.ID()
		return next(ctx, k)
	}
}

// idempotent answers a keyed command seen before with its first answer,
// and records the answer of one that commits. The key is scoped to the
// tenant and the caller first.
func (x *Executor) idempotent(next step) step {
	return func(ctx context.Context, k *call) (Result, error) {
		if k.req.CommandID == "" {
			k.req.CommandID = uuid.NewString()
		}
		if !k.req.Keyed() {
			return next(ctx, k)
		}
		k.req.CommandID = scopedKey(k.t, k.who.ID, k.req.CommandID)
		record, err := idempotencyRecord(k.t, k.req.CommandID)
		if err != nil {
			return Result{}, err
		}
		if res, ok, err := x.recorded(ctx, record, k.req); ok || err != nil {
			return res, err
		}
		res, err := next(ctx, k)
		if err == nil && k.committed {
			x.record(ctx, record, k.req, x.metadata(ctx, k), res)
		}
		return res, err
	}
}

// attempts loads the stream, decides and appends with the expected
// version, again from the load when the append lost a race (without
// If-Match), up to MaxAttempts.
func (x *Executor) attempts(ctx context.Context, k *call) (Result, error) {
	md := x.metadata(ctx, k)
	max := x.MaxAttempts
	if max == 0 {
		max = 50
	}
	for attempt := 0; attempt < max; attempt++ {
		res, retry, err := x.attempt(ctx, k, md, attempt > 0 || !k.fresh)
		if !retry {
			return res, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return Result{}, err
		}
	}
	return Result{}, fmt.Errorf("%w: %s", ErrContention, k.stream)
}

// attempt is one load, decision and append; retry reports a lost race.
func (x *Executor) attempt(ctx context.Context, k *call, md streams.Metadata, load bool) (res Result, retry bool, err error) {
	var history []domain.Event
	var recs []streams.Record
	if load {
		if history, recs, err = x.Load(ctx, k.stream); err != nil {
			return Result{}, false, err
		}
	}
	version := streams.Version(len(recs))
	if k.req.Keyed() {
		if res, ok, err := replay(k.stream, recs, k.req); ok || err != nil {
			return res, false, err
		}
	}
	if k.req.IfMatch != nil && *k.req.IfMatch != version {
		return Result{}, false, fmt.Errorf("%w: %s is at version %d, not %d", ErrVersionConflict, k.stream, version, *k.req.IfMatch)
	}
	if k.missing != "" && !k.creates && len(history) == 0 {
		return Result{}, false, domain.NotFoundf(k.missing, "no such %s", k.category)
	}
	d, err := k.decide(ctx, Target{ID: k.id, CommandID: k.req.CommandID}, history)
	if err != nil {
		return Result{}, false, err
	}
	if len(d.Events) == 0 {
		head, err := x.Store.Head(ctx)
		if err != nil {
			return Result{}, false, err
		}
		return Result{ID: k.id, Version: version, Position: head}, false, nil
	}
	appends := []streams.Append{{Stream: k.stream, Expected: streams.Exactly(version)}}
	if appends[0].Events, err = x.encode(k.t, k.req.CommandID, k.stream, md, d.Events); err != nil {
		return Result{}, false, err
	}
	for _, e := range d.Extras {
		evs, err := x.encode(k.t, k.req.CommandID, e.Stream, md, e.Events)
		if err != nil {
			return Result{}, false, err
		}
		appends = append(appends, streams.Append{Stream: e.Stream, Expected: e.Expected, Events: evs})
	}
	out, err := x.Store.AppendMulti(ctx, appends...)
	if errors.Is(err, streams.ErrConflict) {
		return Result{}, true, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	k.committed = true
	return Result{ID: k.id, Version: out[0].Version, Position: out[0].Position}, false, nil
}

// metadata is what every event of the call carries.
func (x *Executor) metadata(ctx context.Context, k *call) streams.Metadata {
	corr, cause := streams.Correlation(ctx)
	if corr == "" {
		corr = k.req.CommandID
	}
	return streams.Metadata{Tenant: k.t, UserID: string(k.who.ID), CorrelationID: corr, CausationID: cause,
		CommandID: k.req.CommandID, RequestHash: k.req.RequestHash}
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
		id := uuid.NewSHA1(idNamespace, eventIDName(t, commandID, stream, i))
		out[i] = streams.EventData{ID: id, Type: typ, Data: data, Metadata: md}
	}
	return out, nil
}

// eventIDName is what the id of the i-th event of a command's append to
// stream is derived from: "event\x00<tenant>\x00<command id>\x00<stream>\x00<i>".
func eventIDName(t tenant.ID, commandID string, stream streams.Name, i int) []byte {
	b := make([]byte, 0, len("event")+len(t)+len(commandID)+len(stream)+8)
	b = append(b, "event\x00"...)
	b = append(b, t...)
	b = append(b, 0)
	b = append(b, commandID...)
	b = append(b, 0)
	b = append(b, stream...)
	b = append(b, 0)
	return strconv.AppendInt(b, int64(i), 10)
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
