package erpsync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/erp"
	"github.com/atrium-platform/atrium/projections"
)

// Outbox reads and updates the ctx tenant's ERP messages in its read
// database: what the API answers, and the delivery state the dispatcher
// keeps.
type Outbox struct{ rs projections.ReadStore }

// NewOutbox returns the outbox of the tenants' read databases.
func NewOutbox(rs projections.ReadStore) *Outbox { return &Outbox{rs: rs} }

// States of the connection as GET /api/v1/erp/status answers it.
const (
	StateOK            = "ok"
	StateRetrying      = "retrying"
	StateStopped       = "stopped"
	StateNotConfigured = "not_configured"
)

// Status is the ctx tenant's delivery status.
type Status struct {
	State                 string     `json:"state"`
	Pending               int64      `json:"pending"`
	Failed                int64      `json:"failed"`
	Delivered             int64      `json:"delivered"`
	LastDeliveredPosition int64      `json:"last_delivered_position"`
	LastError             *string    `json:"last_error"`
	NextAttemptAt         *time.Time `json:"next_attempt_at"`
}

// Row is one message as GET /api/v1/erp/messages lists it.
type Row struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	AggregateID string     `json:"aggregate_id"`
	Position    int64      `json:"position"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   *string    `json:"last_error"`
	DeliveredAt *time.Time `json:"delivered_at"`
}

// Connection is the ctx tenant's connection as the outbox last saw it.
func (o *Outbox) Connection(ctx context.Context) (erp.Connection, error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return erp.Connection{}, err
	}
	defer db.Release()
	return connection(ctx, db)
}

// Status answers the ctx tenant's delivery status.
func (o *Outbox) Status(ctx context.Context) (Status, error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return Status{}, err
	}
	defer db.Release()
	c, err := connection(ctx, db)
	if err != nil {
		return Status{}, err
	}
	var s Status
	rows, err := db.QueryContext(ctx, `SELECT status, COUNT(*) FROM erp_messages GROUP BY status`)
	if err != nil {
		return Status{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return Status{}, err
		}
		switch st {
		case StatusPending:
			s.Pending = n
		case StatusFailed:
			s.Failed = n
		case StatusDelivered:
			s.Delivered = n
		}
	}
	if err := rows.Err(); err != nil {
		return Status{}, err
	}
	var last sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(position) FROM erp_messages WHERE status = ?`, StatusDelivered).Scan(&last); err != nil {
		return Status{}, err
	}
	s.LastDeliveredPosition = last.Int64
	// The first pending message is the head of the queue: its error and its
	// next attempt are the connection's.
	var lastErr, next sql.NullString
	var attempts int
	err = db.QueryRowContext(ctx, db.SQL.Limit(`SELECT attempts, last_error, next_attempt_at FROM erp_messages WHERE status = ?`, "position", 1),
		StatusPending).Scan(&attempts, &lastErr, &next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Status{}, err
	}
	if lastErr.Valid {
		s.LastError = &lastErr.String
	}
	if t, ok := parseStamp(next); ok {
		s.NextAttemptAt = &t
	}
	switch {
	case c.Status == erp.StatusNotConfigured:
		s.State = StateNotConfigured
	case c.Status == erp.StatusStopped:
		s.State = StateStopped
	case attempts > 0:
		s.State = StateRetrying
	default:
		s.State = StateOK
	}
	return s, nil
}

// Filter selects messages: by status (none: all), newest first.
type Filter struct {
	Status string
	Limit  int
	Cursor string
}

// List returns the ctx tenant's messages newest first, and the cursor of
// the next page ("" at the end).
func (o *Outbox) List(ctx context.Context, f Filter) ([]Row, string, error) {
	var where []string
	var args []any
	switch f.Status {
	case "":
	case StatusPending, StatusFailed, StatusDelivered:
		where, args = append(where, "status = ?"), append(args, f.Status)
	default:
		return nil, "", domain.Invalidf("status", "invalid_request", "status must be pending, failed or delivered")
	}
	if f.Cursor != "" {
		n, err := projections.DecodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "position < ?"), append(args, n)
	}
	limit := projections.PageLimit(f.Limit)
	db, err := o.rs.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer db.Release()
	query := `SELECT id, type, aggregate_id, position, status, attempts, last_error, delivered_at FROM erp_messages`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.QueryContext(ctx, db.SQL.Limit(query, "position DESC", limit+1), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list erp messages: %w", err)
	}
	defer rows.Close()
	out := []Row{}
	for rows.Next() {
		var r Row
		var lastErr, delivered sql.NullString
		if err := rows.Scan(&r.ID, &r.Type, &r.AggregateID, &r.Position, &r.Status, &r.Attempts, &lastErr, &delivered); err != nil {
			return nil, "", err
		}
		if lastErr.Valid {
			r.LastError = &lastErr.String
		}
		if t, ok := parseStamp(delivered); ok {
			r.DeliveredAt = &t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = projections.EncodeCursor(out[limit-1].Position)
	}
	return out, next, nil
}

