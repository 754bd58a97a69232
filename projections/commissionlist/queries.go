package commissionlist

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/commission"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/objective"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
)

// Commission is a salesperson's totals for a period in one currency, and
// the status of the period's statement.
type Commission struct {
	UserID      string
	Period      string
	Collected   money.Money
	Commission  money.Money
	Accruals    int64
	Status      string
	StatementID string
}

// Filter narrows a list.
type Filter struct {
	Period string
	UserID string
	Status string
	Limit  int
	Cursor string
}

// Queries reads the ctx tenant's commissions.
type Queries struct{ rs projections.ReadStore }

// NewQueries returns the commission queries.
func NewQueries(rs projections.ReadStore) *Queries { return &Queries{rs: rs} }

// reader returns the ctx caller when they may read commissions: overseers
// (all), salespeople (their own: own true).
func reader(ctx context.Context) (p user.Principal, own bool, err error) {
	if p, err = user.From(ctx); err != nil {
		return p, false, err
	}
	switch {
	case p.Has(user.Overseers()...):
		return p, false, nil
	case p.Has(user.Sales):
		return p, true, nil
	}
	return p, false, domain.Forbiddenf("your roles do not allow reading commissions")
}

var statuses = []commission.Status{commission.StatusOpen, commission.StatusSubmitted, commission.StatusApproved,
	commission.StatusRejected, commission.StatusPaid}

const listQuery = `SELECT c.user_id, c.period, c.currency, c.collected, c.commission, c.accruals, c.status, c.statement_id, c.created_position
	FROM commissions c`

// List returns the totals newest first (by their first accrual); a
// salesperson sees their own. A total beyond money.MaxTotal is the
// rejection total_out_of_range.
func (q *Queries) List(ctx context.Context, f Filter) ([]Commission, string, error) {
	p, own, err := reader(ctx)
	if err != nil {
		return nil, "", err
	}
	if own {
		f.UserID = string(p.ID)
	}
	f.Limit = projections.PageLimit(f.Limit)
	var where []string
	var args []any
	if f.Period != "" {
		period, err := objective.ParsePeriod(f.Period)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "c.period = ?"), append(args, period.String())
	}
	if f.UserID != "" {
		where, args = append(where, "c.user_id = ?"), append(args, f.UserID)
	}
	if f.Status != "" {
		if !slices.Contains(statuses, commission.Status(f.Status)) {
			return nil, "", domain.Invalidf("status", "invalid_status", "status is one of open, submitted, approved, rejected, paid")
		}
		where, args = append(where, "c.status = ?"), append(args, f.Status)
	}
	if f.Cursor != "" {
		n, err := projections.DecodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "c.created_position < ?"), append(args, n)
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer db.Release()
	text := listQuery
	if len(where) > 0 {
		text += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.QueryContext(ctx, db.SQL.Limit(text, "c.created_position DESC", f.Limit+1), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list commissions: %w", err)
	}
	defer rows.Close()
	var out []Commission
	var created []int64
	for rows.Next() {
		var c Commission
		var cur string
		var collected, earned sql.NullInt64
		var statement sql.NullString
		var cp int64
		if err := rows.Scan(&c.UserID, &c.Period, &cur, &collected, &earned, &c.Accruals, &c.Status, &statement, &cp); err != nil {
			return nil, "", err
		}
		if !collected.Valid || !earned.Valid {
			return nil, "", projections.TotalOutOfRange()
		}
		c.Collected, c.Commission = money.New(collected.Int64, money.Currency(cur)), money.New(earned.Int64, money.Currency(cur))
		c.StatementID = statement.String
		out, created = append(out, c), append(created, cp)
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

// Plan is a salesperson's plan in force.
type Plan struct {
	UserID  string
	Plan    commission.Plan
	Version int64
	SetBy   string
	SetAt   time.Time
}

// Plan returns userID's plan in force: to overseers, and to the
// salesperson; projections.ErrNotFound when there is none (or it is
// someone else's, to a salesperson).
func (q *Queries) Plan(ctx context.Context, userID string) (Plan, error) {
	p, own, err := reader(ctx)
	if err != nil {
		return Plan{}, err
	}
	if own && userID != string(p.ID) {
		return Plan{}, projections.ErrNotFound
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Plan{}, err
	}
	defer db.Release()
	out := Plan{UserID: userID}
	var rate sql.NullInt64
	var tiers sql.NullString
	var at string
	err = db.QueryRowContext(ctx, `SELECT version, rate_bps, tiers, set_by, set_at FROM commission_plans WHERE user_id = ?
		AND version = (SELECT MAX(version) FROM commission_plans WHERE user_id = ?)`, userID, userID).
		Scan(&out.Version, &rate, &tiers, &out.SetBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Plan{}, projections.ErrNotFound
	}
	if err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}
	if tiers.Valid {
		if err := json.Unmarshal([]byte(tiers.String), &out.Plan.Tiers); err != nil {
			return Plan{}, fmt.Errorf("plan: %w", err)
		}
	} else {
		out.Plan = commission.Flat(rate.Int64)
	}
	out.SetAt, _ = time.Parse(time.RFC3339Nano, at)
	return out, nil
}

// Statement is a statement as its last round left it.
type Statement struct {
	ID           string
	UserID       string
	Period       string
	Round        int
	Status       string
	Collected    money.Money
	Commission   money.Money
	PaidBefore   money.Money
	Payable      money.Money
	AsOfPosition int64
	FrozenBy     string
	FrozenAt     time.Time
	DecidedBy    string
	DecidedAt    *time.Time
	Reason       string
	PaidBy       string
	PaidAt       *time.Time
	Version      int64
}

// Statement returns statement id: to overseers, and to its beneficiary;
// projections.ErrNotFound when there is none (or it is someone else's, to
// a salesperson).
func (q *Queries) Statement(ctx context.Context, id string) (Statement, error) {
	p, own, err := reader(ctx)
	if err != nil {
		return Statement{}, err
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Statement{}, err
	}
	defer db.Release()
	var s Statement
	var cur, frozenAt string
	var collected, earned, before, payable int64
	var decidedBy, decidedAt, reason, paidBy, paidAt sql.NullString
	err = db.QueryRowContext(ctx, `SELECT id, user_id, period, currency, round_number, status, collected, commission, paid_before, payable,
		as_of_position, frozen_by, frozen_at, decided_by, decided_at, reason, paid_by, paid_at, version FROM commission_statements WHERE id = ?`, id).
		Scan(&s.ID, &s.UserID, &s.Period, &cur, &s.Round, &s.Status, &collected, &earned, &before, &payable, &s.AsOfPosition,
			&s.FrozenBy, &frozenAt, &decidedBy, &decidedAt, &reason, &paidBy, &paidAt, &s.Version)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && own && s.UserID != string(p.ID)) {
		return Statement{}, projections.ErrNotFound
	}
	if err != nil {
		return Statement{}, fmt.Errorf("statement: %w", err)
	}
	c := money.Currency(cur)
	s.Collected, s.Commission, s.PaidBefore, s.Payable = money.New(collected, c), money.New(earned, c), money.New(before, c), money.New(payable, c)
	s.FrozenAt, _ = time.Parse(time.RFC3339Nano, frozenAt)
	s.DecidedBy, s.Reason, s.PaidBy = decidedBy.String, reason.String, paidBy.String
	s.DecidedAt, s.PaidAt = optionalTime(decidedAt), optionalTime(paidAt)
	return s, nil
}

