// Package commissionlist is the read model of sales commissions: the
// plans (table commission_plans), every invoice payment credited to a
// salesperson with what it accrues (commission_payments), the objectives
// tiered plans read (commission_objectives), the totals per salesperson,
// period and currency (commissions) and the statements
// (commission_statements). It reads three domains' events: commissions',
// invoices' and objectives'.
//
// A payment accrues under the plan in force when it is recorded: the last
// plan set before it in the tenant's event order (so a rebuild prices it
// the same); a plan set later applies to later payments only. A tiered
// plan's rate is the rate of the tier the salesperson's objective for the
// period has reached, and it applies to every payment of the period priced
// by that plan: each payment, each objective set and each reversal
// re-prices the period's accruals. A cancelled invoice's payments are
// reversed: they no longer count, neither in the totals nor in the
// achievement.
package commissionlist

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

// Name is the read model's name.
const Name = "commissionlist"

type projector struct{}

// New returns the commissionlist projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return Name }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

// stamp is a UTC time in a fixed width, so that times compare as text.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	switch e := ev.(type) {
	case commission.PlanSet:
		return planSet(ctx, tx, rec, e)
	case invoice.PaymentRecorded:
		return paymentRecorded(ctx, tx, rec, e)
	case invoice.Cancelled:
		return reverse(ctx, tx, e.InvoiceID)
	case objective.Set:
		p, err := objective.ParsePeriod(e.Period)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO commission_objectives (id, user_id, period, target, currency, created_position) VALUES (?, ?, ?, ?, ?, ?)`,
			rec.Stream.ID(), e.Assignee, p.String(), e.Target.Amount, string(e.Target.Currency), int64(rec.Position)); err != nil {
			return err
		}
		return reprice(ctx, tx, e.Assignee, p.String())
	case commission.StatementFrozen, commission.StatementApproved, commission.StatementRejected, commission.StatementPaid:
		return statement(ctx, tx, rec, e)
	}
	return nil
}

func planSet(ctx context.Context, tx projections.Tx, rec streams.Record, e commission.PlanSet) error {
	var rate, tiers any
	if e.Tiered() {
		b, err := json.Marshal(e.Tiers)
		if err != nil {
			return err
		}
		tiers = string(b)
	} else if e.RateBps != nil {
		rate = *e.RateBps
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO commission_plans (user_id, version, rate_bps, tiers, set_by, set_at, position) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.UserID, int64(rec.Version), rate, tiers, e.By, stamp(e.At), int64(rec.Position))
	return err
}

// paymentRecorded records a payment credited to a salesperson, under the
// plan in force, and re-prices its period.
func paymentRecorded(ctx context.Context, tx projections.Tx, rec streams.Record, e invoice.PaymentRecorded) error {
	if e.SalesRep == "" {
		return nil
	}
	period := commission.PeriodOf(e.PaidAt)
	var plan *int64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM commission_plans WHERE user_id = ?`, e.SalesRep).Scan(&plan); err != nil {
		return fmt.Errorf("plan in force: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO commission_payments (payment_key, invoice_id, user_id, period, paid_at, amount, currency,
		plan_version, rate_bps, commission, reversed, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?)`,
		e.InvoiceID+"/"+e.PaymentID, e.InvoiceID, e.SalesRep, period, stamp(e.PaidAt), e.Amount.Amount, string(e.Amount.Currency),
		plan, int64(rec.Position)); err != nil {
		return err
	}
	if plan != nil {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM commissions WHERE user_id = ? AND period = ? AND currency = ?`,
			e.SalesRep, period, string(e.Amount.Currency)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO commissions (user_id, period, currency, collected, commission, accruals, status, statement_id, created_position)
				VALUES (?, ?, ?, 0, 0, 0, ?, NULL, ?)`, e.SalesRep, period, string(e.Amount.Currency), string(commission.StatusOpen), int64(rec.Position)); err != nil {
				return err
			}
		}
	}
	return reprice(ctx, tx, e.SalesRep, period)
}

// reverse takes a cancelled invoice's payments out, and re-prices their
// periods.
func reverse(ctx context.Context, tx projections.Tx, invoiceID string) error {
	type key struct{ user, period string }
	var touched []key
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT user_id, period FROM commission_payments WHERE invoice_id = ? AND reversed = 0`, invoiceID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.user, &k.period); err != nil {
			return err
		}
		touched = append(touched, k)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(touched) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE commission_payments SET reversed = 1 WHERE invoice_id = ?`, invoiceID); err != nil {
		return err
	}
	for _, k := range touched {
		if err := reprice(ctx, tx, k.user, k.period); err != nil {
			return err
		}
	}
	return nil
}

// statement keeps a statement's row as its last round left it, and its
// status on the period's totals.
func statement(ctx context.Context, tx projections.Tx, rec streams.Record, ev domain.Event) error {
	id, v := rec.Stream.ID(), int64(rec.Version)
	var status commission.Status
	var err error
	switch e := ev.(type) {
	case commission.StatementFrozen:
		status = commission.StatusSubmitted
		if e.Round == 1 {
			_, err = tx.ExecContext(ctx, `INSERT INTO commission_statements (id, user_id, period, currency, round_number, status, collected, commission,
				paid_before, payable, as_of_position, frozen_by, frozen_at, decided_by, decided_at, reason, paid_by, paid_at, version)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?)`,
				id, e.UserID, e.Period, string(e.Commission.Currency), e.Round, string(status), e.Collected.Amount, e.Commission.Amount,
				e.PaidBefore.Amount, e.Payable.Amount, int64(e.AsOfPosition), e.By, stamp(e.At), v)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE commission_statements SET round_number = ?, status = ?, collected = ?, commission = ?, paid_before = ?,
				payable = ?, as_of_position = ?, frozen_by = ?, frozen_at = ?, decided_by = NULL, decided_at = NULL, reason = NULL, paid_by = NULL,
				paid_at = NULL, version = ? WHERE id = ?`,
				e.Round, string(status), e.Collected.Amount, e.Commission.Amount, e.PaidBefore.Amount, e.Payable.Amount,
				int64(e.AsOfPosition), e.By, stamp(e.At), v, id)
		}
	case commission.StatementApproved:
		status = commission.StatusApproved
		_, err = tx.ExecContext(ctx, `UPDATE commission_statements SET status = ?, decided_by = ?, decided_at = ?, version = ? WHERE id = ?`,
			string(status), e.By, stamp(e.At), v, id)
	case commission.StatementRejected:
		status = commission.StatusRejected
		_, err = tx.ExecContext(ctx, `UPDATE commission_statements SET status = ?, decided_by = ?, decided_at = ?, reason = ?, version = ? WHERE id = ?`,
			string(status), e.By, stamp(e.At), e.Reason, v, id)
	case commission.StatementPaid:
		status = commission.StatusPaid
		_, err = tx.ExecContext(ctx, `UPDATE commission_statements SET status = ?, paid_by = ?, paid_at = ?, version = ? WHERE id = ?`,
			string(status), e.By, stamp(e.At), v, id)
	}
	if err != nil {
		return err
	}
	var user, period, cur string
	if err := tx.QueryRowContext(ctx, `SELECT user_id, period, currency FROM commission_statements WHERE id = ?`, id).Scan(&user, &period, &cur); err != nil {
		return fmt.Errorf("statement %s: %w", id, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE commissions SET status = ?, statement_id = ? WHERE user_id = ? AND period = ? AND currency = ?`,
		string(status), id, user, period, cur)
	return err
}
