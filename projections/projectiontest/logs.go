package projectiontest

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Logs holds the logs of several tenants, each with its Source, and is a
// projections.Source over them all: a subscription reads its ctx tenant's
// log, through that tenant's Source, and never another's. Append writes as
// a streams.Store's does. A tenant's log exists once provisioned (by
// Provision, Log or Source); appending to or subscribing an unprovisioned
// tenant fails with streams.ErrUnknownTenant. Logs is safe for concurrent
// use.
type Logs struct {
	reg *streams.Registry

	mu   sync.Mutex
	srcs map[tenant.ID]*Source
}

var _ projections.Source = (*Logs)(nil)

// NewLogs returns logs with no tenant, whose Log.Append encodes events
// with reg.
func NewLogs(reg *streams.Registry) *Logs {
	return &Logs{reg: reg, srcs: map[tenant.ID]*Source{}}
}

// Source returns the source of tenant t's log, provisioning it; its
// settings (NoPending, FailNext, ...) apply to the tenant's subscriptions
// through l.
func (l *Logs) Source(t tenant.ID) *Source {
	l.mu.Lock()
	defer l.mu.Unlock()
	src, ok := l.srcs[t]
	if !ok {
		src = NewSource(NewLog(t, l.reg))
		l.srcs[t] = src
	}
	return src
}

// Log returns tenant t's log, provisioning it.
func (l *Logs) Log(t tenant.ID) *Log { return l.Source(t).log }

// Provision provisions the ctx tenant's log; it is idempotent.
func (l *Logs) Provision(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	l.Source(t)
	return nil
}

// Append appends events to stream, of the ctx tenant, when it is at
// expected, as streams.Store's Append does, except that a retry is not
// told from a new append. It returns the stream's version and the
// tenant's position after the events.
func (l *Logs) Append(ctx context.Context, stream streams.Name, expected streams.ExpectedVersion, events ...streams.EventData) (streams.AppendResult, error) {
	src, err := l.provisioned(ctx)
	if err != nil {
		return streams.AppendResult{}, err
	}
	if stream.Tenant() != src.log.t {
		return streams.AppendResult{}, fmt.Errorf("%w: %s in tenant %s", streams.ErrTenantMismatch, stream, src.log.t)
	}
	for _, e := range events {
		if e.Metadata.Tenant != "" && e.Metadata.Tenant != src.log.t {
			return streams.AppendResult{}, fmt.Errorf("%w: event %s has tenant %s in tenant %s", streams.ErrTenantMismatch, e.ID, e.Metadata.Tenant, src.log.t)
		}
	}
	return src.log.appendEvents(stream, expected, events)
}

// Subscribe implements projections.Source for the ctx tenant.
func (l *Logs) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	src, err := l.provisioned(ctx)
	if err != nil {
		return nil, err
	}
	return src.Subscribe(ctx, after)
}

// provisioned returns the source of the ctx tenant, which must be
// provisioned.
func (l *Logs) provisioned(ctx context.Context) (*Source, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	src, ok := l.srcs[t]
	if !ok {
		return nil, fmt.Errorf("%w: %s", streams.ErrUnknownTenant, t)
	}
	return src, nil
}
