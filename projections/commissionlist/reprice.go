package commissionlist

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/projections"
)

// payment is a row of commission_payments being priced.
type payment struct {
	key        string
	amount     money.Money
	plan       sql.NullInt64
	rate       sql.NullInt64
	commission sql.NullInt64
	reversed   bool
}

// total is a period's totals in one currency; ok false once one is beyond
// money.MaxTotal (or an accrual could not be computed).
type total struct {
	collected, commission money.Money
	accruals              int64
	ok                    bool
}

// reprice prices every accrual of user's period at the achievement of the
// period's objective, and writes the period's totals per currency.
func reprice(ctx context.Context, tx projections.Tx, user, period string) error {
	pays, err := payments(ctx, tx, user, period)
	if err != nil {
		return err
	}
	achieved, err := achievement(ctx, tx, user, period, pays)
	if err != nil {
		return err
	}
	plans := map[int64]commission.Plan{}
	totals := map[money.Currency]*total{}
	for _, p := range pays {
		if !p.plan.Valid || p.reversed {
			continue
		}
		plan, ok := plans[p.plan.Int64]
		if !ok {
			if plan, err = planOf(ctx, tx, user, p.plan.Int64); err != nil {
				return err
			}
			plans[p.plan.Int64] = plan
		}
		rate := plan.Rate(achieved)
		c, err := commission.Accrue(p.amount, rate)
		accrued := sql.NullInt64{Int64: c.Amount, Valid: err == nil} // NULL: an amount recorded beyond the bound
		if p.rate != (sql.NullInt64{Int64: rate, Valid: true}) || p.commission != accrued {
			if _, err := tx.ExecContext(ctx, `UPDATE commission_payments SET rate_bps = ?, commission = ? WHERE payment_key = ?`,
				rate, accrued, p.key); err != nil {
				return err
			}
		}
		t := totals[p.amount.Currency]
		if t == nil {
			t = &total{collected: money.Zero(p.amount.Currency), commission: money.Zero(p.amount.Currency), ok: true}
			totals[p.amount.Currency] = t
		}
		t.accruals++
		t.ok = t.ok && accrued.Valid
		if t.ok {
			var err1, err2 error
			t.collected, err1 = money.AddTotal(t.collected, p.amount)
			t.commission, err2 = money.AddTotal(t.commission, c)
			t.ok = err1 == nil && err2 == nil
		}
	}
	// Every currency of the period is written: one whose accruals were all
	// reversed goes back to zero.
	if _, err := tx.ExecContext(ctx, `UPDATE commissions SET collected = 0, commission = 0, accruals = 0 WHERE user_id = ? AND period = ?`, user, period); err != nil {
		return err
	}
	for cur, t := range totals {
		var collected, earned sql.NullInt64
		if t.ok {
			collected, earned = sql.NullInt64{Int64: t.collected.Amount, Valid: true}, sql.NullInt64{Int64: t.commission.Amount, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE commissions SET collected = ?, commission = ?, accruals = ? WHERE user_id = ? AND period = ? AND currency = ?`,
			collected, earned, t.accruals, user, period, string(cur)); err != nil {
			return err
		}
	}
	return nil
}

// payments are the payments credited to user in period.
func payments(ctx context.Context, tx projections.Tx, user, period string) ([]payment, error) {
	rows, err := tx.QueryContext(ctx, `SELECT payment_key, amount, currency, plan_version, rate_bps, commission, reversed
		FROM commission_payments WHERE user_id = ? AND period = ? ORDER BY position`, user, period)
	if err != nil {
		return nil, fmt.Errorf("payments of %s: %w", period, err)
	}
	defer rows.Close()
	var out []payment
	for rows.Next() {
		var p payment
		var cur string
		if err := rows.Scan(&p.key, &p.amount.Amount, &cur, &p.plan, &p.rate, &p.commission, &p.reversed); err != nil {
			return nil, err
		}
		p.amount.Currency = money.Currency(cur)
		out = append(out, p)
	}
	return out, rows.Err()
}

// achievement is the achieved ratio of user's objective for period: its
// progress (the payments credited in its currency, reversed ones left
// out) over its target, truncated to ten-thousandths as the objectives
// read model computes it. The objective set last counts; none is 0.
func achievement(ctx context.Context, tx projections.Tx, user, period string, pays []payment) (commission.Ratio, error) {
	var target int64
	var cur string
	err := tx.QueryRowContext(ctx, `SELECT target, currency FROM commission_objectives WHERE user_id = ? AND period = ?
		AND created_position = (SELECT MAX(created_position) FROM commission_objectives WHERE user_id = ? AND period = ?)`,
		user, period, user, period).Scan(&target, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("objective of %s: %w", period, err)
	}
	progress, ok := collectedIn(money.Currency(cur), pays)
	if !ok {
		return math.MaxInt64, nil // beyond any tier
	}
	return commission.Achievement(progress, target), nil
}

// collectedIn sums the payments of pays in cur that are not reversed; ok
// false past money.MaxTotal (or with an amount recorded beyond the bound).
func collectedIn(cur money.Currency, pays []payment) (sum int64, ok bool) {
	total := money.Zero(cur)
	for _, p := range pays {
		if p.reversed || p.amount.Currency != cur {
			continue
		}
		next, err := money.AddTotal(total, p.amount)
		if err != nil {
			return 0, false
		}
		total = next
	}
	return total.Amount, true
}

// planOf reads version of user's plan.
func planOf(ctx context.Context, tx projections.Tx, user string, version int64) (commission.Plan, error) {
	var rate sql.NullInt64
	var tiers sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT rate_bps, tiers FROM commission_plans WHERE user_id = ? AND version = ?`, user, version).
		Scan(&rate, &tiers); err != nil {
		return commission.Plan{}, fmt.Errorf("plan %d of %s: %w", version, user, err)
	}
	if tiers.Valid {
		var p commission.Plan
		if err := json.Unmarshal([]byte(tiers.String), &p.Tiers); err != nil {
			return commission.Plan{}, fmt.Errorf("plan %d of %s: %w", version, user, err)
		}
		return p, nil
	}
	return commission.Flat(rate.Int64), nil
}
