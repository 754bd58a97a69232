package streams

import (
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Version is the number of events in a stream; the version of an event is
// its 1-based index in its stream.
type Version uint64

// ExpectedVersion states what the writer believes about a stream before an
// append. Use Any, NoStream or Exactly(v).
type ExpectedVersion struct {
	any bool
	v   Version
}

var (
	// Any appends whatever the stream holds.
	Any = ExpectedVersion{any: true}
	// NoStream appends only when the stream has no event yet.
	NoStream = ExpectedVersion{}
)

// Exactly appends only when the stream holds exactly v events. Exactly(0) is NoStream.
func Exactly(v Version) ExpectedVersion { return ExpectedVersion{v: v} }

// IsAny reports whether e is Any.
func (e ExpectedVersion) IsAny() bool { return e.any }

// Version returns the expected version; meaningless when IsAny.
func (e ExpectedVersion) Version() Version { return e.v }

// Position is an event's place in its tenant's log. Positions of one tenant
// strictly increase in append order; they are not comparable across tenants.
type Position uint64

// Metadata travels with every event. The tenant is always set; the others
// are set when known.
type Metadata struct {
	Tenant        tenant.ID
	UserID        string
	CorrelationID string
	CausationID   string
	// CommandID is the id of the command that produced the event (the
	// Idempotency-Key when the client gave one).
	CommandID string
	// RequestHash is a digest of the command's request, to tell a retry from
	// a reuse of the same command id with another body.
	RequestHash string
}

// EventData is an event about to be appended: its id (retrying an append
// with the same ids must not duplicate it), its stable type name, its
// encoded data and its metadata.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata Metadata
}

// Record is an event as the store holds it.
type Record struct {
	ID         uuid.UUID
	Stream     Name
	Type       string
	Version    Version
	Position   Position
	RecordedAt time.Time
	Data       []byte
	Metadata   Metadata
}

// AppendResult is what an append reports: the stream's version and the
// tenant's position after it.
type AppendResult struct {
	Version  Version
	Position Position
}
