package jetstream

import (
	"context"
	"errors"
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
// messages: message UUID = event id, payload = event data, metadata = the
// streams bus keys, with Atrium-Position set from the JetStream sequence and
// Atrium-Pending from the consumer's pending count.
//
// Each Subscribe creates an ephemeral consumer starting right after the
// given position: the projections' checkpoint in the read database is the
// truth, JetStream acknowledgements only pace delivery. Messages are handed
// out one at a time, in order; a nacked message is handed out again after a
// pause rather than redelivered later out of order.
//
// The source has its own delivery loop rather than watermill-nats'
// pkg/jetstream subscriber: in v2.1.3 that subscriber can send on its closed
// output channel, and so panic, when a subscription's context ends while a
// message is in flight.
type Source struct {
	js     jetstream.JetStream
	logger watermill.LoggerAdapter
}

// NewSource returns a source on nc. Its subscriptions end with their
// contexts; drain nc after they have, so acknowledgements are flushed.
func NewSource(nc *nats.Conn, logger watermill.LoggerAdapter) (*Source, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Source{js: js, logger: logger}, nil
}

// Subscribe implements projections.Source. The channel is closed when ctx
// ends or the subscription fails; the consumer is deleted then.
func (s *Source) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.js.Stream(ctx, StreamName(t))
	if err != nil {
		return nil, translate(fmt.Errorf("subscribe %s: %w", t, err))
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       uint64(after) + 1,
		AckPolicy:         jetstream.AckExplicitPolicy,
		FilterSubject:     tenantSubjects(t),
		InactiveThreshold: time.Minute,
		MaxAckPending:     1024,
	})
	if err != nil {
		return nil, translate(fmt.Errorf("subscribe %s: %w", t, err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return nil, translate(fmt.Errorf("subscribe %s: %w", t, err))
	}
	out := make(chan *message.Message)
	go s.deliver(ctx, t, it, out, func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := st.DeleteConsumer(dctx, cons.CachedInfo().Name); err != nil {
			s.logger.Debug("delete consumer", watermill.LogFields{"tenant": string(t), "err": err})
		}
	})
	return out, nil
}

// deliver hands messages out one at a time, and is the only goroutine that
// sends on or closes out.
func (s *Source) deliver(ctx context.Context, t tenant.ID, it jetstream.MessagesContext, out chan<- *message.Message, cleanup func()) {
	defer cleanup()
	defer close(out)
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				s.logger.Error("event subscription ended", err, watermill.LogFields{"tenant": string(t)})
			}
			return
		}
		wm, err := unmarshal(msg)
		if err != nil {
			s.logger.Error("unreadable stored event skipped", err, watermill.LogFields{"tenant": string(t), "subject": msg.Subject()})
			_ = msg.Term()
			continue
		}
		for attempt := 0; ; attempt++ {
			m := wm.Copy()
			m.SetContext(ctx)
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
			select {
			case <-m.Acked():
				_ = msg.Ack()
			case <-m.Nacked():
				select {
				case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, 5*time.Second)):
					continue
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
			break
		}
	}
}

// unmarshal turns a stored event into a watermill message.
func unmarshal(msg jetstream.Msg) (*message.Message, error) {
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
