package streams

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Keys of the metadata that carries a Record over a message bus (watermill
// metadata; the NATS headers of events stored before MetaEvent, which now
// holds them all in one value). The payload is Record.Data; the message id
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

// MetaEvent is the one header in which a store writes an event's metadata
// (see AppendEventMeta): a single value costs the server and the clients
// less to parse and to store than one header per key. Events stored
// before carry one header per key (MetaTenant...); readers take both.
const MetaEvent = "Atrium-Event"

// The fields of a MetaEvent value after its first four, each
// "<letter>=<value>", present when set.
const (
	eventMetaUser        = 'u'
	eventMetaCorrelation = 'c'
	eventMetaCausation   = 'k'
	eventMetaCommand     = 'm'
	eventMetaRequestHash = 'h'
)

// AppendEventMeta appends to dst the MetaEvent value of an event before
// the store has given it a position:
//
//	<stream> <version> <type> <recorded at, RFC 3339> [u=<user>] [c=<correlation>] [k=<causation>] [m=<command>] [h=<request hash>]
//
// separated by single spaces. Each text is escaped: '%', spaces, control
// characters and bytes outside ASCII become %XX, so a value is printable
// ASCII, as NATS headers want, and holds no separator. The tenant is the
// stream's.
func AppendEventMeta(dst []byte, stream Name, typ string, v Version, recordedAt time.Time, md Metadata) []byte {
	dst = appendEscaped(dst, string(stream))
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(v), 10)
	dst = append(dst, ' ')
	dst = appendEscaped(dst, typ)
	dst = append(dst, ' ')
	dst = recordedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	for _, f := range [...]struct {
		key byte
		val string
	}{
		{eventMetaUser, md.UserID}, {eventMetaCorrelation, md.CorrelationID}, {eventMetaCausation, md.CausationID},
		{eventMetaCommand, md.CommandID}, {eventMetaRequestHash, md.RequestHash},
	} {
		if f.val != "" {
			dst = append(dst, ' ', f.key, '=')
			dst = appendEscaped(dst, f.val)
		}
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

// escaped reports whether b is written as %XX in a MetaEvent value.
func escaped(b byte) bool { return b <= ' ' || b >= 0x7f || b == '%' }

func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if b := s[i]; escaped(b) {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&0xf])
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}

// unescape reads what appendEscaped wrote: its %XX are URL escapes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrBadMetadata, s, err)
	}
	return u, nil
}

// EventMeta is an event's metadata read from a MetaEvent value, by the
// bus keys of the format of one header per key.
type EventMeta struct {
	tenant, stream, typ, version, recordedAt string
	md                                       Metadata
}

// ParseEventMeta reads a MetaEvent value. It checks its shape only:
// RecordFromMetadata(id, payload, m.Get, pos) validates the values.
func ParseEventMeta(v string) (EventMeta, error) {
	var m EventMeta
	var fields [4]string
	rest := v
	for i := range fields {
		var ok bool
		fields[i], rest, ok = strings.Cut(rest, " ")
		if !ok && i < len(fields)-1 {
			return EventMeta{}, fmt.Errorf("%w: %s %q: %d fields, want at least 4", ErrBadMetadata, MetaEvent, v, i+1)
		}
		if !ok {
			rest = ""
		}
	}
	var err error
	if m.stream, err = unescape(fields[0]); err != nil {
		return EventMeta{}, err
	}
	m.tenant = string(Name(m.stream).Tenant())
	m.version = fields[1]
	if m.typ, err = unescape(fields[2]); err != nil {
		return EventMeta{}, err
	}
	m.recordedAt = fields[3]
	for rest != "" {
		var f string
		f, rest, _ = strings.Cut(rest, " ")
		if len(f) < 2 || f[1] != '=' {
			return EventMeta{}, fmt.Errorf("%w: %s %q: field %q", ErrBadMetadata, MetaEvent, v, f)
		}
		val, err := unescape(f[2:])
		if err != nil {
			return EventMeta{}, err
		}
		switch f[0] {
		case eventMetaUser:
			m.md.UserID = val
		case eventMetaCorrelation:
			m.md.CorrelationID = val
		case eventMetaCausation:
			m.md.CausationID = val
		case eventMetaCommand:
			m.md.CommandID = val
		case eventMetaRequestHash:
			m.md.RequestHash = val
		default: // a field of a later format: not this reader's
		}
	}
	return m, nil
}

// Get returns the value of a bus key (MetaStream...), "" when unset.
func (m *EventMeta) Get(key string) string {
	switch key {
	case MetaTenant:
		return m.tenant
	case MetaStream:
		return m.stream
	case MetaType:
		return m.typ
	case MetaVersion:
		return m.version
	case MetaRecordedAt:
		return m.recordedAt
	case MetaUserID:
		return m.md.UserID
	case MetaCorrelationID:
		return m.md.CorrelationID
	case MetaCausationID:
		return m.md.CausationID
	case MetaCommandID:
		return m.md.CommandID
	case MetaRequestHash:
		return m.md.RequestHash
	}
	return ""
}

// Each calls set with the bus keys and values of m: the metadata
// EventMetadata gives the same event, every key it always sets and the
// others when they have a value.
func (m *EventMeta) Each(set func(key, value string)) {
	set(MetaTenant, m.tenant)
	set(MetaStream, m.stream)
	set(MetaType, m.typ)
	set(MetaVersion, m.version)
	set(MetaRecordedAt, m.recordedAt)
	for _, kv := range [...][2]string{
		{MetaUserID, m.md.UserID}, {MetaCorrelationID, m.md.CorrelationID}, {MetaCausationID, m.md.CausationID},
		{MetaCommandID, m.md.CommandID}, {MetaRequestHash, m.md.RequestHash},
	} {
		if kv[1] != "" {
			set(kv[0], kv[1])
		}
	}
}
