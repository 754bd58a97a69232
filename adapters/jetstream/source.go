package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Source delivers a tenant's events to the projections as watermill
// messages: message UUID = event id, payload = event data, metadata = the
// streams bus keys, with Atrium-Position set from the JetStream sequence and
// Atrium-Pending from the consumer's pending count.
//
// Each Subscribe creates an ephemeral consumer starting right after the
// given position: the projections' checkpoint in the read database is the
// truth, so the consumer asks for no acknowledgements (one per event, a
// message to the server each, cost a quarter of the projector's time); the
// client's pull batches pace delivery, and a subscription that fails is
// replaced by one from the checkpoint. Messages are handed out in position
// order, ahead of their handling (projections.Source); acknowledgements are
// ignored. It passes projections/sourcetest.
//
// The consumer is created by a watermill-nats ResourceInitializer and
// messages are turned into watermill messages by a watermill-nats
// Unmarshaler, but the delivery loop is the source's own rather than
// watermill-nats' pkg/jetstream subscriber: in v2.1.3 that subscriber can
// send on its closed output channel, and so panic, when a subscription's
// context ends while a message is in flight; it dereferences a nil message
// when unmarshalling fails; and a nacked message is redelivered by the
// server after later ones.
type Source struct {
	js     jetstream.JetStream
	logger watermill.LoggerAdapter

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
	wg     sync.WaitGroup
}

// subscription is one Subscribe in progress.
type subscription struct{ cancel context.CancelFunc }

// ErrSourceClosed is returned by Subscribe after Close.
var ErrSourceClosed = errors.New("jetstream: event source closed")

// NewSource returns a source on nc, which it does not close.
func NewSource(nc *nats.Conn, logger watermill.LoggerAdapter) (*Source, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &Source{js: js, logger: logger, subs: map[*subscription]struct{}{}}, nil
}

// How soon a subscription notices that its consumer is gone: deleted, or
// lost with the cluster node that held it, the stream's leader coming back
// or another node taking over without it. (A single server restarted on
// its directory keeps the consumer: the client pulls again after it
// reconnects and nothing is lost.)
//
// A deleted consumer is noticed at once when the server tells the waiting
// pull request (409 Consumer Deleted). A lost one never tells: the only
// sign is that the idle heartbeats the server sends while a pull request
// waits stop coming. The client reports ErrNoHeartbeat after two missed
// heartbeats, so a lost consumer is noticed 2 to 4 seconds after it went
// (with the client's defaults, a 30s pull expiry and a 15s heartbeat, it
// took up to 30 seconds, while reads lagged and nothing said so). The
// subscription then ends, and its user subscribes again from its
// checkpoint.
//
// What it costs: one heartbeat every pullHeartbeat and one pull request
// every pullExpiry per idle tenant, some 600 small messages a second for a
// thousand tenants. The heartbeat must be at most half the expiry. The
// event store's subscriptions (Store.Subscribe) use the same numbers.
const (
	// pullHeartbeat is how often the server signals that a waiting pull
	// request is alive.
	pullHeartbeat = 2 * time.Second
	// pullExpiry is how long one pull request waits on the server before
	// the client issues the next.
	pullExpiry = 10 * time.Second
	// consumerInactive is how long the server keeps a consumer nobody pulls
	// from (its process died, or lost its connection): three pull
	// expiries, so a live subscription never loses its consumer to it, and
	// one that loses it during a long disconnection notices by the missing
	// heartbeats and subscribes again.
	consumerInactive = 3 * pullExpiry
)

// tenantConsumer is the watermill-nats ResourceInitializer of a
// subscription: an ephemeral consumer of the tenant stream named by topic,
// from sequence after+1, deleted by the returned closer.
func tenantConsumer(after streams.Position) wmjs.ResourceInitializer {
	return func(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
		st, err := js.Stream(ctx, topic)
		if err != nil {
			return nil, nil, err
		}
		cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   uint64(after) + 1,
			AckPolicy:     jetstream.AckNonePolicy,
			// A consumer whose process died is removed by the server.
			InactiveThreshold: consumerInactive,
		})
		if err != nil {
			return nil, nil, err
		}
		name := cons.CachedInfo().Name
		return cons, func(ctx context.Context, logger watermill.LoggerAdapter) {
			if err := st.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				logger.Debug("delete consumer", watermill.LogFields{"consumer": name, "err": err})
			}
		}, nil
	}
}

// Subscribe implements projections.Source for the ctx tenant. The channel
// is closed when ctx ends, the subscription fails (its consumer deleted, or
// lost and silent for two heartbeats: see pullHeartbeat) or the source is
// closed; the consumer is deleted then.
func (s *Source) Subscribe(ctx context.Context, after streams.Position) (<-chan *message.Message, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrSourceClosed
	}
	cons, closeConsumer, err := tenantConsumer(after)(ctx, s.js, StreamName(t))
	if err != nil {
		return nil, translate(fmt.Errorf("subscribe %s after %d: %w", t, after, err))
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		closeConsumer(context.WithoutCancel(ctx), s.logger)
		return nil, translate(fmt.Errorf("subscribe %s after %d: %w", t, after, err))
	}
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{cancel: cancel}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		it.Stop()
		closeConsumer(context.WithoutCancel(ctx), s.logger)
		cancel()
		return nil, ErrSourceClosed
	}
	s.subs[sub] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	out := make(chan *message.Message, deliverAhead)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.subs, sub)
			s.mu.Unlock()
			cancel()
		}()
		defer func() {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer dcancel()
			closeConsumer(dctx, s.logger)
		}()
		s.deliver(ctx, t, after, it, out)
	}()
	return out, nil
}

