// Package commands holds what every command shares: the options a client
// gives (idempotency key, If-Match), the answer, and the one pipeline every
// command goes through (Executor): the tenant and the caller from ctx, the
// caller's roles, the aggregate loaded, the decision, the append with the
// expected version, retries on a lost race, idempotency by key, and an
// observer told of every outcome. A domain declares its use cases as Specs
// (see Handle); the few commands that are not a decision on one aggregate
// (sign-in, provisioning) use the Executor's entry points directly.
package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Request carries what the client said about a command besides its fields.
// Command structs embed it (see Command); it never comes from a body.
type Request struct {
	// CommandID identifies the command: the client's Idempotency-Key when it
	// gave one, else a fresh id.
	CommandID string `json:"-"`
	// RequestHash is a digest of the request. It is set when the client gave
	// an Idempotency-Key, and tells a retry (same hash) from a reuse of the
	// key for another request.
	RequestHash string `json:"-"`
	// IfMatch, when set, is the version the client last saw: a command on a
	// stream at another version fails with ErrVersionConflict.
	IfMatch *streams.Version `json:"-"`
}

// Keyed reports whether the client gave an idempotency key.
func (r Request) Keyed() bool { return r.RequestHash != "" && r.CommandID != "" }

// Options returns the options: with SetOptions, it makes every struct that
// embeds a Request a Command.
func (r Request) Options() Request { return r }

// SetOptions sets the options the edge read from the client (headers).
func (r *Request) SetOptions(o Request) { *r = o }

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
// one (so a retry lands on the same stream), else a time-ordered UUID
// (version 7).
//
// Time order is for the read databases: every read model keys its rows by
// the aggregate's id, and a random id lands each new row on a page of its
// own in that index, so a batch of n new aggregates dirties about n pages
// per table and the read database writes them all at each commit (a cost
// that grows with the table). Ids in time order fill the index's last page,
// as an auto-increment key does.
func NewAggregateID(ctx context.Context, req Request) (string, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	who, err := user.From(ctx)
	if err != nil {
		return "", err
	}
	return newID(t, who.ID, req), nil
}

func newID(t tenant.ID, who user.ID, req Request) string {
	if req.Keyed() {
		return uuid.NewSHA1(idNamespace, []byte("aggregate\x00"+scopedKey(t, who, req.CommandID))).String()
	}
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether id is an aggregate or user id as this service
// gives them: a UUID in its canonical 36-character form. The other forms
// uuid accepts ("urn:uuid:…", "{…}", no dashes) name nothing here.
func ValidID(id string) bool {
	return len(id) == 36 && uuid.Validate(id) == nil
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

// Refused reports whether err, from a command, is an answer given before
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
