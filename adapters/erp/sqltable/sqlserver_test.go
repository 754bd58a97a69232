package sqltable

import (
	"net/url"
	"os"
	"testing"
)

// TestSQLServer runs the suite against the SQL Server that
// ATRIUM_TEST_MSSQL_URL names: an administrator's URL, such as
// sqlserver://sa:<password>@localhost:1433?database=master (make
// test-integration requires it; docker compose up mssql provides one).
func TestSQLServer(t *testing.T) {
	server := os.Getenv("ATRIUM_TEST_MSSQL_URL")
	if server == "" {
		t.Skip("ATRIUM_TEST_MSSQL_URL is not set: no SQL Server to run the suite against")
	}
	const driver = "sqlserver"
	quote := func(s string) string { return "[" + s + "]" }
	withDatabase := func(dsn, db string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		q.Set("database", db)
		u.RawQuery = q.Encode()
		return u.String()
	}
	runSuite(t, target{
		driver:    SQLServer,
		sqlDriver: driver,
		quote:     quote,
		database: func(t *testing.T) string {
			name := "t_" + randomHex(8)
			execAs(t, driver, server, "CREATE DATABASE "+quote(name))
			t.Cleanup(func() {
				execAs(t, driver, server,
					"ALTER DATABASE "+quote(name)+" SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
					"DROP DATABASE "+quote(name))
			})
			return withDatabase(server, name)
		},
		login: func(t *testing.T, adminDSN string) (string, string) {
			name, pw := "erp_"+randomHex(6), "Pw-"+randomHex(8)+"-aA1"
			execAs(t, driver, adminDSN,
				"CREATE LOGIN "+quote(name)+" WITH PASSWORD = N'"+pw+"', CHECK_POLICY = OFF",
				"CREATE USER "+quote(name)+" FOR LOGIN "+quote(name))
			t.Cleanup(func() {
				execAs(t, driver, server, killSessions(name), "DROP LOGIN "+quote(name))
			})
			u, err := url.Parse(adminDSN)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(name, pw)
			return u.String(), name
		},
		grantCreate: func(t *testing.T, adminDSN, name string) {
			execAs(t, driver, adminDSN,
				"GRANT CREATE TABLE TO "+quote(name),
				"GRANT ALTER, SELECT, INSERT ON SCHEMA::dbo TO "+quote(name))
		},
		setPassword: func(t *testing.T, adminDSN, name, password string) {
			execAs(t, driver, adminDSN, "ALTER LOGIN "+quote(name)+" WITH PASSWORD = N'"+password+"'")
		},
		disconnect: func(t *testing.T, adminDSN, name string) int {
			execAs(t, driver, adminDSN, killSessions(name))
			return queryInt(t, driver, adminDSN, "SELECT count(*) FROM sys.dm_exec_sessions WHERE login_name = N'"+name+"'")
		},
		withDatabase: withDatabase,
	})
}

// killSessions is a batch that ends every session of login name.
func killSessions(name string) string {
	return `DECLARE @kill nvarchar(max) = N'';
SELECT @kill = @kill + N'KILL ' + CAST(session_id AS nvarchar(10)) + N';'
  FROM sys.dm_exec_sessions WHERE login_name = N'` + name + `' AND session_id <> @@SPID;
EXEC (@kill);`
}
