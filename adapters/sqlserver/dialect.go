// Package sqlserver is the read store on SQL Server: serverstore's Engine
// for it, through go-mssqldb. Each tenant has a database (atrium_<slug>,
// binary collation, snapshot isolation allowed, read committed snapshot
// on), reached through a login of its own whose user is a member of
// db_owner; guest has no CONNECT there, so no other tenant's login opens
// it, and tenants' logins have VIEW ANY DATABASE denied. A database role
// <database>_read may SELECT in the dbo schema; analysts' logins have a
// user in the database, a member of it, and are dropped once expired.
package sqlserver

import (
	"fmt"
	"time"

	"github.com/atrium-platform/atrium/projections"
)

// SQL is SQL Server's projections.SQL. Its statements keep to what
// SQL Server-compatible engines also run: no MERGE.
type SQL struct{}

var _ projections.SQL = SQL{}

// Limit implements projections.SQL with OFFSET 0 ROWS FETCH NEXT n ROWS
// ONLY, which follows the ORDER BY (SQL Server has no LIMIT).
func (SQL) Limit(query, orderBy string, n int) string {
	return fmt.Sprintf("%s ORDER BY %s OFFSET 0 ROWS FETCH NEXT %d ROWS ONLY", query, orderBy, n)
}

// Savepoint implements projections.SQL: SAVE TRANSACTION and ROLLBACK
// TRANSACTION. A SQL Server savepoint is never released: release is "".
func (SQL) Savepoint(name string) (set, rollback, release string) {
	return "SAVE TRANSACTION " + name, "ROLLBACK TRANSACTION " + name, ""
}

// Time implements projections.SQL: a time.Time in UTC, for a DATETIME2
// column.
func (SQL) Time(t time.Time) any { return t.UTC() }

// DatabaseBytes implements projections.SQL: the pages reserved by the
// database's tables and indexes (its files are allocated ahead, in
// steps, and would not tell).
func (SQL) DatabaseBytes() string {
	return `SELECT CAST(COALESCE(SUM(reserved_page_count), 0) AS BIGINT) * 8192 FROM sys.dm_db_partition_stats`
}
