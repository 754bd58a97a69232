package projections

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/streams"
)

// Source delivers a tenant's events as watermill messages: UUID = event id,
// payload = event data, metadata = the streams bus keys including
// Atrium-Position and, when known, Atrium-Pending. Messages come in position
// order, starting after the given position; the next message is delivered
// only once the previous one is acknowledged, and a nacked message is
// delivered again before any later one. The tenant comes from ctx (a
// subscription without one fails with tenant.ErrNoTenant), and a
// subscription never delivers another tenant's events; events appended
// after it began are delivered as they come. The channel is closed when ctx
// ends or the subscription fails. Subscriptions are independent of each
// other. projections/sourcetest is the conformance suite every Source
// passes.
type Source interface {
	Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error)
}
