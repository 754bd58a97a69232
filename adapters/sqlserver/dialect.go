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

// UpsertCheckpoint implements projections.SQL with an UPDATE and, when it
// changed no row, an INSERT, in one batch run in the caller's transaction.
// MERGE would do it in one statement, but it has known concurrency bugs
// and SQL Server-compatible engines lack it. The UPDATE holds an update
// lock on the key, its range included when the row does not exist
// (UPDLOCK, SERIALIZABLE) until the transaction ends, so a concurrent
// upsert of the same projector waits instead of inserting it twice. The
// arguments are declared once, in the order projections.SQL gives them.
func (SQL) UpsertCheckpoint() string {
	return `DECLARE @projector NVARCHAR(64) = ?, @position BIGINT = ?, @updated_at DATETIME2 = ?;
UPDATE projection_checkpoint WITH (UPDLOCK, SERIALIZABLE)
SET position = @position, updated_at = @updated_at
WHERE projector = @projector;
IF @@ROWCOUNT = 0
INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (@projector, @position, @updated_at);`
}

// Time implements projections.SQL: a time.Time in UTC, for a DATETIME2
// column.
func (SQL) Time(t time.Time) any { return t.UTC() }
