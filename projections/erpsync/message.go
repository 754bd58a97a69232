// Package erpsync keeps each tenant's ERP in step with its events: the
// message format an ERP receives, the port its connectors implement, and
// (with the runner) the projector that turns the events of the kinds a
// tenant chose into messages and the dispatcher that delivers them.
package erpsync

import (
	"context"
	"encoding/json"
	"time"
)

// Message is one event as a tenant's ERP receives it. Its ID is the
// event's: a message sent again (a retry, a resync) has the same id, and
// the ERP deduplicates by it.
type Message struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Type is the event's name without its version ("invoice.issued").
	Type string `json:"type"`
	// Aggregate is the event's stream category ("invoice").
	Aggregate   string          `json:"aggregate"`
	AggregateID string          `json:"aggregate_id"`
	Version     uint64          `json:"version"`
	Position    uint64          `json:"position"`
	OccurredAt  time.Time       `json:"occurred_at"`
	Data        json.RawMessage `json:"data"`
}

// Outcome is what a connector made of one delivery: delivered; or to be
// tried again (the target could not take it now: 408, 429, 5xx, a time-out,
// a refused connection), not before RetryAfter when the target said so;
// or refused for good (any other answer), when the message is parked as
// failed and the tenant's queue moves on.
type Outcome struct {
	Delivered  bool
	Retry      bool
	RetryAfter time.Duration
	// Err says what went wrong, for the message's last_error: never a
	// secret, never more than a line.
	Err error
}

// Delivered is the outcome of a delivery the target took.
func Delivered() Outcome { return Outcome{Delivered: true} }

// Retry is the outcome of a delivery to try again, not before after (0:
// the dispatcher's back-off decides).
func Retry(err error, after time.Duration) Outcome {
	return Outcome{Retry: true, RetryAfter: after, Err: err}
}

// Refused is the outcome of a delivery the target refused for good.
func Refused(err error) Outcome { return Outcome{Err: err} }

// Connector delivers one tenant's messages to its ERP. Deliver is called
// with one message at a time, in the tenant's event order, and again for
// the same message after a Retry outcome; the target must take a message
// it already has as delivered (it deduplicates by Message.ID). Deliver
// returns when ctx ends. Close releases what the connector holds.
type Connector interface {
	Deliver(ctx context.Context, m Message) Outcome
	Close() error
}