func optionalTime(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return nil
	}
	return &t
}

// Standing is what a salesperson has earned in a period in one currency,
// as the read model stands at Position.
type Standing struct {
	Collected  money.Money
	Commission money.Money
	Position   uint64
}

// Standing returns userID's totals for period in cur (zero when nothing
// accrued) and the position the read model has applied, read in one
// statement so that they agree. A total beyond money.MaxTotal is the
// rejection total_out_of_range. It checks no role: it serves a command
// that checked its own.
func (q *Queries) Standing(ctx context.Context, userID, period string, cur money.Currency) (Standing, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Standing{}, err
	}
	defer db.Release()
	out := Standing{Collected: money.Zero(cur), Commission: money.Zero(cur)}
	var pos int64
	var collected, earned sql.NullInt64
	var found sql.NullString
	err = db.QueryRowContext(ctx, `SELECT cp.position, c.collected, c.commission, c.user_id FROM projection_checkpoint cp
		LEFT JOIN commissions c ON c.user_id = ? AND c.period = ? AND c.currency = ? WHERE cp.projector = ?`,
		userID, period, string(cur), Name).Scan(&pos, &collected, &earned, &found)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil // nothing projected yet
	}
	if err != nil {
		return Standing{}, fmt.Errorf("standing: %w", err)
	}
	out.Position = uint64(pos)
	if found.Valid {
		if !collected.Valid || !earned.Valid {
			return Standing{}, projections.TotalOutOfRange()
		}
		out.Collected.Amount, out.Commission.Amount = collected.Int64, earned.Int64
	}
	return out, nil
}
