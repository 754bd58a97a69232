package postgres

import (
	"fmt"
	"time"

	"github.com/atrium-platform/atrium/projections"
)

// SQL is PostgreSQL's projections.SQL.
type SQL struct{}

var _ projections.SQL = SQL{}

// Limit implements projections.SQL with LIMIT.
func (SQL) Limit(query, orderBy string, n int) string {
	return fmt.Sprintf("%s ORDER BY %s LIMIT %d", query, orderBy, n)
}

// Savepoint implements projections.SQL.
func (SQL) Savepoint(name string) (set, rollback, release string) {
	return "SAVEPOINT " + name, "ROLLBACK TO SAVEPOINT " + name, "RELEASE SAVEPOINT " + name
}

// UpsertCheckpoint implements projections.SQL with INSERT ... ON
// CONFLICT, which takes the row's lock: a concurrent upsert waits.
func (SQL) UpsertCheckpoint() string {
	return `INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (?, ?, ?)
ON CONFLICT (projector) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
}

// Time implements projections.SQL: a time.Time in UTC, for a TIMESTAMPTZ
// column.
func (SQL) Time(t time.Time) any { return t.UTC() }
