// Package projections turns a tenant's events into its read tables. Each
// read model is a package below this one: its projector (event → rows), its
// migrations per dialect, its queries. This package holds what they share:
// the read-store ports, declared here by their user, and the runner that
// feeds projectors from the message bus in batches, with the checkpoint
// committed in the same transaction as the rows.
package projections

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"sync"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/streams"
)

// Dialect names the SQL dialect of a read store. It chooses a read model's
// migrations; the statements that differ between dialects are written by
// the SQL of a lease (DB.SQL).
type Dialect string

// The dialects read stores speak.
const (
	SQLite    Dialect = "sqlite"
	Postgres  Dialect = "postgres"
	SQLServer Dialect = "sqlserver"
)

// Tx is one read-store transaction as a projector sees it. *sql.Tx
// implements it. Statements use '?' placeholders in every dialect; the
// server stores rewrite them.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Memo is implemented by the runner's batch transaction: what a projector
// reads once per batch rather than once per event (the tenant's ERP
// connection, say), kept until the batch ends or the projector forgets it.
// A projector that changes what it remembered forgets it in the same Apply;
// the runner forgets everything when it rolls an event back. Keys are
// comparable values of the projector's own unexported type.
type Memo interface {
	Recall(key any) (any, bool)
	Remember(key, v any)
	Forget(key any)
}

// Projector maintains one read model of a tenant.
//
// Apply is called once per event of the tenant, in position order, inside a
// batch transaction that also advances the projector's checkpoint: an event
// is never applied twice to committed rows. When Apply fails (or panics),
// that event's writes, by every projector, are rolled back, and the event is
// retried, then sent to the tenant's poison queue; the other events are kept
// (the batch holding the failing event is rolled back whole and its events
// applied again one per transaction, the failing one alone in a savepoint).
// Apply ignores event types it does not use, and is not called for types
// the registry does not know. It must not keep state between calls other
// than in the database (or the batch's Memo). The ctx carries the tenant and
// the event's correlation id.
type Projector interface {
	// Name is the read model's stable name ("invoicelist"); it names its
	// checkpoint and its migration table.
	Name() string
	// Migrations returns the read model's versioned migrations for d, as
	// goose SQL files (00001_create.sql, ...) at the root of the FS.
	Migrations(d Dialect) (fs.FS, error)
	// Apply projects one event. ev is rec decoded with the registry.
	Apply(ctx context.Context, tx Tx, d Dialect, rec streams.Record, ev domain.Event) error
}

// EveryEvent is implemented by a projector given every event of the log,
// those of a type the registry does not know too (ev nil): the audit
// chain, which covers the whole log. Others see only the events they can
// decode.
type EveryEvent interface {
	Projector
	EveryEvent()
}

// Evidence is implemented by a read model that is evidence rather than a
// view of the log: rebuilt from the log, it would agree with whatever the
// log holds now (the audit chain, whose links are what a changed event is
// found by). It is never rebuilt: see ErrNotRebuildable.
type Evidence interface {
	Projector
	Evidence()
}

// ErrNotRebuildable is returned for a rebuild of an Evidence read model.
var ErrNotRebuildable = errors.New("projections: this read model is evidence of the log and is never rebuilt from it")

// DB is a lease on a tenant's read database, from ReadStore.Open. Use it,
// then Release it; never Close it: the store owns the pool.
type DB struct {
	*sql.DB
	// Dialect chooses the read models' migrations.
	Dialect Dialect
	// SQL writes the statements that differ between dialects: paging,
	// savepoints, times.
	SQL     SQL
	release func()
	stmts   *Statements
}

// WithStatements returns the lease with the pool's statement cache, which
// the store closes with the pool.
func (db DB) WithStatements(st *Statements) DB {
	db.stmts = st
	return db
}

// Exec runs a statement prepared once per pool when the store keeps a
// cache (else as ExecContext does).
func (db DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.stmts == nil {
		return db.ExecContext(ctx, query, args...)
	}
	st, err := db.stmts.prepared(ctx, query) //nolint:sqlclosecheck // the pool's cache owns it
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRow is QueryRowContext with a statement prepared once per pool
// when the store keeps a cache.
func (db DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if db.stmts == nil {
		return db.QueryRowContext(ctx, query, args...)
	}
	st, err := db.stmts.prepared(ctx, query) //nolint:sqlclosecheck // the pool's cache owns it
	if err != nil {
		// A Row carrying the error: a failed prepare answers it on Scan.
		return db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Query runs a query prepared once per pool when the store keeps a cache
// (else as QueryContext does). Close the rows before Release.
func (db DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if db.stmts == nil {
		return db.QueryContext(ctx, query, args...)
	}
	st, err := db.stmts.prepared(ctx, query) //nolint:sqlclosecheck // the pool's cache owns it
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// NewDB returns a lease on db, whose dialect is d and whose statements s
// writes, for ReadStore implementations: release is called by the first
// Release of the lease, never twice.
func NewDB(db *sql.DB, d Dialect, s SQL, release func()) DB {
	var once sync.Once
	return DB{DB: db, Dialect: d, SQL: s, release: func() { once.Do(release) }}
}

// Release ends the lease once its rows are closed and its transactions
// ended: the store may then close the pool to make room for other tenants.
// Calling it again, or on a DB not from a store, does nothing.
func (db DB) Release() {
	if db.release != nil {
		db.release()
	}
}

// ReadStore opens tenants' read databases.
type ReadStore interface {
	// Open leases the ctx tenant's read database, creating it when needed;
	// it fails with tenant.ErrNoTenant when ctx carries no tenant. The pool
	// stays open at least until the lease is released: a store bounds how
	// many pools it keeps open by closing those nobody leases, so a lease
	// never released pins its pool. Safe for concurrent use.
	Open(ctx context.Context) (DB, error)
}

// ErrNotFound is returned by queries for a row that does not exist in the
// ctx tenant's read database.
var ErrNotFound = errors.New("projections: not found")

// ErrDropped is returned by a read store for a tenant whose database it
// dropped (the tenant deleted): whatever was still under way then never
// opens, and so never creates, its database again (its slug is never
// given again).
var ErrDropped = errors.New("projections: the tenant's read database was dropped")

// ErrLagging is returned by WaitFor when the tenant's projections did not
// reach the asked position in time.
var ErrLagging = errors.New("projections: projection lagging")
