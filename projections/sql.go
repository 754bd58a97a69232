package projections

import "time"

// SQL is what a read store's dialect writes its own way, for the runner and
// the read models' queries. A read store gives it with every lease
// (DB.SQL), so no code above the store chooses a statement by dialect; DB's
// Dialect only chooses the migrations. The statements it returns use '?'
// placeholders, like every statement given to a read store.
// Implementations hold no state and are safe for concurrent use.
type SQL interface {
	// Limit returns query, a SELECT without ORDER BY, ordered by orderBy
	// and limited to its first n rows.
	Limit(query, orderBy string, n int) string

	// Savepoint returns the statements that, inside a transaction, set the
	// savepoint name (an identifier), roll the transaction back to it
	// (undoing what was written since it was set, keeping what was written
	// before) and release it. release is "" for a dialect whose savepoints
	// need no release; else it is run after a rollback to the savepoint,
	// too.
	Savepoint(name string) (set, rollback, release string)

	// Time returns the value a time is stored as in the dialect's time
	// columns (projection_checkpoint.updated_at): t in UTC.
	Time(t time.Time) any

	// DatabaseBytes returns a query of one row and one column: the bytes
	// the lease's database takes on its server or disk.
	DatabaseBytes() string
}
