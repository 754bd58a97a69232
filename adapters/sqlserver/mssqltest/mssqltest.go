// Package mssqltest gives tests the SQL Server that ATRIUM_TEST_MSSQL_URL
// names: a sqlserver:// URL of an account that may create databases and
// logins (sysadmin, or dbcreator and securityadmin with ALTER ANY
// CONNECTION). When it is not set the test is skipped; make
// test-integration fails without it.
package mssqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb" // the database/sql driver "sqlserver"
)

// Env is the variable that names the server.
const Env = "ATRIUM_TEST_MSSQL_URL"

// Server is the SQL Server tests may use.
type Server struct {
	// URL is the administering account's URL.
	URL string
	// Admin is a pool on URL.
	Admin *sql.DB
}

var (
	once   sync.Once
	shared *Server
	setErr error
)

// Start returns the test binary's server, connecting on first use, or
// skips t when ATRIUM_TEST_MSSQL_URL is not set.
func Start(t testing.TB) *Server {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		t.Skip("no SQL Server: set " + Env + " to a sqlserver:// URL of an account that may create databases and logins")
	}
	once.Do(func() { shared, setErr = connect(u) })
	if setErr != nil {
		t.Fatalf("SQL Server (%s): %v", Env, setErr)
	}
	return shared
}

func connect(u string) (*Server, error) {
	db, err := sql.Open("sqlserver", u)
	if err != nil {
		return nil, errors.New("unparsable URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err = db.PingContext(ctx)
		if err == nil {
			return &Server{URL: u, Admin: db}, nil
		}
		select {
		case <-ctx.Done():
			_ = db.Close()
			return nil, fmt.Errorf("sqlserver %s: %w", redact(u), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable url)"
	}
	return p.Redacted()
}
