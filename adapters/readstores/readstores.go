// Package readstores runs a test once per read store: the embedded SQLite
// files, PostgreSQL (always in make test), and SQL Server when
// ATRIUM_TEST_MSSQL_URL names one. Read models' tests use it so their
// projection and queries are proven on every store, not only on SQLite:
//
//	func TestX(t *testing.T) {
//		readstores.Each(t, func(t *testing.T) {
//			s := readstores.Open(t) // the store of this run
//			...
//		})
//	}
package readstores

import (
	"context"
	"strings"
	"testing"

	"github.com/atrium-platform/atrium/adapters/postgres/pgstore"
	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/adapters/sqlserver/mssqlstore"
	"github.com/atrium-platform/atrium/projections"
)

// Store is what a read model's tests use of a read store.
type Store interface {
	projections.ReadStore
	projections.Migrator
	Migrate(ctx context.Context, projectors ...projections.Projector) error
}

// The stores, by the name of the subtest Each runs them in.
const (
	SQLite    = "sqlite"
	Postgres  = "postgres"
	SQLServer = "sqlserver"
)

// Each runs fn as a subtest per read store; Open, called within it (or
// within its subtests), opens a new, empty store of that kind.
func Each(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	t.Run(SQLite, fn)
	t.Run(Postgres, fn)
	t.Run(SQLServer, fn) // Open skips it without ATRIUM_TEST_MSSQL_URL
}

// Open returns a new, empty store of the kind the enclosing Each subtest
// is for (SQLite outside Each), closed and dropped when t ends.
func Open(t testing.TB) Store {
	t.Helper()
	switch Kind(t) {
	case Postgres:
		return pgstore.New(t, serverstore.Config{})
	case SQLServer:
		return mssqlstore.New(t, serverstore.Config{})
	}
	s, err := sqlite.Open(t.TempDir(), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Kind returns the store t runs on: the Each subtest it is within.
func Kind(t testing.TB) string {
	parts := strings.Split(t.Name(), "/")
	for _, p := range parts[1:] {
		switch p {
		case SQLite, Postgres, SQLServer:
			return p
		}
	}
	return SQLite
}
