package projections

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/streams"
)

// Source delivers a tenant's events as watermill messages: UUID = event id,
// payload = event data, metadata = the streams bus keys including
// Atrium-Position and, when known, Atrium-Pending. Messages come in position
// order, starting after the given position, as fast as the subscriber takes
// them: acknowledgements are neither awaited nor acted on (the subscriber's
// checkpoint is the truth; one that cannot handle a message subscribes
// again from its checkpoint), so a source may fetch ahead and buffer. A
// message is handed out once per subscription. The tenant comes from ctx (a
// subscription without one fails with tenant.ErrNoTenant), and a
// subscription never delivers another tenant's events; events appended
// after it began are delivered as they come. The channel is closed when ctx
// ends or the subscription fails. Subscriptions are independent of each
// other. projections/sourcetest is the conformance suite every Source
// passes.
type Source interface {
	Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error)
}
