package erpsync

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/erp"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

// Name is the outbox's read model name.
const Name = "erpsync"

// The delivery states of a message.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// History reads a tenant's events in position order: at most limit with a
// position greater than after (streams.Store.ReadTenant).
type History func(ctx context.Context, after streams.Position, limit int) ([]streams.Record, error)

// Notify is told that the ctx tenant's outbox has messages to publish once
// its projections reach pos.
type Notify func(ctx context.Context, pos streams.Position)

type projector struct {
	history History
	notify  Notify
}

// New returns the outbox projector: for each event of a kind the tenant's
// active connection chooses, a pending message in erp_messages, in the same
// transaction as the event's checkpoint. The events are the outbox's
// source: the table can be rebuilt from them, and a resync re-derives its
// rows from history. notify (may be nil) is told of every new message.
func New(history History, notify Notify) projections.Projector {
	if notify == nil {
		notify = func(context.Context, streams.Position) {}
	}
	return projector{history: history, notify: notify}
}

func (projector) Name() string { return Name }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

func (p projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	switch e := ev.(type) {
	case erp.ConnectionSet:
		forgetConnection(tx)
		if err := setConnection(ctx, tx, e); err != nil {
			return err
		}
		// Messages held while the connection was stopped go now.
		p.notify(ctx, rec.Position)
		return nil
	case erp.ConnectionRemoved:
		forgetConnection(tx)
		_, err := tx.ExecContext(ctx, `UPDATE erp_connection SET status = ? WHERE id = 1`, string(erp.StatusStopped))
		return err
	case erp.ResyncRequested:
		return p.resync(ctx, tx, e.FromPosition, rec.Position)
	case erp.MessageRetryRequested:
		res, err := tx.ExecContext(ctx, `UPDATE erp_messages SET status = ?, published = 0, generation = ?, attempts = 0, last_error = NULL, next_attempt_at = NULL
			WHERE id = ? AND status = ?`, StatusPending, int64(rec.Position), e.MessageID, StatusFailed)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			p.notify(ctx, rec.Position)
		}
		return nil
	}
	if ev == nil || rec.Stream.Aggregate() == erp.Category {
		return nil
	}
	c, err := batchConnection(ctx, tx)
	if err != nil || !c.Sends(rec.Stream.Aggregate()) {
		return err
	}
	if err := Insert(ctx, tx, MessageOf(rec), 0); err != nil {
		return err
	}
	p.notify(ctx, rec.Position)
	return nil
}

