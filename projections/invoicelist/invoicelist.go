// Package invoicelist is the read model of invoices: one row per invoice in
// the tenant's read database (table invoices), and the queries of the
// invoice list and detail.
package invoicelist

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
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

type projector struct{}

// New returns the invoicelist projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "invoicelist" }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	if rec.Stream.Aggregate() != invoice.Category {
		return nil
	}
	id, v, pos, at := rec.Stream.ID(), int64(rec.Version), int64(rec.Position), ts(rec.RecordedAt)
	var err error
	switch e := ev.(type) {
	case invoice.Drafted:
		lines, jerr := json.Marshal(e.Lines)
		if jerr != nil {
			return jerr
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO invoices (id, number, client_id, client_name, status, currency, total, paid, due,
			due_date, sales_rep, created_by, created_at, issued_at, updated_at, version, position, created_position, lines)
			VALUES (?, NULL, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)`,
			id, e.Client.ID, e.Client.Name, string(invoice.StatusDraft), string(e.Currency), e.Total.Amount, e.Total.Amount,
			e.DueDate, e.SalesRep, e.CreatedBy, ts(e.CreatedAt), at, v, pos, pos, string(lines))
	case invoice.SubmittedForValidation:
		err = setStatus(ctx, tx, id, invoice.StatusPendingValidation, at, v, pos)
	case invoice.Rejected:
		err = setStatus(ctx, tx, id, invoice.StatusRejected, at, v, pos)
	case invoice.Cancelled:
		err = setStatus(ctx, tx, id, invoice.StatusCancelled, at, v, pos)
	case invoice.Issued:
		_, err = tx.ExecContext(ctx, `UPDATE invoices SET status = ?, number = ?, issued_at = ?, updated_at = ?, version = ?, position = ? WHERE id = ?`,
			string(invoice.StatusIssued), e.Number, ts(e.IssuedAt), at, v, pos, id)
	case invoice.PaymentRecorded:
		status := invoice.StatusPartiallyPaid
		if e.Due.Amount <= 0 {
			status = invoice.StatusPaid
		}
		_, err = tx.ExecContext(ctx, `UPDATE invoices SET status = ?, paid = ?, due = ?, updated_at = ?, version = ?, position = ? WHERE id = ?`,
			string(status), e.Paid.Amount, e.Due.Amount, at, v, pos, id)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE invoices SET updated_at = ?, version = ?, position = ? WHERE id = ?`, at, v, pos, id)
	}
	return err
}

