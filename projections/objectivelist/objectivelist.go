// Package objectivelist is the read model of sales objectives (table
// objectives) with their progress, derived from invoice payments (table
// sales_payments): a read model that reads another domain's events, added
// like any other.
package objectivelist

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

type projector struct{}

// New returns the objectivelist projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "objectivelist" }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

// stamp is a UTC time in a fixed width, so that times compare as text.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	id, v := rec.Stream.ID(), int64(rec.Version)
	var err error
	switch e := ev.(type) {
	case invoice.PaymentRecorded:
		if e.SalesRep == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sales_payments (payment_key, invoice_id, sales_rep, paid_at, amount, currency) VALUES (?, ?, ?, ?, ?, ?)`,
			e.InvoiceID+"/"+e.PaymentID, e.InvoiceID, e.SalesRep, stamp(e.PaidAt), e.Amount.Amount, string(e.Amount.Currency))
	case objective.Set:
		p, perr := objective.ParsePeriod(e.Period)
		if perr != nil {
			return perr
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO objectives (id, assignee, period, period_start, period_end, metric, target, currency, status, reason, version, created_position)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`, id, e.Assignee, p.String(), stamp(p.Start()), stamp(p.End()), e.Metric,
			e.Target.Amount, string(e.Target.Currency), string(objective.StatusOpen), v, int64(rec.Position))
	case objective.Submitted:
		_, err = tx.ExecContext(ctx, `UPDATE objectives SET status = ?, version = ? WHERE id = ?`, string(objective.StatusSubmitted), v, id)
	case objective.Validated:
		_, err = tx.ExecContext(ctx, `UPDATE objectives SET status = ?, version = ? WHERE id = ?`, string(objective.StatusValidated), v, id)
	case objective.Rejected:
		_, err = tx.ExecContext(ctx, `UPDATE objectives SET status = ?, reason = ?, version = ? WHERE id = ?`, string(objective.StatusRejected), e.Reason, v, id)
	}
	return err
}

// Objective is one row with its progress.
type Objective struct {
	ID            string
	Assignee      string
	Period        string
	Metric        string
	Target        money.Money
	Progress      money.Money
	AchievedRatio float64 // progress / target, to 4 decimals
	Status        string
	Reason        string
	Version       int64
}

// Filter narrows a list.
type Filter struct {
	Period   string
	Assignee string
	Limit    int
	Cursor   string
}

// ErrBadCursor is returned for a cursor this list did not give.
var ErrBadCursor = projections.ErrBadCursor

// Queries reads the ctx tenant's objectives.
type Queries struct{ rs projections.ReadStore }

// NewQueries returns the objective queries.
func NewQueries(rs projections.ReadStore) *Queries { return &Queries{rs: rs} }

const query = `SELECT o.id, o.assignee, o.period, o.metric, o.target, o.currency, o.status, o.reason, o.version, o.created_position,
	COALESCE((SELECT SUM(p.amount) FROM sales_payments p WHERE p.sales_rep = o.assignee AND p.currency = o.currency
		AND p.paid_at >= o.period_start AND p.paid_at < o.period_end), 0)
	FROM objectives o`

// List returns objectives newest first; a salesperson sees their own.
func (q *Queries) List(ctx context.Context, f Filter) ([]Objective, string, error) {
	p, err := user.From(ctx)
	if err != nil {
		return nil, "", err
	}
	switch {
	case p.Has(user.Overseers()...):
	case p.Has(user.Sales):
		f.Assignee = string(p.ID)
	default:
		return nil, "", domain.Forbiddenf("your roles do not allow reading objectives")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args []any
	if f.Period != "" {
		where, args = append(where, "o.period = ?"), append(args, f.Period)
	}
	if f.Assignee != "" {
		where, args = append(where, "o.assignee = ?"), append(args, f.Assignee)
	}
	if f.Cursor != "" {
		n, err := projections.DecodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "o.created_position < ?"), append(args, n)
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer db.Release()
	sqlText := query
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	sqlText = projections.Limited(db.Dialect, sqlText, "o.created_position DESC", f.Limit+1)
	rows, err := db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list objectives: %w", err)
	}
	defer rows.Close()
	var out []Objective
	var created []int64
	for rows.Next() {
		o, cp, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out, created = append(out, o), append(created, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = projections.EncodeCursor(created[f.Limit-1])
	}
	return out, next, nil
}

func scan(rows *sql.Rows) (Objective, int64, error) {
	var o Objective
	var target, progress, cp int64
	var cur string
	var reason sql.NullString
	if err := rows.Scan(&o.ID, &o.Assignee, &o.Period, &o.Metric, &target, &cur, &o.Status, &reason, &o.Version, &cp, &progress); err != nil {
		return Objective{}, 0, err
	}
	c := money.Currency(cur)
	o.Target, o.Progress, o.Reason = money.New(target, c), money.New(progress, c), reason.String
	if target > 0 {
		o.AchievedRatio = float64(progress*10000/target) / 10000
	}
	return o, cp, nil
}
