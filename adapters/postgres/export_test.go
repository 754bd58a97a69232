package postgres_test

import (
	"testing"

	"github.com/atrium-platform/atrium/adapters/postgres"
	"github.com/atrium-platform/atrium/adapters/postgres/pgtest"
	"github.com/atrium-platform/atrium/adapters/serverstore"
)

var postgresEngine = postgres.Engine{}

func serverURL(t *testing.T, _ *serverstore.Store) string { return pgtest.Start(t).URL }
