package sqltable

import (
	"net/url"
	"testing"

	"github.com/atrium-platform/atrium/adapters/postgres/pgtest"
)

// TestPostgres runs the suite against a real PostgreSQL (see pgtest:
// ATRIUM_TEST_POSTGRES_URL, or the machine's PostgreSQL binaries).
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	const driver = "pgx"
	quote := func(s string) string { return `"` + s + `"` }
	runSuite(t, target{
		driver:    Postgres,
		sqlDriver: driver,
		quote:     quote,
		database:  func(t *testing.T) string { return pgtest.Database(t, srv) },
		login: func(t *testing.T, adminDSN string) (string, string) {
			name, pw := "erp_"+randomHex(6), "Pw-"+randomHex(8)
			execAs(t, driver, adminDSN, "CREATE ROLE "+quote(name)+" LOGIN PASSWORD '"+pw+"'")
			t.Cleanup(func() {
				execAs(t, driver, adminDSN, "DROP OWNED BY "+quote(name),
					"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '"+name+"'")
				execAs(t, driver, srv.URL, "DROP ROLE "+quote(name))
			})
			u, err := url.Parse(adminDSN)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(name, pw)
			return u.String(), name
		},
		grantCreate: func(t *testing.T, adminDSN, name string) {
			execAs(t, driver, adminDSN, "GRANT CREATE ON SCHEMA public TO "+quote(name))
		},
		setPassword: func(t *testing.T, adminDSN, name, password string) {
			execAs(t, driver, adminDSN, "ALTER ROLE "+quote(name)+" PASSWORD '"+password+"'")
		},
		disconnect: func(t *testing.T, adminDSN, name string) int {
			execAs(t, driver, adminDSN, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '"+name+"'")
			return queryInt(t, driver, adminDSN, "SELECT count(*) FROM pg_stat_activity WHERE usename = '"+name+"'")
		},
		withDatabase: pgtest.WithDatabase,
	})
}
