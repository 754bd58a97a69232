package sqlite

import (
	"fmt"
	"time"

	"github.com/atrium-platform/atrium/projections"
)

// SQL is SQLite's projections.SQL, given with every lease of the store.
type SQL struct{}

var _ projections.SQL = SQL{}

// Limit implements projections.SQL with LIMIT.
func (SQL) Limit(query, orderBy string, n int) string {
	return fmt.Sprintf("%s ORDER BY %s LIMIT %d", query, orderBy, n)
}

// Savepoint implements projections.SQL: SAVEPOINT, ROLLBACK TO and RELEASE.
func (SQL) Savepoint(name string) (set, rollback, release string) {
	return "SAVEPOINT " + name, "ROLLBACK TO " + name, "RELEASE " + name
}

// Time implements projections.SQL: SQLite has no time type; a time is
// stored as RFC 3339 text in UTC, with nanoseconds.
func (SQL) Time(t time.Time) any { return t.UTC().Format(time.RFC3339Nano) }

// DatabaseBytes implements projections.SQL: its pages, the free ones too.
func (SQL) DatabaseBytes() string {
	return `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
}
