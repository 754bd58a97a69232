package kurrentdb

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// meta is an event's metadata as KurrentDB stores it: a JSON object of
// strings (what the multi-stream append accepts), the correlation and
// causation under KurrentDB's own keys so that its projections and its UI
// follow them.
type meta struct {
	Tenant        string `json:"tenant"`
	UserID        string `json:"userId,omitempty"`
	CorrelationID string `json:"$correlationId,omitempty"`
	CausationID   string `json:"$causationId,omitempty"`
	CommandID     string `json:"commandId,omitempty"`
	RequestHash   string `json:"requestHash,omitempty"`
	// RecordedAt is the appending process's clock, as on every store
	// (KurrentDB's own "created" is the server's; an event without it,
	// written by another writer, is read with that one).
	RecordedAt string `json:"recordedAt,omitempty"`
}

// eventData is events of tenant t as the client's: the event id is
// KurrentDB's (a retried append is recognised by it), the data JSON.
func eventData(t tenant.ID, now time.Time, events []streams.EventData) ([]kdb.EventData, error) {
	out := make([]kdb.EventData, len(events))
	at := now.UTC().Format(time.RFC3339Nano)
	for i, e := range events {
		md := e.Metadata
		m, err := json.Marshal(meta{
			Tenant: string(t), UserID: md.UserID, CorrelationID: md.CorrelationID,
			CausationID: md.CausationID, CommandID: md.CommandID, RequestHash: md.RequestHash, RecordedAt: at,
		})
		if err != nil {
			return nil, err
		}
		ct := kdb.ContentTypeBinary
		if json.Valid(e.Data) {
			ct = kdb.ContentTypeJson
		}
		out[i] = kdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: ct, Data: e.Data, Metadata: m}
	}
	return out, nil
}

// recordOf is a recorded event as the port's record, its stream name
// without the store's namespace. An event whose
// stream is not an Atrium name, or whose metadata names another tenant
// than its stream's, is refused rather than delivered.
func recordOf(namespace string, e *kdb.RecordedEvent) (streams.Record, error) {
	return record(namespace, e.EventID, e.StreamID, e.EventType, e.EventNumber, e.Position.Commit, e.CreatedDate, e.Data, e.UserMetadata)
}

func record(namespace string, id uuid.UUID, stream, typ string, revision, commit uint64, created time.Time, data, metadata []byte) (streams.Record, error) {
	name, ok := strings.CutPrefix(stream, namespace)
	if !ok {
		return streams.Record{}, fmt.Errorf("%w: event %s: stream %s is not in namespace %q", streams.ErrBadMetadata, id, stream, namespace)
	}
	n, err := streams.ParseName(name)
	if err != nil {
		return streams.Record{}, fmt.Errorf("%w: event %s: %w", streams.ErrBadMetadata, id, err)
	}
	var m meta
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m); err != nil {
			return streams.Record{}, fmt.Errorf("%w: event %s: %w", streams.ErrBadMetadata, id, err)
		}
	}
	if m.Tenant != string(n.Tenant()) {
		return streams.Record{}, fmt.Errorf("%w: event %s of %s has tenant %q", streams.ErrBadMetadata, id, stream, m.Tenant)
	}
	if m.RecordedAt != "" {
		at, err := time.Parse(time.RFC3339Nano, m.RecordedAt)
		if err != nil {
			return streams.Record{}, fmt.Errorf("%w: event %s: recorded at: %w", streams.ErrBadMetadata, id, err)
		}
		created = at
	}
	return streams.Record{
		ID: id, Stream: n, Type: typ, Version: streams.Version(revision + 1), Position: streams.Position(commit),
		RecordedAt: created.UTC(), Data: data,
		Metadata: streams.Metadata{
			Tenant: n.Tenant(), UserID: m.UserID, CorrelationID: m.CorrelationID,
			CausationID: m.CausationID, CommandID: m.CommandID, RequestHash: m.RequestHash,
		},
	}, nil
}
