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

const query = `SELECT o.id, o.assignee, o.period, o.metric, o.target, o.currency, o.status, o.reason, o.version, o.created_position
	FROM objectives o`

// payments are the payments credited to objectives: each objective's
// assignee's, in its currency, paid in its period.
const payments = `SELECT o.id, p.amount FROM objectives o JOIN sales_payments p ON p.sales_rep = o.assignee
	AND p.currency = o.currency AND p.paid_at >= o.period_start AND p.paid_at < o.period_end WHERE o.id IN `

// List returns objectives newest first, with their progress; a salesperson
// sees their own. A progress beyond money.MaxTotal is the rejection
// total_out_of_range.
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
	sqlText = db.SQL.Limit(sqlText, "o.created_position DESC", f.Limit+1)
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
	if err := progress(ctx, db, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// progress sums, checked, the payments credited to each of objs, and sets
// their progress and achieved ratio.
func progress(ctx context.Context, db projections.DB, objs []Objective) error {
	if len(objs) == 0 {
		return nil
	}
	byID := make(map[string]*Objective, len(objs))
	args := make([]any, len(objs))
	for i := range objs {
		byID[objs[i].ID], args[i] = &objs[i], objs[i].ID
	}
	rows, err := db.QueryContext(ctx, payments+"(?"+strings.Repeat(", ?", len(objs)-1)+")", args...)
	if err != nil {
		return fmt.Errorf("objective progress: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var amount int64
		if err := rows.Scan(&id, &amount); err != nil {
			return err
		}
		o := byID[id]
		if o.Progress, err = projections.AddTotal(o.Progress, money.New(amount, o.Target.Currency)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range objs {
		objs[i].AchievedRatio = Ratio(objs[i].Progress.Amount, objs[i].Target.Amount)
	}
	return nil
}

// Ratio is progress / target truncated to 4 decimals, without overflow
// whatever the amounts; 0 for a target that is not positive.
func Ratio(progress, target int64) float64 {
	if target <= 0 {
		return 0
	}
	if n, err := money.MulDiv(progress, 10_000, target); err == nil {
		return float64(n) / 10_000
	}
	// progress × 10,000 / target does not fit: the ratio is huge, and its
	// decimals are those of the remainder.
	frac, _ := money.MulDiv(progress%target, 10_000, target)
	return float64(progress/target) + float64(frac)/10_000
}

func scan(rows *sql.Rows) (Objective, int64, error) {
	var o Objective
	var target, cp int64
	var cur string
	var reason sql.NullString
	if err := rows.Scan(&o.ID, &o.Assignee, &o.Period, &o.Metric, &target, &cur, &o.Status, &reason, &o.Version, &cp); err != nil {
		return Objective{}, 0, err
	}
	c := money.Currency(cur)
	o.Target, o.Progress, o.Reason = money.New(target, c), money.Zero(c), reason.String
	return o, cp, nil
}
