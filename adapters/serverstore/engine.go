// Package serverstore is the read store on a database server (PostgreSQL,
// SQL Server): a database and a login per tenant, created at provisioning
// and reached through the tenant's own login, whose password is generated
// and kept sealed by the caller's Credentials; at most Config.MaxConns
// connections to the server across every tenant's pool; migrations per
// read model with goose, under a lock the server holds. What differs
// between servers (names, DDL, locks, placeholders, the SQL of leases) is
// an Engine: adapters/postgres and adapters/sqlserver.
package serverstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/atrium-platform/atrium/projections"
)

// Names are what a tenant's resources are called on the server.
type Names struct {
	// Database is the tenant's database: <prefix><slug>.
	Database string
	// Login owns the database and is how the store reaches it.
	Login string
	// ReadRole may read the database's tables, nothing else; analysts'
	// logins are members of it.
	ReadRole string
}

// Engine is one database server's way of doing what the store does.
type Engine interface {
	// Dialect chooses the read models' migrations; SQL writes the
	// statements leases give; Goose is goose's name for the dialect.
	Dialect() projections.Dialect
	SQL() projections.SQL
	Goose() goose.Dialect
	// Placeholders rewrites '?' into the server's placeholders.
	Placeholders() Placeholders

	// AdminConnector connects to the server as the store's account
	// (the URL the operator gives).
	AdminConnector(url string) (driver.Connector, error)
	// Connector connects to database db as login, with password, on the
	// server of url.
	Connector(url, db, login, password string) (driver.Connector, error)
	// DSN is what an analyst gives their SQL tool to reach db as login.
	DSN(url, db, login, password string) (string, error)

	// Provision creates n's login (with password), read role and
	// database when missing, gives an existing login password when
	// newPassword, and grants the login, and only it, the database. It
	// runs on the admin connection conn and is safe against other
	// processes provisioning at once.
	Provision(ctx context.Context, conn *sql.Conn, n Names, password string, newPassword bool) error
	// Prepare readies a provisioned database, on a connection of its
	// owner: what its owner grants (the read role's reading).
	Prepare(ctx context.Context, db *sql.DB, n Names) error
	// Exists reports whether database db exists.
	Exists(ctx context.Context, admin *sql.DB, db string) (bool, error)
	// Databases lists the databases whose names start with prefix.
	Databases(ctx context.Context, admin *sql.DB, prefix string) ([]string, error)
	// Drop removes n's database, its logins and its analysts' logins.
	Drop(ctx context.Context, admin *sql.DB, n Names) error

	// Lock takes the named lock of the database conn is on, held by the
	// connection until unlock or its close.
	Lock(ctx context.Context, conn *sql.Conn, name string) (unlock func() error, err error)
	// TableExists reports whether the database has the table.
	TableExists(ctx context.Context, db *sql.DB, table string) (bool, error)
	// Tables lists the database's tables, for a snapshot.
	Tables(ctx context.Context, tx *sql.Tx) ([]string, error)
	// Quote quotes an identifier.
	Quote(ident string) string
	// SnapshotTx is the transaction a snapshot reads in: one instant.
	SnapshotTx() *sql.TxOptions

	// CreateAnalyst creates login, a member of n.ReadRole, valid until
	// expires; DropExpiredAnalysts drops those of n past their time and
	// reports how many are left.
	CreateAnalyst(ctx context.Context, admin *sql.DB, n Names, login, password string, expires time.Time) error
	DropExpiredAnalysts(ctx context.Context, admin *sql.DB, n Names, now time.Time) (active int, err error)
}

// Credentials keeps the passwords of tenants' read database logins: the
// store generates them, the caller keeps them sealed. Implementations are
// safe for concurrent use by several processes.
type Credentials interface {
	// Password returns the password kept for tenant's login, or
	// ErrNoCredentials.
	Password(ctx context.Context, tenant string) (string, error)
	// Keep keeps password for tenant unless one is kept already, and
	// returns the one kept.
	Keep(ctx context.Context, tenant, password string) (kept string, err error)
}

// ErrNoCredentials is returned by Credentials for a tenant whose login
// has no password kept: its database was never provisioned.
var ErrNoCredentials = errors.New("serverstore: no credentials kept for the tenant")
