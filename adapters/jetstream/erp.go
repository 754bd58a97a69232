package jetstream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ERPStream is the JetStream stream of the tenants' ERP messages, on the
// subjects erp.<tenant>.<aggregate>.
const ERPStream = "ATRIUM_ERP"

// ERPBusConfig configures the ERP message bus.
type ERPBusConfig struct {
	// Replicas of the stream on a NATS cluster; default 1.
	Replicas int
	// AckWait is how long a message handed to the dispatcher may go without
	// an ack before the server sends it again; default 60s.
	AckWait time.Duration
	// MaxNakDelay bounds the growing delay before a nacked message is sent
	// again; default 1m.
	MaxNakDelay time.Duration
	// Window is how many of a tenant's messages the server hands out ahead
	// of their acks; default 16. The dispatcher still delivers them one at
	// a time, in order (it holds one whose predecessor is undelivered).
	Window int
}

// ERPBus is the ERP messages' transport: watermill-nats on JetStream.
//
// The stream is a work queue: a message stays until its tenant's
// dispatcher acks it, however long its ERP is down. Each tenant has its own
// durable consumer, bound to a queue group so that any instance may
// deliver, handing out a window of messages ahead of their acks; a
// subscription processes them one at a time, and the dispatcher delivers
// a message only once every earlier one of its tenant is delivered (the
// outbox knows), so the tenant's order holds even when the server sends a
// nacked message again after later ones. MaxDeliver is unlimited on purpose: a message
// the target could not take now is never dropped by the bus; one the target
// refuses for good is parked by the dispatcher, which acks it. AckWait is
// longer than a delivery with its retries in place, so the server sends a
// message again only when the process holding it died.
type ERPBus struct {
	Publisher  message.Publisher
	Subscriber message.Subscriber
}

// OpenERPBus creates the stream (or updates its settings) and returns its
// publisher and subscriber on nc, which they do not close.
func OpenERPBus(ctx context.Context, nc *nats.Conn, cfg ERPBusConfig, logger watermill.LoggerAdapter) (*ERPBus, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Minute
	}
	if cfg.MaxNakDelay <= 0 {
		cfg.MaxNakDelay = time.Minute
	}
	if cfg.Window <= 0 {
		cfg.Window = 16
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        ERPStream,
		Description: "Atrium: each tenant's ERP messages, until delivered",
		Subjects:    []string{"erp.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		// A publish retried within this window (the relay did not see its
		// ack) is stored once.
		Duplicates: 10 * time.Minute,
	}); err != nil {
		return nil, translate(fmt.Errorf("create ERP stream: %w", err))
	}
	pub, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		// The relay sets the duplicate-detection header itself (the
		// message id and its generation).
		JetStream: wmnats.JetStreamConfig{},
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("ERP publisher: %w", err)
	}
	sub, err := wmnats.NewSubscriberWithNatsConn(nc, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:      &wmnats.NATSMarshaler{},
		SubscribersCount: 1,
		AckWaitTimeout:   cfg.AckWait,
		CloseTimeout:     10 * time.Second,
		SubscribeTimeout: 30 * time.Second,
		NakDelay:         nakDelay{max: cfg.MaxNakDelay},
		// A tenant's topic "erp.<tenant>" is its subjects "erp.<tenant>.>",
		// consumed by the queue group and durable "erp_<tenant>".
		SubjectCalculator: func(_ string, topic string) *wmnats.SubjectDetail {
			return &wmnats.SubjectDetail{Primary: topic + ".>", QueueGroup: erpDurable(topic)}
		},
		JetStream: wmnats.JetStreamConfig{
			// No ConsumerReplicas: a tenant's durable consumer gets the
			// stream's replicas, and follows them when they change.
			SubscribeOptions: []nats.SubOpt{
				nats.BindStream(ERPStream),
				nats.ManualAck(),
				nats.AckExplicit(),
				nats.DeliverAll(),
				nats.MaxAckPending(cfg.Window),
				nats.AckWait(cfg.AckWait),
				nats.MaxDeliver(-1),
			},
			DurableCalculator: func(_ string, topic string) string { return erpDurable(strings.TrimSuffix(topic, ".>")) },
			// An ack lost on its way is a message sent again, which the
			// dispatcher recognises as delivered.
			AckAsync: true,
		},
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("ERP subscriber: %w", err)
	}
	return &ERPBus{Publisher: pub, Subscriber: sub}, nil
}

// erpDurable names a tenant's consumer: "erp.acme" → "erp_acme".
func erpDurable(topic string) string { return strings.ReplaceAll(topic, ".", "_") }

// nakDelay is the pause before a nacked message is sent again: 1s after
// the first delivery, doubling, at most max.
type nakDelay struct{ max time.Duration }

func (n nakDelay) WaitTime(delivered uint64) time.Duration {
	d := time.Second
	for range min(delivered, 30) {
		d *= 2
		if d >= n.max {
			return n.max
		}
	}
	return d
}