func setStatus(ctx context.Context, tx projections.Tx, id string, s invoice.Status, at string, v, pos int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE invoices SET status = ?, updated_at = ?, version = ?, position = ? WHERE id = ?`, string(s), at, v, pos, id)
	return err
}

// Invoice is one row of the list.
type Invoice struct {
	ID         string
	Number     string
	ClientID   string
	ClientName string
	Status     string
	Currency   money.Currency
	Total      money.Money
	Paid       money.Money
	Due        money.Money
	DueDate    string
	Overdue    bool
	SalesRep   string
	CreatedBy  string
	Lines      []invoice.Line
	Version    int64
	Position   int64
	CreatedAt  time.Time
	IssuedAt   *time.Time
	UpdatedAt  time.Time
}

// Filter narrows a list.
type Filter struct {
	Status   string
	ClientID string
	Limit    int
	Cursor   string
}

// Page is one page of a list; NextCursor is empty on the last page.
type Page struct {
	Items      []Invoice
	NextCursor string
}

// ErrBadCursor is returned for a cursor this list did not give.
var ErrBadCursor = projections.ErrBadCursor

// Queries reads the invoice list of the ctx tenant.
type Queries struct {
	rs  projections.ReadStore
	now func() time.Time
}

// NewQueries returns the invoice queries.
func NewQueries(rs projections.ReadStore, now func() time.Time) *Queries {
	return &Queries{rs: rs, now: now}
}

func canRead(ctx context.Context) error {
	p, err := user.From(ctx)
	if err != nil {
		return err
	}
	if !p.Has(invoice.ReadRoles()...) {
		return domain.Forbiddenf("your roles do not allow reading invoices")
	}
	return nil
}

const columns = `id, number, client_id, client_name, status, currency, total, paid, due, due_date, sales_rep,
	created_by, created_at, issued_at, updated_at, version, position, created_position, lines`

// listColumns are columns but the lines: a page of up to 500 invoices of
// up to 200 lines each would be hundreds of megabytes. Lists carry no
// lines; Get does.
const listColumns = `id, number, client_id, client_name, status, currency, total, paid, due, due_date, sales_rep,
	created_by, created_at, issued_at, updated_at, version, position, created_position, NULL`

// List returns invoices, newest first, filtered and paged, without their
// lines.
func (q *Queries) List(ctx context.Context, f Filter) (Page, error) {
	if err := canRead(ctx); err != nil {
		return Page{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Page{}, err
	}
	defer db.Release()
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.ClientID != "" {
		where, args = append(where, "client_id = ?"), append(args, f.ClientID)
	}
	if f.Cursor != "" {
		before, err := projections.DecodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		where, args = append(where, "created_position < ?"), append(args, before)
	}
	query := "SELECT " + listColumns + " FROM invoices"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query = db.SQL.Limit(query, "created_position DESC", f.Limit+1)
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list invoices: %w", err)
	}
	defer rows.Close()
	var page Page
	var created []int64
	for rows.Next() {
		inv, cp, err := q.scan(rows)
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, inv)
		created = append(created, cp)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list invoices: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		page.NextCursor = projections.EncodeCursor(created[f.Limit-1])
	}
	return page, nil
}

// getInvoice is the query of Get, prepared once per pool.
const getInvoice = "SELECT " + columns + " FROM invoices WHERE id = ?"

// Get returns one invoice, or projections.ErrNotFound.
func (q *Queries) Get(ctx context.Context, id string) (Invoice, error) {
	if err := canRead(ctx); err != nil {
		return Invoice{}, err
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Invoice{}, err
	}
	defer db.Release()
	rows, err := db.Query(ctx, getInvoice, id)
	if err != nil {
		return Invoice{}, fmt.Errorf("get invoice: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Invoice{}, err
		}
		return Invoice{}, projections.ErrNotFound
	}
	inv, _, err := q.scan(rows)
	return inv, err
}

// IDByNumber returns the id of the ctx tenant's invoice numbered number,
// or projections.ErrNotFound.
func (q *Queries) IDByNumber(ctx context.Context, number string) (string, error) {
	if err := canRead(ctx); err != nil {
		return "", err
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return "", err
	}
	defer db.Release()
	var id string
	err = db.QueryRowContext(ctx, "SELECT id FROM invoices WHERE number = ?", number).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", projections.ErrNotFound
	}
	return id, err
}

func (q *Queries) scan(rows *sql.Rows) (Invoice, int64, error) {
	var (
		inv                         Invoice
		number, issued, ljs         sql.NullString
		cur, created, updated       string
		total, paid, due, createdAt int64
	)
	if err := rows.Scan(&inv.ID, &number, &inv.ClientID, &inv.ClientName, &inv.Status, &cur, &total, &paid, &due,
		&inv.DueDate, &inv.SalesRep, &inv.CreatedBy, &created, &issued, &updated, &inv.Version, &inv.Position, &createdAt, &ljs); err != nil {
		return Invoice{}, 0, fmt.Errorf("scan invoice: %w", err)
	}
	c := money.Currency(cur)
	inv.Number, inv.Currency = number.String, c
	inv.Total, inv.Paid, inv.Due = money.New(total, c), money.New(paid, c), money.New(due, c)
	inv.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	inv.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
	if issued.Valid {
		at, _ := time.Parse(time.RFC3339Nano, issued.String)
		inv.IssuedAt = &at
	}
	if ljs.Valid {
		if err := json.Unmarshal([]byte(ljs.String), &inv.Lines); err != nil {
			return Invoice{}, 0, fmt.Errorf("invoice %s lines: %w", inv.ID, err)
		}
	}
	inv.Overdue = Overdue(inv.Status, inv.DueDate, due, q.now())
	return inv, createdAt, nil
}

// Overdue reports whether an invoice with this status, due date and amount
// due is overdue on the day of now.
func Overdue(status, dueDate string, due int64, now time.Time) bool {
	if due <= 0 || (status != string(invoice.StatusIssued) && status != string(invoice.StatusPartiallyPaid)) {
		return false
	}
	return dueDate < now.UTC().Format(time.DateOnly)
}
