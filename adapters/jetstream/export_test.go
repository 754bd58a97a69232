package jetstream

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Crash stops the lease goroutine as a killed process would: no projection
// is stopped, no key given back; the leases expire on their own.
func (l *Leases) Crash() { l.halt() }

// DeliverFrom runs the source's delivery loop over it, an iterator a test
// controls, for tenant t from after.
func (s *Source) DeliverFrom(ctx context.Context, t tenant.ID, after streams.Position, it jetstream.MessagesContext, out chan<- *message.Message) {
	s.deliver(ctx, t, after, it, out)
}