// resync re-derives the messages of the events from position from on (to
// the resync's own, at): those of the kinds the connection sends now
// become pending again, to be published anew under generation at.
func (p projector) resync(ctx context.Context, tx projections.Tx, from uint64, at streams.Position) error {
	c, err := connection(ctx, tx)
	if err != nil || c.Status != erp.StatusActive {
		return err
	}
	after := streams.Position(0)
	if from > 0 {
		after = streams.Position(from - 1)
	}
	n := 0
	for after < at {
		recs, err := p.history(ctx, after, 512)
		if errors.Is(err, streams.ErrUnknownPosition) && after > 0 {
			// A store whose positions are not every number (KurrentDB)
			// reads only from an event's: from the start, then, and the
			// events before from are passed over below.
			after = 0
			continue
		}
		if err != nil {
			return fmt.Errorf("erpsync: resync: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			after = rec.Position
			if uint64(rec.Position) < from || rec.Position >= at || rec.Stream.Aggregate() == erp.Category || !c.Sends(rec.Stream.Aggregate()) {
				continue
			}
			res, err := tx.ExecContext(ctx, `UPDATE erp_messages SET status = ?, published = 0, generation = ?, attempts = 0, last_error = NULL,
				next_attempt_at = NULL, delivered_at = NULL WHERE id = ?`, StatusPending, int64(at), rec.ID.String())
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil || k > 0 {
				if err != nil {
					return err
				}
				n++
				continue
			}
			if err := Insert(ctx, tx, MessageOf(rec), int64(at)); err != nil {
				return err
			}
			n++
		}
	}
	if n > 0 {
		p.notify(ctx, at)
	}
	return nil
}

// setConnection keeps the one connection row.
func setConnection(ctx context.Context, tx projections.Tx, e erp.ConnectionSet) error {
	events, err := json.Marshal(e.Events)
	if err != nil {
		return err
	}
	mappings, err := json.Marshal(e.Mappings)
	if err != nil {
		return err
	}
	args := []any{string(erp.StatusActive), string(e.Kind), e.Target, e.Table, string(events), string(mappings), e.SecretFingerprint}
	res, err := tx.ExecContext(ctx, `UPDATE erp_connection SET status = ?, kind = ?, target = ?, tbl = ?, events = ?, mappings = ?, fingerprint = ? WHERE id = 1`, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO erp_connection (id, status, kind, target, tbl, events, mappings, fingerprint) VALUES (1, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// connectionKey is the batch memo's key of the connection row.
type connectionKey struct{}

// batchConnection is the connection row, read once per batch when tx keeps
// a memo (every event of a batch would otherwise read it again).
func batchConnection(ctx context.Context, tx projections.Tx) (erp.Connection, error) {
	m, ok := tx.(projections.Memo)
	if !ok {
		return connection(ctx, tx)
	}
	if v, ok := m.Recall(connectionKey{}); ok {
		return v.(erp.Connection), nil
	}
	c, err := connection(ctx, tx)
	if err == nil {
		m.Remember(connectionKey{}, c)
	}
	return c, err
}

// forgetConnection drops the batch's memo of the connection row, which is
// about to change.
func forgetConnection(tx projections.Tx) {
	if m, ok := tx.(projections.Memo); ok {
		m.Forget(connectionKey{})
	}
}

// querier is what both a transaction and a database answer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// connection reads the connection row; a tenant that never set one has
// the status not_configured.
func connection(ctx context.Context, q querier) (erp.Connection, error) {
	var status, kind, target, table, events, mappings, fingerprint string
	err := q.QueryRowContext(ctx, `SELECT status, kind, target, tbl, events, mappings, fingerprint FROM erp_connection WHERE id = 1`).
		Scan(&status, &kind, &target, &table, &events, &mappings, &fingerprint)
	if errors.Is(err, sql.ErrNoRows) {
		return erp.Connection{Status: erp.StatusNotConfigured}, nil
	}
	if err != nil {
		return erp.Connection{}, err
	}
	c := erp.Connection{Status: erp.Status(status), Kind: erp.Kind(kind), Target: target, Table: table, SecretFingerprint: fingerprint}
	if err := json.Unmarshal([]byte(events), &c.Events); err != nil {
		return erp.Connection{}, err
	}
	if err := json.Unmarshal([]byte(mappings), &c.Mappings); err != nil {
		return erp.Connection{}, err
	}
	return c, nil
}

// MessageOf is the ERP message of a stored event.
func MessageOf(rec streams.Record) Message {
	typ := rec.Type
	if i := strings.LastIndex(typ, ".v"); i > 0 {
		typ = typ[:i]
	}
	data := json.RawMessage(rec.Data)
	if !json.Valid(data) {
		data, _ = json.Marshal(string(rec.Data))
	}
	return Message{ID: rec.ID.String(), Tenant: string(rec.Metadata.Tenant), Type: typ, Aggregate: rec.Stream.Aggregate(),
		AggregateID: rec.Stream.ID(), Version: uint64(rec.Version), Position: uint64(rec.Position),
		OccurredAt: rec.RecordedAt.UTC(), Data: data}
}

// Insert adds m to the outbox as pending and not yet published; a message
// already there is left as it is.
func Insert(ctx context.Context, tx projections.Tx, m Message, generation int64) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM erp_messages WHERE id = ?`, m.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO erp_messages (id, position, type, aggregate, aggregate_id, payload, status, generation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, int64(m.Position), m.Type, m.Aggregate, m.AggregateID, string(payload), StatusPending, generation)
	return err
}

// stamp is a UTC time in a fixed width, so times compare as text.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
