// Package audit reads a tenant's history straight from the event store:
// the whole log in order for auditors, one aggregate's events, and an
// aggregate's events up to a point in time. It keeps no table.
package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Roles may read the audit log.
func Roles() []user.Role { return []user.Role{user.Auditor, user.Admin} }

// Event is one event as auditors see it.
type Event struct {
	// ID is the event's id: an ERP message's id is its event's.
	ID         string          `json:"id"`
	Position   uint64          `json:"position"`
	Stream     string          `json:"stream"`
	Type       string          `json:"type"`
	Version    uint64          `json:"version"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   Metadata        `json:"metadata"`
}

// Metadata is what auditors see of an event's metadata.
type Metadata struct {
	UserID        string `json:"user_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
}

// Reader reads the ctx tenant's events.
type Reader struct {
	store streams.Store
}

// NewReader returns a reader over store.
func NewReader(store streams.Store) *Reader { return &Reader{store: store} }

// Allow reports whether the ctx caller may read the tenant's audit log
// (its check, export and replay included): a forbidden problem if not.
func Allow(ctx context.Context) error { return allow(ctx, Roles()) }

func allow(ctx context.Context, roles []user.Role) error {
	p, err := user.From(ctx)
	if err != nil {
		return err
	}
	if !p.Has(roles...) {
		return domain.Forbiddenf("your roles do not allow reading this history")
	}
	return nil
}

func view(r streams.Record) Event {
	data := json.RawMessage(r.Data)
	if !json.Valid(data) {
		data, _ = json.Marshal(string(r.Data))
	}
	return Event{
		ID: r.ID.String(), Position: uint64(r.Position), Stream: string(r.Stream), Type: r.Type, Version: uint64(r.Version),
		RecordedAt: r.RecordedAt, Data: data,
		Metadata: Metadata{UserID: r.Metadata.UserID, CorrelationID: r.Metadata.CorrelationID, CausationID: r.Metadata.CausationID},
	}
}

// Events returns at most limit events after position after, in order.
func (r *Reader) Events(ctx context.Context, after streams.Position, limit int) ([]Event, error) {
	if err := allow(ctx, Roles()); err != nil {
		return nil, err
	}
	recs, err := r.store.ReadTenant(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(recs))
	for i, rec := range recs {
		out[i] = view(rec)
	}
	return out, nil
}

// Stream calls fn for every event after position after, in order, reading
// the log in pages; it stops at the first error.
func (r *Reader) Stream(ctx context.Context, after streams.Position, fn func(Event) error) error {
	if err := allow(ctx, Roles()); err != nil {
		return err
	}
	return each(ctx, r.store, after, func(rec streams.Record) error { return fn(view(rec)) })
}

// each calls fn for every event of the ctx tenant after position after,
// in order, reading the log a page at a time; it stops at fn's first error.
func each(ctx context.Context, store streams.Store, after streams.Position, fn func(streams.Record) error) error {
	for {
		recs, err := store.ReadTenant(ctx, after, page)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < page {
			return nil
		}
		after = recs[len(recs)-1].Position
	}
}

// History returns the events of one aggregate stream, oldest first, to a
// caller holding one of roles.
func (r *Reader) History(ctx context.Context, stream streams.Name, roles []user.Role) ([]Event, error) {
	if err := allow(ctx, roles); err != nil {
		return nil, err
	}
	recs, err := r.store.ReadStream(ctx, stream)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(recs))
	for i, rec := range recs {
		out[i] = view(rec)
	}
	return out, nil
}

// UpTo returns the records of stream recorded at or before asOf, to a caller
// holding one of roles, for rebuilding the aggregate's state then.
func (r *Reader) UpTo(ctx context.Context, stream streams.Name, asOf time.Time, roles []user.Role) ([]streams.Record, error) {
	if err := allow(ctx, roles); err != nil {
		return nil, err
	}
	recs, err := r.store.ReadStream(ctx, stream)
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(recs) && !recs[n].RecordedAt.After(asOf) {
		n++
	}
	return recs[:n], nil
}