// Close ends every subscription (their channels are closed and their
// consumers deleted) and waits for them. Subscribe fails after Close.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed = true
	for sub := range s.subs {
		sub.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// deliver hands the consumer's events out in order, and is the only
// goroutine that sends on or closes out (buffered: events are fetched and
// unmarshalled ahead of the one being handled).
//
// A tenant's stream numbers its events without gaps, and the consumer
// hands them out in order, save when a delivery is lost on the way: the
// connection moved to another server of the cluster (the one it used
// died) while messages were in flight to it. The consumer counts those as
// delivered and goes on with the next ones. A projection must never see a
// later event before an earlier one, so an event after a gap ends the
// subscription, and its user subscribes again from its checkpoint.
// (Nothing is ever removed from a tenant's stream: it denies deletes and
// purges.)
func (s *Source) deliver(ctx context.Context, t tenant.ID, after streams.Position, it jetstream.MessagesContext, out chan<- *message.Message) {
	defer close(out)
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	delivered := uint64(after) // the last sequence handed out
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				s.logger.Error("event subscription ended", err, watermill.LogFields{"tenant": string(t)})
			}
			return
		}
		meta, err := msg.Metadata()
		if err != nil {
			// Not a stream message: nothing to hand out, and no sequence
			// to skip (a gap ends the subscription if one was lost).
			s.logger.Error("event without metadata skipped", err, watermill.LogFields{"tenant": string(t), "subject": msg.Subject()})
			continue
		}
		seq := meta.Sequence.Stream
		if seq <= delivered {
			continue // handed out already
		}
		if seq > delivered+1 {
			s.logger.Error("event subscription ended", fmt.Errorf("%w: event %d arrived before %d", errDeliveryGap, seq, delivered+1),
				watermill.LogFields{"tenant": string(t)})
			return
		}
		delivered = seq
		m, err := unmarshaler{}.Unmarshal(msg)
		if err != nil {
			s.logger.Error("unreadable stored event skipped", err, watermill.LogFields{"tenant": string(t), "subject": msg.Subject()})
			continue
		}
		m.SetContext(ctx)
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

// deliverAhead is how many events a subscription hands out ahead of the
// one being handled.
const deliverAhead = 64

// errDeliveryGap is why a subscription that saw a gap ended.
var errDeliveryGap = errors.New("jetstream: a delivery was lost in transit")

// unmarshaler is the watermill-nats Unmarshaler of stored events.
type unmarshaler struct{}

var _ wmjs.Unmarshaler = unmarshaler{}

// Unmarshal turns a stored event into a watermill message: its id, its
// data, its metadata by bus key (from its MetaEvent header, or its
// Atrium-* headers when stored before there was one), and its position
// and pending count from the delivery's metadata.
func (unmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	h := msg.Headers()
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	id := h.Get(nats.MsgIdHdr)
	if id == "" {
		return nil, fmt.Errorf("event at %d has no id", meta.Sequence.Stream)
	}
	m := message.NewMessage(id, msg.Data())
	if v := h.Get(streams.MetaEvent); v != "" {
		if md, err := streams.ParseEventMeta(v); err == nil {
			md.Each(m.Metadata.Set)
		} else {
			// Handed out as it is: the runner finds its metadata does not
			// decode and sets it aside, as any such event.
			m.Metadata.Set(streams.MetaEvent, v)
		}
	} else {
		// Stored before MetaEvent: one header per key.
		for k, v := range h {
			if len(v) > 0 && strings.HasPrefix(k, "Atrium-") {
				m.Metadata.Set(k, v[0])
			}
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
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: poisonStream, Subjects: []string{poisonPrefix + ">"}, Storage: jetstream.FileStorage,
		Description: "Events a projector could not apply, per tenant, for inspection and replay",
		// Kept as they are: ReplicateAssets sets them at start (replicas.go).
		Replicas: keptReplicas(ctx, js, poisonStream),
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

// The poison queue: a stream of every tenant's events a projector could
// not apply, on poisonPrefix + tenant.
const (
	poisonStream = "ATRIUM_POISON"
	poisonPrefix = projections.PoisonPrefix
)

// PoisonCounts returns how many events each tenant has in the poison
// queue, by tenant, from the stream's per-subject state (two requests,
// whatever the number of tenants); none when the stream does not exist
// yet.
func PoisonCounts(ctx context.Context, nc *nats.Conn) (map[tenant.ID]uint64, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, poisonStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return map[tenant.ID]uint64{}, nil
	}
	if err != nil {
		return nil, translate(fmt.Errorf("poison stream: %w", err))
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(poisonPrefix+">"))
	if err != nil {
		return nil, translate(fmt.Errorf("poison stream: %w", err))
	}
	out := make(map[tenant.ID]uint64, len(info.State.Subjects))
	for subject, n := range info.State.Subjects {
		out[tenant.ID(strings.TrimPrefix(subject, poisonPrefix))] = n
	}
	return out, nil
}