// Failed implements the ERP commands' Messages port.
func (o *Outbox) Failed(ctx context.Context, id string) (exists, failed bool, err error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return false, false, err
	}
	defer db.Release()
	var status string
	err = db.QueryRowContext(ctx, `SELECT status FROM erp_messages WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, status == StatusFailed, nil
}

// Delivery is a message's delivery state, as the dispatcher reads it
// before an attempt.
type Delivery struct {
	Message       Message
	Status        string
	Attempts      int
	Generation    int64
	NextAttemptAt time.Time
	// Head is the position of the tenant's first message still to deliver.
	Head uint64
}

// Delivery reads one message's delivery state; ok false when the outbox
// has no such message.
func (o *Outbox) Delivery(ctx context.Context, id string) (d Delivery, ok bool, err error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return Delivery{}, false, err
	}
	defer db.Release()
	var payload string
	var next sql.NullString
	var head sql.NullInt64
	err = db.QueryRow(ctx, `SELECT payload, status, attempts, generation, next_attempt_at,
		(SELECT MIN(position) FROM erp_messages WHERE status = ?) FROM erp_messages WHERE id = ?`, StatusPending, id).
		Scan(&payload, &d.Status, &d.Attempts, &d.Generation, &next, &head)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, false, nil
	}
	if err != nil {
		return Delivery{}, false, err
	}
	if err := json.Unmarshal([]byte(payload), &d.Message); err != nil {
		return Delivery{}, false, fmt.Errorf("erpsync: message %s: %w", id, err)
	}
	d.NextAttemptAt, _ = parseStamp(next)
	d.Head = uint64(head.Int64)
	return d, true, nil
}

// Delivered records that generation gen of message id was delivered,
// and counts the delivery on at's day (UTC).
func (o *Outbox) Delivered(ctx context.Context, id string, gen int64, at time.Time) error {
	return o.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE erp_messages SET status = ?, attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL, delivered_at = ?
			WHERE id = ? AND generation = ? AND status = ?`, StatusDelivered, stamp(at), id, gen, StatusPending)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO erp_deliveries (id, generation, delivered_on) SELECT ?, ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM erp_deliveries WHERE id = ? AND generation = ?)`, id, gen, at.UTC().Format(time.DateOnly), id, gen)
		return err
	})
}

// inTx runs fn in a transaction of the ctx tenant's read database,
// committed when fn succeeds.
func (o *Outbox) inTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Attempted records a failed attempt of message id that will be tried
// again, not before next.
func (o *Outbox) Attempted(ctx context.Context, id string, gen int64, cause string, next time.Time) error {
	return o.exec(ctx, `UPDATE erp_messages SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
		WHERE id = ? AND generation = ? AND status = ?`, line(cause), stamp(next), id, gen, StatusPending)
}

// Parked records that message id was refused for good: failed, until an
// admin asks for it again.
func (o *Outbox) Parked(ctx context.Context, id string, gen int64, cause string) error {
	return o.exec(ctx, `UPDATE erp_messages SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = NULL
		WHERE id = ? AND generation = ? AND status = ?`, StatusFailed, line(cause), id, gen, StatusPending)
}

// DeliveredOn counts the ctx tenant's deliveries on each day from..to
// (UTC, YYYY-MM-DD, both included), by day, a message sent again by a
// resync once more; a day without any is left out.
func (o *Outbox) DeliveredOn(ctx context.Context, from, to string) (map[string]int64, error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, `SELECT delivered_on, COUNT(*) FROM erp_deliveries
		WHERE delivered_on >= ? AND delivered_on <= ? GROUP BY delivered_on`, from, to)
	if err != nil {
		return nil, fmt.Errorf("erp deliveries by day: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var day string
		var n int64
		if err := rows.Scan(&day, &n); err != nil {
			return nil, err
		}
		out[day] = n
	}
	return out, rows.Err()
}

// Pending counts the ctx tenant's pending messages.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Release()
	var n int64
	err = db.QueryRow(ctx, `SELECT COUNT(*) FROM erp_messages WHERE status = ?`, StatusPending).Scan(&n)
	return n, err
}

// Unpublished returns at most limit messages not yet handed to the bus, in
// position order, with the generation each is to be published under.
func (o *Outbox) Unpublished(ctx context.Context, limit int) ([]Message, []int64, error) {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, db.SQL.Limit(`SELECT payload, generation FROM erp_messages WHERE published = 0`, "position", limit))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ms []Message
	var gens []int64
	for rows.Next() {
		var payload string
		var gen int64
		if err := rows.Scan(&payload, &gen); err != nil {
			return nil, nil, err
		}
		var m Message
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			return nil, nil, fmt.Errorf("erpsync: outbox payload: %w", err)
		}
		ms, gens = append(ms, m), append(gens, gen)
	}
	return ms, gens, rows.Err()
}

// Published records that messages ms, each under its generation in gens,
// are on the bus: in one transaction.
func (o *Outbox) Published(ctx context.Context, ms []Message, gens []int64) error {
	if len(ms) == 0 {
		return nil
	}
	return o.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE erp_messages SET published = 1 WHERE id = ? AND generation = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, m := range ms {
			if _, err := st.ExecContext(ctx, m.ID, gens[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (o *Outbox) exec(ctx context.Context, query string, args ...any) error {
	db, err := o.rs.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	_, err = db.Exec(ctx, query, args...)
	return err
}

// line keeps the first line of an error, at most 500 bytes of it.
func line(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 500 {
		s = s[:500]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func parseStamp(s sql.NullString) (time.Time, bool) {
	if !s.Valid || s.String == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	return t, err == nil
}
