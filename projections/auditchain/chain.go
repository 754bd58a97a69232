package auditchain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// event as stored, its data and metadata as JSON.
type Linked struct {
	ID         string
	Stream     string
	Type       string
	Version    uint64
	Position   uint64
	RecordedAt time.Time
	Data       []byte // JSON
	Metadata   []byte // JSON
}

// Link is the hash of the event e after the event whose hash is prev.
// JSON is hashed in its compact form, so that an export (which writes it
// compact) verifies as the store does.
func Link(prev Hash, e Linked) Hash {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	field := func(b []byte) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	field([]byte(chainTag))
	h.Write(prev[:])
	field([]byte(e.ID))
	field([]byte(e.Stream))
	field([]byte(e.Type))
	field(strconv.AppendUint(nil, e.Version, 10))
	field(strconv.AppendUint(nil, e.Position, 10))
	field([]byte(e.RecordedAt.UTC().Format(time.RFC3339Nano)))
	field(compact(e.Data))
	field(compact(e.Metadata))
	var out Hash
	h.Sum(out[:0])
	return out
}

// compact is b without the JSON's insignificant spaces; b itself when it
// is not JSON.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// LinkedOf is what the chain covers of a stored event.
func LinkedOf(r streams.Record) Linked {
	meta, _ := json.Marshal(r.Metadata) // a struct of strings: never fails
	return Linked{ID: r.ID.String(), Stream: string(r.Stream), Type: r.Type, Version: uint64(r.Version),
		Position: uint64(r.Position), RecordedAt: r.RecordedAt, Data: r.Data, Metadata: meta}
}
