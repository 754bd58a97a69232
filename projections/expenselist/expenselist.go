// Package expenselist is the read model of expense claims (table expenses):
// an employee's own claims, the approval queue (status submitted), and the
// queries behind GET /api/v1/expenses.
package expenselist

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

type projector struct{}

// New returns the expenselist projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "expenselist" }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	if rec.Stream.Aggregate() != expense.Category {
		return nil
	}
	id, v, at := rec.Stream.ID(), int64(rec.Version), rec.RecordedAt.UTC().Format(time.RFC3339Nano)
	set := func(cols string, args ...any) error {
		_, err := tx.ExecContext(ctx, "UPDATE expenses SET "+cols+", updated_at = ?, version = ? WHERE id = ?", append(args, at, v, id)...)
		return err
	}
	switch e := ev.(type) {
	case expense.Drafted:
		_, err := tx.ExecContext(ctx, `INSERT INTO expenses (id, owner, category, amount, currency, spent_on, description, status,
			has_receipt, decided_by, reason, created_at, updated_at, version, created_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?, ?)`,
			id, e.Owner, e.Category, e.Amount.Amount, string(e.Amount.Currency), e.SpentOn, e.Description, string(expense.StatusDraft),
			at, at, v, int64(rec.Position))
		return err
	case expense.ReceiptAttached:
		return set("has_receipt = 1")
	case expense.Submitted:
		return set("status = ?", string(expense.StatusSubmitted))
	case expense.Approved:
		return set("status = ?, decided_by = ?", string(expense.StatusApproved), e.By)
	case expense.Rejected:
		return set("status = ?, decided_by = ?, reason = ?", string(expense.StatusRejected), e.By, e.Reason)
	case expense.Reimbursed:
		return set("status = ?", string(expense.StatusReimbursed))
	}
	return nil
}

// Expense is one row.
type Expense struct {
	ID          string
	Owner       string
	Category    string
	Amount      money.Money
	SpentOn     string
	Description string
	Status      string
	HasReceipt  bool
	DecidedBy   string
	Reason      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// Filter narrows a list.
type Filter struct {
	Status string
	Owner  string
	Limit  int
	Cursor string
}

// ErrBadCursor is returned for a cursor this list did not give.
var ErrBadCursor = projections.ErrBadCursor

// Queries reads the ctx tenant's claims.
type Queries struct{ rs projections.ReadStore }

// NewQueries returns the expense queries.
func NewQueries(rs projections.ReadStore) *Queries { return &Queries{rs: rs} }

const columns = `id, owner, category, amount, currency, spent_on, description, status, has_receipt, decided_by, reason, created_at, updated_at, version, created_position`

// List returns claims newest first: an employee's own only, whatever the
// filter says.
func (q *Queries) List(ctx context.Context, f Filter) ([]Expense, string, error) {
	p, err := user.From(ctx)
	if err != nil {
		return nil, "", err
	}
	if len(p.Roles) == 0 {
		return nil, "", domain.Forbiddenf("your roles do not allow reading expenses")
	}
	if !p.Has(user.Overseers()...) {
		f.Owner = string(p.ID)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Owner != "" {
		where, args = append(where, "owner = ?"), append(args, f.Owner)
	}
	if f.Cursor != "" {
		n, err := projections.DecodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "created_position < ?"), append(args, n)
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer db.Release()
	query := "SELECT " + columns + " FROM expenses"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query = db.SQL.Limit(query, "created_position DESC", f.Limit+1)
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list expenses: %w", err)
	}
	defer rows.Close()
	var out []Expense
	var created []int64
	for rows.Next() {
		e, cp, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out, created = append(out, e), append(created, cp)
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

// Get returns one claim to its owner or to those who read all claims;
// anyone else gets projections.ErrNotFound.
func (q *Queries) Get(ctx context.Context, id string) (Expense, error) {
	p, err := user.From(ctx)
	if err != nil {
		return Expense{}, err
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Expense{}, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, "SELECT "+columns+" FROM expenses WHERE id = ?", id)
	if err != nil {
		return Expense{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Expense{}, err
		}
		return Expense{}, projections.ErrNotFound
	}
	e, _, err := scan(rows)
	if err != nil {
		return Expense{}, err
	}
	if e.Owner != string(p.ID) && !p.Has(user.Overseers()...) {
		return Expense{}, projections.ErrNotFound
	}
	return e, nil
}

func scan(rows *sql.Rows) (Expense, int64, error) {
	var e Expense
	var amount, cp int64
	var cur, created, updated string
	var receipt int
	var decided, reason sql.NullString
	if err := rows.Scan(&e.ID, &e.Owner, &e.Category, &amount, &cur, &e.SpentOn, &e.Description, &e.Status, &receipt,
		&decided, &reason, &created, &updated, &e.Version, &cp); err != nil {
		return Expense{}, 0, err
	}
	e.Amount = money.New(amount, money.Currency(cur))
	e.HasReceipt = receipt != 0
	e.DecidedBy, e.Reason = decided.String, reason.String
	e.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	e.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
	return e, cp, nil
}

// Total is the accepted spend (approved or reimbursed claims) of one month,
// for one category or one employee, in one currency.
type Total struct {
	Month    string // YYYY-MM, of spent_on
	Key      string // the category or the employee's user id
	Amount   money.Money
	Expenses int
}

// Totals returns monthly totals by "category" or by "employee", to those who
// read all claims. The sums are made here, checked, not by SQL: a total
// beyond money.MaxTotal is the rejection total_out_of_range.
func (q *Queries) Totals(ctx context.Context, by string) ([]Total, error) {
	p, err := user.From(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Has(user.Overseers()...) {
		return nil, domain.Forbiddenf("your roles do not allow reading expense totals")
	}
	col := map[string]string{"category": "category", "employee": "owner"}[by]
	if col == "" {
		return nil, domain.Invalidf("by", "invalid_request", "by is category or employee")
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, `SELECT SUBSTRING(spent_on, 1, 7) AS month, `+col+`, currency, amount
		FROM expenses WHERE status IN ('approved', 'reimbursed') ORDER BY month DESC, `+col+`, currency`)
	if err != nil {
		return nil, fmt.Errorf("expense totals: %w", err)
	}
	defer rows.Close()
	out := []Total{}
	for rows.Next() {
		var month, key, cur string
		var amount int64
		if err := rows.Scan(&month, &key, &cur, &amount); err != nil {
			return nil, err
		}
		c := money.Currency(cur)
		if n := len(out); n == 0 || out[n-1].Month != month || out[n-1].Key != key || out[n-1].Amount.Currency != c {
			out = append(out, Total{Month: month, Key: key, Amount: money.Zero(c)})
		}
		t := &out[len(out)-1]
		if t.Amount, err = projections.AddTotal(t.Amount, money.New(amount, c)); err != nil {
			return nil, err
		}
		t.Expenses++
	}
	return out, rows.Err()
}
