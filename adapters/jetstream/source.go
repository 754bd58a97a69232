package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Source delivers a tenant's events to the projections as watermill
// messages, through watermill-nats: message UUID = event id, payload = event
// data, metadata = the streams bus keys, with Atrium-Position set from the
// JetStream sequence and Atrium-Pending from the consumer's pending count.
//
// Each Subscribe creates an ephemeral consumer starting right after the
// given position: the projections' checkpoint in the read database is the
// truth, JetStream acknowledgements only pace delivery.
type Source struct {
	sub *wmjs.Subscriber
}

// NewSource returns a source on nc. The connection stays the caller's; drain
// it after Close so asynchronous acks are flushed.
func NewSource(nc *nats.Conn, logger watermill.LoggerAdapter) (*Source, error) {
	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:                nc,
		Logger:              logger,
		AckAsync:            true,
		AckWaitTimeout:      30 * time.Second,
		ResourceInitializer: positionedConsumer,
		Unmarshaler:         recordUnmarshaler{},
	})
	if err != nil {
		return nil, fmt.Errorf("watermill jetstream subscriber: %w", err)
	}
	return &Source{sub: sub}, nil
}

// topicKey carries the start position from Subscribe to the resource
// initializer, which watermill calls with the subscription's ctx.
type afterKey struct{}

// Subscribe implements projections.Source.
func (s *Source) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, afterKey{}, after)
	ch, err := s.sub.Subscribe(ctx, string(t))
	if err != nil {
		return nil, translate(fmt.Errorf("subscribe %s: %w", t, err))
	}
	return ch, nil
}

// Close stops every subscription. It does not close the connection.
func (s *Source) Close() error {
	// The watermill subscriber drains the connection it was given on Close;
	// the connection is shared with the store, so only its subscriptions
	// are stopped, through their contexts.
	return nil
}

// positionedConsumer creates the ephemeral consumer for topic (a tenant
// slug), starting after the position carried by ctx.
func positionedConsumer(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
	t, err := tenant.Parse(topic)
	if err != nil {
		return nil, nil, err
	}
	after, _ := ctx.Value(afterKey{}).(streams.Position)
	st, err := js.Stream(ctx, StreamName(t))
	if err != nil {
		return nil, nil, err
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       uint64(after) + 1,
		AckPolicy:         jetstream.AckExplicitPolicy,
		FilterSubject:     tenantSubjects(t),
		InactiveThreshold: time.Minute,
		MaxAckPending:     4096,
	})
	if err != nil {
		return nil, nil, err
	}
	name := cons.CachedInfo().Name
	return cons, func(ctx context.Context, log watermill.LoggerAdapter) {
		if err := st.DeleteConsumer(ctx, name); err != nil {
			log.Debug("delete consumer", watermill.LogFields{"consumer": name, "err": err})
		}
	}, nil
}

// recordUnmarshaler turns a stored event into a watermill message.
type recordUnmarshaler struct{}

func (recordUnmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	h := msg.Headers()
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	m := message.NewMessage(h.Get(nats.MsgIdHdr), msg.Data())
	for k, v := range h {
		if len(v) > 0 && len(k) > 7 && k[:7] == "Atrium-" {
			m.Metadata.Set(k, v[0])
		}
	}
	m.Metadata.Set(streams.MetaPosition, strconv.FormatUint(meta.Sequence.Stream, 10))
	m.Metadata.Set(streams.MetaPending, strconv.FormatUint(meta.NumPending, 10))
	return m, nil
}

// NewPoisonPublisher returns a watermill publisher for the poison queue:
// topic "poison.<tenant>" lands in the JetStream stream ATRIUM_POISON.
func NewPoisonPublisher(ctx context.Context, nc *nats.Conn, logger watermill.LoggerAdapter) (message.Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "ATRIUM_POISON", Subjects: []string{"poison.>"}, Storage: jetstream.FileStorage,
		Description: "Events a projector could not apply, per tenant, for inspection and replay",
	}); err != nil {
		return nil, translate(fmt.Errorf("poison stream: %w", err))
	}
	pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{
		Conn:   nc,
		Logger: logger,
		// The publisher sends to the subject named by the stream config's
		// Name; the topic is the subject, captured by ATRIUM_POISON.
		ConfigureStream: func(topic string) jetstream.StreamConfig {
			return jetstream.StreamConfig{Name: topic, Subjects: []string{topic}}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("poison publisher: %w", err)
	}
	return sharedConnPublisher{pub}, nil
}

// sharedConnPublisher keeps Close from closing the connection the publisher
// shares with the rest of the process.
type sharedConnPublisher struct{ message.Publisher }

func (sharedConnPublisher) Close() error { return nil }

// QuietLogger adapts slog for watermill, dropping its per-message Info,
// Debug and Trace lines and keeping errors.
func QuietLogger(log interface {
	Error(msg string, args ...any)
}) watermill.LoggerAdapter {
	return quietLogger{log: log}
}

type quietLogger struct {
	log    interface{ Error(msg string, args ...any) }
	fields watermill.LogFields
}

func (q quietLogger) Error(msg string, err error, fields watermill.LogFields) {
	args := []any{"err", err}
	for k, v := range q.fields.Add(fields) {
		args = append(args, k, v)
	}
	q.log.Error("watermill: "+msg, args...)
}
func (quietLogger) Info(string, watermill.LogFields)  {}
func (quietLogger) Debug(string, watermill.LogFields) {}
func (quietLogger) Trace(string, watermill.LogFields) {}
func (q quietLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietLogger{log: q.log, fields: q.fields.Add(fields)}
}
