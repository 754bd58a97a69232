// Package readstores runs a test once per read store: the embedded SQLite
// files, PostgreSQL (always in make test), and SQL Server when
// ATRIUM_TEST_MSSQL_URL names one. Read models' tests use it so their
// projection and queries are proven on every store, not only SQLite.
package readstores

import (
	"context"
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

// Each runs fn as a subtest per read store, each with a new, empty store.
func Each(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(t.TempDir(), sqlite.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, pgstore.New(t, serverstore.Config{}))
	})
	t.Run("sqlserver", func(t *testing.T) {
		fn(t, mssqlstore.New(t, serverstore.Config{})) // skipped without ATRIUM_TEST_MSSQL_URL
	})
}
