// Package streams is the event store port: stream names, the event
// envelope, the type registry and codec, and the Store interface every
// event store adapter implements. streams/storetest is the conformance
// suite each adapter must pass.
package streams

import (
	"context"
	"errors"
)

// Errors every Store translates its technology's errors into.
var (
	// ErrConflict: the stream is not at the expected version. Nothing was written.
	ErrConflict = errors.New("streams: wrong expected version")
	// ErrTenantMismatch: a stream of another tenant than the context's was named.
	ErrTenantMismatch = errors.New("streams: stream belongs to another tenant")
	// ErrUnknownTenant: the tenant has not been provisioned in this store.
	ErrUnknownTenant = errors.New("streams: tenant not provisioned")
	// ErrTooLarge: an append exceeds what the store accepts in one go.
	ErrTooLarge = errors.New("streams: append too large")
	// ErrUnavailable: the store cannot be reached; the operation may be retried.
	ErrUnavailable = errors.New("streams: store unavailable")
	// ErrUnknownPosition: a read from a position that is no event's, on a
	// store whose positions are not every number (KurrentDB's are log
	// offsets). Positions a store gave are always taken.
	ErrUnknownPosition = errors.New("streams: no event at that position")
)

// Append is one stream's part of an atomic multi-stream append.
type Append struct {
	Stream   Name
	Expected ExpectedVersion
	Events   []EventData
}

// Store is an event store. All methods take the tenant from ctx
// (tenant.From) and fail with tenant.ErrNoTenant when there is none; a
// stream of another tenant fails with ErrTenantMismatch. Methods are safe
// for concurrent use.
type Store interface {
	// Provision prepares the store for the tenant in ctx. It is idempotent.
	Provision(ctx context.Context) error

	// Append writes events at the end of stream, atomically: all are
	// visible or none is. When the stream is not at expected it returns
	// ErrConflict and writes nothing. Appending events whose ids are already
	// the last ones of the stream (a retry of an append that succeeded)
	// writes nothing and returns the original result. Once other events
	// follow them, a retry still writes nothing, and answers ErrConflict
	// or, where the store recognises the events where they were written
	// (KurrentDB does), the original result.
	Append(ctx context.Context, stream Name, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// AppendMulti writes to several streams of the ctx tenant atomically:
	// every expected version holds and all events are written, or nothing is.
	// Results are in the order of appends.
	AppendMulti(ctx context.Context, appends ...Append) ([]AppendResult, error)

	// ReadStream returns the events of stream, oldest first. A stream with no
	// event returns an empty slice and no error.
	ReadStream(ctx context.Context, stream Name) ([]Record, error)

	// ReadTenant returns at most limit events of the ctx tenant with a
	// position greater than after, in position order. A store whose
	// positions are not every number may refuse a position that is no
	// event's and not past the tenant's last: ErrUnknownPosition.
	ReadTenant(ctx context.Context, after Position, limit int) ([]Record, error)

	// Head returns the position of the ctx tenant's last event, 0 when none.
	Head(ctx context.Context) (Position, error)

	// Subscribe calls handle for every event of the ctx tenant with a
	// position greater than after, in position order: first those already
	// stored, then each new one as it is appended. handle is called from one
	// goroutine at a time. Subscribe blocks until ctx is done (returning
	// ctx.Err()) or handle returns an error (returning it).
	Subscribe(ctx context.Context, after Position, handle func(context.Context, Record) error) error
}

// Deprovisioner is a store that deletes a tenant's events (offboarding).
type Deprovisioner interface {
	// Deprovision deletes every stream of the ctx tenant.
	Deprovision(ctx context.Context) error
}
