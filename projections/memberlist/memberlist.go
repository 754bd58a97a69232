// Package memberlist is the read model of a tenant's members (table
// members) and the query behind GET /api/v1/users.
package memberlist

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

type projector struct{}

// New returns the memberlist projector.
func New() projections.Projector { return projector{} }

func (projector) Name() string { return "memberlist" }

func (projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

func (projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, ev domain.Event) error {
	if rec.Stream.Aggregate() != identity.MemberCategory {
		return nil
	}
	switch e := ev.(type) {
	case identity.MemberAdded:
		return insert(ctx, tx, rec, identity.Member{UserID: e.UserID, Email: e.Email, Name: e.Name, Roles: e.Roles, Since: e.At})
	case identity.MemberInvited:
		return insert(ctx, tx, rec, identity.Member{UserID: e.UserID, Email: e.Email, Name: e.Name, Roles: e.Roles, Since: e.At, Pending: true})
	case identity.MemberJoined:
		_, err := tx.ExecContext(ctx, `UPDATE members SET status = ? WHERE user_id = ?`, identity.StatusActive, e.UserID)
		return err
	}
	return nil
}

func insert(ctx context.Context, tx projections.Tx, rec streams.Record, m identity.Member) error {
	roles, err := json.Marshal(m.Roles)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO members (user_id, email, name, roles, added_at, position, status) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.UserID, m.Email, m.Name, string(roles), m.Since.UTC().Format(time.RFC3339Nano), int64(rec.Position), m.Status())
	return err
}

// Member is one row. Status is active, or invited until the member signs
// in to the tenant once.
type Member struct {
	UserID  string
	Email   string
	Name    string
	Roles   []user.Role
	AddedAt time.Time
	Status  string
}

// ErrBadCursor is returned for a cursor this list did not give.
var ErrBadCursor = projections.ErrBadCursor

// Queries reads the ctx tenant's members.
type Queries struct{ rs projections.ReadStore }

// NewQueries returns the member queries.
func NewQueries(rs projections.ReadStore) *Queries { return &Queries{rs: rs} }

// Seats counts the ctx tenant's members, invited ones included, for the
// platform's seat quota: it checks no caller.
func (q *Queries) Seats(ctx context.Context) (int, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Release()
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM members`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count members: %w", err)
	}
	return n, nil
}

// List returns members in the order they joined, to admins.
func (q *Queries) List(ctx context.Context, limit int, cursor string) ([]Member, string, error) {
	p, err := user.From(ctx)
	if err != nil {
		return nil, "", err
	}
	if !p.Has(user.Admin) {
		return nil, "", domain.Forbiddenf("only the tenant's admins list its members")
	}
	var after int64
	if cursor != "" {
		if after, err = projections.DecodeCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer db.Release()
	query := db.SQL.Limit(`SELECT user_id, email, name, roles, added_at, position, status FROM members WHERE position > ?`, "position", limit+1)
	rows, err := db.QueryContext(ctx, query, after)
	if err != nil {
		return nil, "", fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []Member
	var last []int64
	for rows.Next() {
		var m Member
		var roles, added string
		var pos int64
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &roles, &added, &pos, &m.Status); err != nil {
			return nil, "", err
		}
		if err := json.Unmarshal([]byte(roles), &m.Roles); err != nil {
			return nil, "", err
		}
		m.AddedAt, _ = time.Parse(time.RFC3339Nano, added)
		out = append(out, m)
		last = append(last, pos)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = projections.EncodeCursor(last[limit-1])
	}
	return out, next, nil
}
