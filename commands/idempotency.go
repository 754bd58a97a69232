package commands

import (
	"context"
	"fmt"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// idempotencyCategory is the stream category of idempotency records:
// "<tenant>.idempotency-<scoped key>".
const idempotencyCategory = "idempotency"

// idempotencyRecord names the stream that keeps the answer of the command
// with this scoped id (a digest, from scopedKey) in tenant t.
func idempotencyRecord(t tenant.ID, scopedID string) (streams.Name, error) {
	return streams.NewName(t, idempotencyCategory, scopedID)
}

// Completed records a command's answer under its idempotency key.
type Completed struct {
	Key         string `json:"key"`
	RequestHash string `json:"request_hash"`
	ID          string `json:"id"`
	Version     uint64 `json:"version"`
	Position    uint64 `json:"position"`
}

// EventName implements domain.Event.
func (Completed) EventName() string { return "command.completed.v1" }

// Events are the events of this package, for the registry.
func Events() []domain.Event { return []domain.Event{Completed{}} }

func (x *Executor) recorded(ctx context.Context, record streams.Name, req Request) (Result, bool, error) {
	evs, _, err := x.Load(ctx, record)
	if err != nil || len(evs) == 0 {
		return Result{}, false, err
	}
	c, ok := evs[0].(Completed)
	if !ok {
		return Result{}, false, fmt.Errorf("idempotency record %s holds %T", record, evs[0])
	}
	if c.RequestHash != req.RequestHash {
		return Result{}, true, ErrIdempotencyKeyReused
	}
	return Result{ID: c.ID, Version: streams.Version(c.Version), Position: streams.Position(c.Position)}, true, nil
}

// record keeps the answer under the key. A failure here loses nothing: a
// retry finds the command's events in its stream instead.
func (x *Executor) record(ctx context.Context, record streams.Name, req Request, md streams.Metadata, res Result) {
	evs, err := x.encode(md.Tenant, req.CommandID, record, md, []domain.Event{Completed{
		Key: req.CommandID, RequestHash: req.RequestHash, ID: res.ID, Version: uint64(res.Version), Position: uint64(res.Position),
	}})
	if err != nil {
		return
	}
	_, _ = x.Store.Append(ctx, record, streams.NoStream, evs...)
}
