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

// Time implements projections.SQL: a time.Time in UTC, for a TIMESTAMPTZ
// column.
func (SQL) Time(t time.Time) any { return t.UTC() }

// DatabaseBytes implements projections.SQL: pg_database_size.
func (SQL) DatabaseBytes() string {
	return `SELECT pg_database_size(current_database())`
}
