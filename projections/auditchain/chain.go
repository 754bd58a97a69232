package auditchain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/atrium-platform/atrium/streams"
)

// The hash chain of a tenant's history: each event's hash covers its id,
// stream, type, version, position, time, data and metadata, and the hash
// of the event before it in the tenant's log (32 zero bytes before the
// first). A change to any event, its removal, or one put in between,
// changes every hash from it on. The chain is kept by the auditchain read
// model as events are projected, and its head is recorded from time to
// time in the tenant's log itself (ChainHeadRecorded), so that an export
// carries it.

// Hash is an event's link in the chain.
type Hash [sha256.Size]byte

// String is the hash in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hash in hex.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("auditchain: %q is not a hash", s)
	}
	copy(h[:], b)
	return h, nil
}

// chainTag separates the chain's hashes from any other use of SHA-256 on
// the same bytes, and names the encoding's version.
const chainTag = "atrium.audit.chain.v1"

// Linked is what a link covers, as an export carries it: the fields of the
// event as stored, its data as stored (JSON, byte for byte), and its
// metadata.
type Linked struct {
	ID         string
	Stream     string
	Type       string
	Version    uint64
	Position   uint64
	RecordedAt time.Time
	Data       []byte
	Metadata   Meta
}

// Meta is what a link covers of an event's metadata: all of it.
type Meta struct {
	Tenant        string `json:"tenant"`
	UserID        string `json:"user_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	CommandID     string `json:"command_id,omitempty"`
	RequestHash   string `json:"request_hash,omitempty"`
}

// Link is the hash of the event e after the event whose hash is prev.
func Link(prev Hash, e Linked) Hash {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	var num [20]byte
	field := func(b []byte) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	str := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		_, _ = io.WriteString(h, s)
	}
	str(chainTag)
	h.Write(prev[:])
	str(e.ID)
	str(e.Stream)
	str(e.Type)
	field(strconv.AppendUint(num[:0], e.Version, 10))
	field(strconv.AppendUint(num[:0], e.Position, 10))
	var at [40]byte
	field(e.RecordedAt.UTC().AppendFormat(at[:0], time.RFC3339Nano))
	field(e.Data)
	m := e.Metadata
	for _, s := range [...]string{m.Tenant, m.UserID, m.CorrelationID, m.CausationID, m.CommandID, m.RequestHash} {
		str(s)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// LinkedOf is what the chain covers of a stored event.
func LinkedOf(r streams.Record) Linked {
	m := r.Metadata
	return Linked{ID: r.ID.String(), Stream: string(r.Stream), Type: r.Type, Version: uint64(r.Version),
		Position: uint64(r.Position), RecordedAt: r.RecordedAt, Data: r.Data,
		Metadata: Meta{Tenant: string(m.Tenant), UserID: m.UserID, CorrelationID: m.CorrelationID, CausationID: m.CausationID,
			CommandID: m.CommandID, RequestHash: m.RequestHash}}
}
