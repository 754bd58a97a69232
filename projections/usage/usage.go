// Package usage is the read model of a tenant's usage, day by day (tables
// usage_days, usage_members, usage_last): what its log says it did, the
// API requests the instances counted into it, and each day's close as
// billing was sent it. Being derived from the log, it is counted once
// however many instances project it, and a restart neither loses nor
// repeats a day.
package usage

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

type projector struct{}

// New returns the usage projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "usage" }

// EveryEvent: every event is counted, those of types no projector knows
// too.
func (projector) EveryEvent() {}

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

// member is the Memo key of a member counted active on a day in this
// batch.
type member struct{ day, user string }

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	switch e := ev.(type) {
	case usage.RequestsCounted:
		if e.Requests <= 0 {
			return nil
		}
		return upsert(ctx, tx, e.Day, `api_requests = api_requests + ?`, e.Requests)
	case usage.DayClosed:
		record, err := json.Marshal(e.Record)
		if err != nil {
			return err
		}
		return upsert(ctx, tx, e.Record.Day, `record = ?`, string(record))
	case usage.DayReported:
		return upsert(ctx, tx, e.Day, `reported_at = ?`, e.At.UTC().Format(time.RFC3339Nano))
	}
	if usage.Bookkeeping(rec.Type) {
		return nil
	}
	day := usage.Day(rec.RecordedAt)
	cmd, who := rec.Metadata.CommandID, rec.Metadata.UserID
	inbound := int64(0)
	if who == usage.ERPCaller {
		inbound = 1
	}
	// The events of one command follow one another in the log: an event
	// of another command than the day's last starts a command. An event
	// of no command is counted as an event only.
	if err := upsert(ctx, tx, day, `events = events + 1, event_bytes = event_bytes + ?,
		commands = commands + CASE WHEN ? = '' OR last_command = ? THEN 0 ELSE 1 END,
		erp_inbound = erp_inbound + CASE WHEN ? = '' OR last_command = ? THEN 0 ELSE ? END,
		last_command = ?`, int64(len(rec.Data)), cmd, cmd, cmd, cmd, inbound, cmd); err != nil {
		return err
	}
	if cmd == "" || who == "" || who == usage.ERPCaller {
		return nil
	}
	memo, _ := tx.(projections.Memo)
	key := member{day, who}
	if memo != nil {
		if _, ok := memo.Recall(key); ok {
			return nil
		}
	}
	// A member of the tenant's (the memberlist read model, projected
	// before this one): not the platform's administrators nor its own
	// processes.
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_members (day, user_id) SELECT ?, ?
		WHERE EXISTS (SELECT 1 FROM members WHERE user_id = ?)
		AND NOT EXISTS (SELECT 1 FROM usage_members WHERE day = ? AND user_id = ?)`, day, who, who, day, who); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	if memo != nil {
		memo.Remember(key, true)
	}
	return nil
}

// upsert applies assignments (with their arguments) to day's row, making
// the row when it has none.
func upsert(ctx context.Context, tx projections.Tx, day, assignments string, args ...any) error {
	res, err := tx.ExecContext(ctx, `UPDATE usage_days SET `+assignments+` WHERE day = ?`, append(args, day)...)
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_days (day) VALUES (?)`, day); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE usage_days SET `+assignments+` WHERE day = ?`, append(args, day)...)
	return err
}

// Day is one day's row.
type Day struct {
	Day           string
	Commands      int64
	Events        int64
	EventBytes    int64
	APIRequests   int64
	ERPInbound    int64
	ActiveMembers int64
	// Closed is the day's record as billing is sent it, once closed.
	Closed *usage.Record
	// Reported is when billing took it; zero until then.
	Reported time.Time
}

// MaxDays bounds the days one query returns.
const MaxDays = 400

// Queries reads the ctx tenant's usage. It checks no caller: the API
// lets only the tenant's admins and the platform ask.
type Queries struct{ rs projections.ReadStore }

// NewQueries returns the usage queries.
func NewQueries(rs projections.ReadStore) *Queries { return &Queries{rs: rs} }

const columns = `SELECT d.day, d.commands, d.events, d.event_bytes, d.api_requests, d.erp_inbound,
	(SELECT COUNT(*) FROM usage_members m WHERE m.day = d.day), d.record, d.reported_at FROM usage_days d`

// Days returns the days from..to (both included, YYYY-MM-DD) the tenant
// did something on, in order, at most MaxDays of them.
func (q *Queries) Days(ctx context.Context, from, to string) ([]Day, error) {
	return q.query(ctx, columns+` WHERE d.day >= ? AND d.day <= ?`, from, to)
}

// Unclosed returns the days before day that have no record yet.
func (q *Queries) Unclosed(ctx context.Context, before string) ([]Day, error) {
	return q.query(ctx, columns+` WHERE d.day < ? AND d.record IS NULL`, before)
}

// Unreported returns the closed days billing has not taken.
func (q *Queries) Unreported(ctx context.Context) ([]Day, error) {
	return q.query(ctx, columns+` WHERE d.record IS NOT NULL AND d.reported_at IS NULL`)
}

func (q *Queries) query(ctx context.Context, query string, args ...any) ([]Day, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, db.SQL.Limit(query, "d.day", MaxDays), args...)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	var out []Day
	for rows.Next() {
		var d Day
		var record, reported sql.NullString
		if err := rows.Scan(&d.Day, &d.Commands, &d.Events, &d.EventBytes, &d.APIRequests, &d.ERPInbound, &d.ActiveMembers, &record, &reported); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		if record.Valid {
			d.Closed = new(usage.Record)
			if err := json.Unmarshal([]byte(record.String), d.Closed); err != nil {
				return nil, fmt.Errorf("usage: day %s: %w", d.Day, err)
			}
		}
		if reported.Valid {
			d.Reported, _ = time.Parse(time.RFC3339Nano, reported.String)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LastClosed is the ctx tenant's latest closed day, "" when none is.
func (q *Queries) LastClosed(ctx context.Context) (string, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return "", err
	}
	defer db.Release()
	var day sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT MAX(day) FROM usage_days WHERE record IS NOT NULL`).Scan(&day); err != nil {
		return "", fmt.Errorf("usage: last closed day: %w", err)
	}
	return day.String, nil
}

// DatabaseBytes is what the ctx tenant's read database takes.
func (q *Queries) DatabaseBytes(ctx context.Context) (int64, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Release()
	var n int64
	if err := db.QueryRow(ctx, db.SQL.DatabaseBytes()).Scan(&n); err != nil {
		return 0, fmt.Errorf("usage: database size: %w", err)
	}
	return n, nil
}
