// Package aging is the collections read model: each issued invoice's
// outstanding amount (table aging_open_items), and the aging report that
// buckets it per client by days past due.
package aging

import (
	"context"
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

// New returns the aging projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "aging" }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	if rec.Stream.Aggregate() != invoice.Category {
		return nil
	}
	id := rec.Stream.ID()
	var err error
	switch e := ev.(type) {
	case invoice.Drafted:
		// Remember the client until the invoice is issued: the row is
		// created with nothing outstanding, and counted once issued.
		_, err = tx.ExecContext(ctx, `INSERT INTO aging_open_items (invoice_id, client_id, client_name, currency, due_date, outstanding)
			VALUES (?, ?, ?, ?, ?, 0)`, id, e.Client.ID, e.Client.Name, string(e.Currency), e.DueDate)
	case invoice.Issued:
		_, err = tx.ExecContext(ctx, `UPDATE aging_open_items SET outstanding = ?, due_date = ? WHERE invoice_id = ?`, e.Total.Amount, e.DueDate, id)
	case invoice.PaymentRecorded:
		if e.Due.Amount <= 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM aging_open_items WHERE invoice_id = ?`, id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE aging_open_items SET outstanding = ? WHERE invoice_id = ?`, e.Due.Amount, id)
		}
	case invoice.Cancelled, invoice.Rejected:
		_, err = tx.ExecContext(ctx, `DELETE FROM aging_open_items WHERE invoice_id = ?`, id)
	}
	return err
}

// ClientAging is one client's outstanding amounts in one currency, bucketed
// by days past due.
type ClientAging struct {
	ClientID   string
	ClientName string
	Currency   money.Currency
	Current    money.Money
	Days1To30  money.Money
	Days31To60 money.Money
	Days61To90 money.Money
	Over90     money.Money
	Total      money.Money
}

// Queries reads the aging report of the ctx tenant.
type Queries struct {
	rs  projections.ReadStore
	now func() time.Time
}

// NewQueries returns the aging queries.
func NewQueries(rs projections.ReadStore, now func() time.Time) *Queries {
	return &Queries{rs: rs, now: now}
}

// Report returns, per client and currency, the outstanding amounts by days
// past due as of today, clients in name order. A total beyond
// money.MaxTotal is the rejection total_out_of_range.
func (q *Queries) Report(ctx context.Context) ([]ClientAging, error) {
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
	rows, err := db.QueryContext(ctx, `SELECT client_id, client_name, currency, due_date, outstanding FROM aging_open_items WHERE outstanding > 0`)
	if err != nil {
		return nil, fmt.Errorf("aging: %w", err)
	}
	defer rows.Close()
	today := q.now().UTC().Truncate(24 * time.Hour)
	type key struct{ client, cur string }
	byClient := map[key]*ClientAging{}
	for rows.Next() {
		var id, name, cur, dueDate string
		var amount int64
		if err := rows.Scan(&id, &name, &cur, &dueDate, &amount); err != nil {
			return nil, fmt.Errorf("aging: %w", err)
		}
		c := money.Currency(cur)
		a, ok := byClient[key{id, cur}]
		if !ok {
			z := money.Zero(c)
			a = &ClientAging{ClientID: id, ClientName: name, Currency: c, Current: z, Days1To30: z, Days31To60: z, Days61To90: z, Over90: z, Total: z}
			byClient[key{id, cur}] = a
		}
		due, err := time.Parse(time.DateOnly, dueDate)
		if err != nil {
			return nil, fmt.Errorf("aging: due date %q: %w", dueDate, err)
		}
		bucket := bucketOf(a, daysLate(due, today))
		if *bucket, err = projections.AddTotal(*bucket, money.New(amount, c)); err != nil {
			return nil, err
		}
		if a.Total, err = projections.AddTotal(a.Total, money.New(amount, c)); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aging: %w", err)
	}
	out := make([]ClientAging, 0, len(byClient))
	for _, a := range byClient {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ClientName != out[j].ClientName {
			return out[i].ClientName < out[j].ClientName
		}
		if out[i].ClientID != out[j].ClientID {
			return out[i].ClientID < out[j].ClientID
		}
		return out[i].Currency < out[j].Currency
	})
	return out, nil
}

// daysLate is how many days today is after due, exact for any two dates of
// years 0 to 9999 (a time.Duration would saturate past 292 years).
func daysLate(due, today time.Time) int64 {
	return (today.Unix() - due.Unix()) / 86_400
}

func bucketOf(a *ClientAging, daysLate int64) *money.Money {
	switch {
	case daysLate <= 0:
		return &a.Current
	case daysLate <= 30:
		return &a.Days1To30
	case daysLate <= 60:
		return &a.Days31To60
	case daysLate <= 90:
		return &a.Days61To90
	}
	return &a.Over90
}
