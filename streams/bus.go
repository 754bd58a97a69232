package streams

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Keys of the metadata that carries a Record over a message bus (NATS
// headers, watermill metadata). The payload is Record.Data; the message id
// is Record.ID. They are the one wire format shared by the stores, the relay
// and the projectors.
const (
	MetaTenant        = "Atrium-Tenant"
	MetaStream        = "Atrium-Stream"
	MetaType          = "Atrium-Type"
	MetaVersion       = "Atrium-Version"
	MetaPosition      = "Atrium-Position"
	MetaRecordedAt    = "Atrium-Recorded-At"
	MetaUserID        = "Atrium-User"
	MetaCorrelationID = "Atrium-Correlation"
	MetaCausationID   = "Atrium-Causation"
	MetaCommandID     = "Atrium-Command"
	MetaRequestHash   = "Atrium-Request-Hash"
	// MetaPending is set by a bus source on delivery: how many of the
	// tenant's events remain after this one (0 when the consumer has caught
	// up), so a projector can commit a batch as soon as it is caught up.
	MetaPending = "Atrium-Pending"
)

// ErrBadMetadata is returned when bus metadata does not describe a record.
var ErrBadMetadata = errors.New("streams: bad record metadata")

// RecordMetadata returns the bus metadata of r, position included.
func RecordMetadata(r Record) map[string]string {
	m := EventMetadata(r.Stream, r.Type, r.Version, r.RecordedAt, r.Metadata)
	m[MetaPosition] = strconv.FormatUint(uint64(r.Position), 10)
	return m
}

// EventMetadata returns the bus metadata of an event before the store has
// given it a position (stores set the position from their own sequence).
func EventMetadata(stream Name, typ string, v Version, recordedAt time.Time, md Metadata) map[string]string {
	m := map[string]string{
		MetaTenant:     string(md.Tenant),
		MetaStream:     string(stream),
		MetaType:       typ,
		MetaVersion:    strconv.FormatUint(uint64(v), 10),
		MetaRecordedAt: recordedAt.UTC().Format(time.RFC3339Nano),
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set(MetaUserID, md.UserID)
	set(MetaCorrelationID, md.CorrelationID)
	set(MetaCausationID, md.CausationID)
	set(MetaCommandID, md.CommandID)
	set(MetaRequestHash, md.RequestHash)
	return m
}

// RecordFromMetadata rebuilds a Record from a bus message: its id, payload
// and metadata (get returns "" for a missing key). When the metadata has no
// position, pos is used (a store's own sequence number).
func RecordFromMetadata(id string, payload []byte, get func(string) string, pos Position) (Record, error) {
	var errs []error
	uid, err := uuid.Parse(id)
	if err != nil {
		errs = append(errs, fmt.Errorf("id %q: %w", id, err))
	}
	stream, err := ParseName(get(MetaStream))
	if err != nil {
		errs = append(errs, err)
	}
	t, err := tenant.Parse(get(MetaTenant))
	if err != nil {
		errs = append(errs, err)
	} else if stream != "" && stream.Tenant() != t {
		errs = append(errs, fmt.Errorf("stream %s is not of tenant %s", stream, t))
	}
	typ := get(MetaType)
	if typ == "" {
		errs = append(errs, errors.New("no type"))
	}
	v, err := strconv.ParseUint(get(MetaVersion), 10, 64)
	if err != nil {
		errs = append(errs, fmt.Errorf("version: %w", err))
	}
	if p := get(MetaPosition); p != "" {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("position: %w", err))
		}
		pos = Position(n)
	}
	at, err := time.Parse(time.RFC3339Nano, get(MetaRecordedAt))
	if err != nil {
		errs = append(errs, fmt.Errorf("recorded at: %w", err))
	}
	if len(errs) > 0 {
		return Record{}, fmt.Errorf("%w: %w", ErrBadMetadata, errors.Join(errs...))
	}
	return Record{
		ID: uid, Stream: stream, Type: typ, Version: Version(v), Position: pos,
		RecordedAt: at, Data: payload,
		Metadata: Metadata{
			Tenant: t, UserID: get(MetaUserID), CorrelationID: get(MetaCorrelationID),
			CausationID: get(MetaCausationID), CommandID: get(MetaCommandID), RequestHash: get(MetaRequestHash),
		},
	}, nil
}
