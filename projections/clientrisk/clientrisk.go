// Package clientrisk is the collections read model of clients' payment
// behaviour (table client_invoices) and the client risk report: overdue
// amount, days sales outstanding, and payment history per client.
package clientrisk

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
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

// New returns the clientrisk projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "clientrisk" }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	if rec.Stream.Aggregate() != invoice.Category {
		return nil
	}
	id := rec.Stream.ID()
	var err error
	switch e := ev.(type) {
	case invoice.Drafted:
		_, err = tx.ExecContext(ctx, `INSERT INTO client_invoices (invoice_id, client_id, client_name, currency, total, paid, issued_on, due_date, last_paid_on, settled_on)
			VALUES (?, ?, ?, ?, ?, 0, NULL, ?, NULL, NULL)`, id, e.Client.ID, e.Client.Name, string(e.Currency), e.Total.Amount, e.DueDate)
	case invoice.Issued:
		_, err = tx.ExecContext(ctx, `UPDATE client_invoices SET issued_on = ?, due_date = ? WHERE invoice_id = ?`, day(e.IssuedAt), e.DueDate, id)
	case invoice.PaymentRecorded:
		if e.Due.Amount <= 0 {
			_, err = tx.ExecContext(ctx, `UPDATE client_invoices SET paid = ?, last_paid_on = ?, settled_on = ? WHERE invoice_id = ?`, e.Paid.Amount, day(e.PaidAt), day(e.PaidAt), id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE client_invoices SET paid = ?, last_paid_on = ? WHERE invoice_id = ?`, e.Paid.Amount, day(e.PaidAt), id)
		}
	case invoice.Cancelled, invoice.Rejected:
		_, err = tx.ExecContext(ctx, `DELETE FROM client_invoices WHERE invoice_id = ?`, id)
	}
	return err
}

// Client is one client's risk in one currency.
type Client struct {
	ClientID    string
	ClientName  string
	Currency    money.Currency
	Invoiced    money.Money // issued, last 90 days
	Outstanding money.Money // issued, not yet paid
	Overdue     money.Money // past its due date, not yet paid
	// DSO is days sales outstanding: outstanding / invoiced in the last 90
	// days × 90, rounded down; -1 when nothing was invoiced then.
	DSO int
	// PaidInvoices, PaidLate and AverageDaysLate describe settled invoices:
	// how many, how many after their due date, and by how much on average.
	PaidInvoices    int
	PaidLate        int
	AverageDaysLate int
}

// Queries reads the ctx tenant's client risk.
type Queries struct {
	rs  projections.ReadStore
	now func() time.Time
}

// NewQueries returns the client risk queries.
func NewQueries(rs projections.ReadStore, now func() time.Time) *Queries {
	return &Queries{rs: rs, now: now}
}

// Report returns every client with issued invoices, riskiest (most
// overdue) first. A total beyond money.MaxTotal is the rejection
// total_out_of_range.
func (q *Queries) Report(ctx context.Context) ([]Client, error) {
	p, err := user.From(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Has(invoice.ReadRoles()...) {
		return nil, domain.Forbiddenf("your roles do not allow reading collections")
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, `SELECT client_id, client_name, currency, total, paid, issued_on, due_date, settled_on
		FROM client_invoices WHERE issued_on IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("client risk: %w", err)
	}
	defer rows.Close()
	today := q.now().UTC().Format(time.DateOnly)
	since := q.now().UTC().AddDate(0, 0, -90).Format(time.DateOnly)
	type key struct{ id, cur string }
	acc := map[key]*Client{}
	lateDays := map[key]int{}
	for rows.Next() {
		var id, name, cur, issued, due string
		var total, paid int64
		var settled sql.NullString
		if err := rows.Scan(&id, &name, &cur, &total, &paid, &issued, &due, &settled); err != nil {
			return nil, err
		}
		k, cu := key{id, cur}, money.Currency(cur)
		c, ok := acc[k]
		if !ok {
			z := money.Zero(cu)
			c = &Client{ClientID: id, ClientName: name, Currency: cu, Invoiced: z, Outstanding: z, Overdue: z}
			acc[k] = c
		}
		if err := c.add(money.New(total, cu), money.New(paid, cu), issued >= since, due < today); err != nil {
			return nil, err
		}
		if settled.Valid {
			c.PaidInvoices++
			if settled.String > due {
				c.PaidLate++
				lateDays[k] += daysBetween(due, settled.String)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(acc))
	for k, c := range acc {
		c.DSO = -1
		if c.Invoiced.Amount > 0 {
			dso, err := money.MulDiv(c.Outstanding.Amount, 90, c.Invoiced.Amount)
			if err != nil {
				return nil, projections.TotalOutOfRange()
			}
			c.DSO = int(dso)
		}
		if c.PaidLate > 0 {
			c.AverageDaysLate = lateDays[k] / c.PaidLate
		}
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Overdue.Amount != out[j].Overdue.Amount {
			return out[i].Overdue.Amount > out[j].Overdue.Amount
		}
		return out[i].ClientID < out[j].ClientID
	})
	return out, nil
}

// add counts one invoice of total with paid received: invoiced when it was
// issued recently, outstanding, and overdue when past due.
func (c *Client) add(total, paid money.Money, recent, pastDue bool) error {
	open, err := projections.AddTotal(total, money.New(-paid.Amount, paid.Currency))
	if err != nil {
		return err
	}
	if recent {
		if c.Invoiced, err = projections.AddTotal(c.Invoiced, total); err != nil {
			return err
		}
	}
	if c.Outstanding, err = projections.AddTotal(c.Outstanding, open); err != nil {
		return err
	}
	if open.Amount > 0 && pastDue {
		if c.Overdue, err = projections.AddTotal(c.Overdue, open); err != nil {
			return err
		}
	}
	return nil
}

// daysBetween is the number of days from one date to another, exact for
// any two dates of years 0 to 9999 (a time.Duration would saturate past
// 292 years).
func daysBetween(from, to string) int {
	a, err1 := time.Parse(time.DateOnly, from)
	b, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return 0
	}
	return int((b.Unix() - a.Unix()) / 86_400)
}
