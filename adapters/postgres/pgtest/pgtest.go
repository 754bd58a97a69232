// Package pgtest gives tests a real PostgreSQL server: the one
// ATRIUM_TEST_POSTGRES_URL names (a superuser's URL), or a throwaway one
// started from the PostgreSQL binaries on the machine (initdb and pg_ctl,
// found under /usr/lib/postgresql/<version>/bin or on PATH) in a temporary
// directory, as an unprivileged user when the tests run as root (initdb
// refuses root). Passwords are checked on TCP (scram-sha-256), so a role's
// privileges are what they would be in production. One server serves a
// test binary; each test takes databases of its own.
//
// When neither is available the test is skipped, unless
// ATRIUM_REQUIRE_POSTGRES is set (make test sets it), when it fails.
package pgtest

import (
	"context"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/atrium-platform/atrium/adapters/postgres/pglocal"
)

// Server is a PostgreSQL server tests may use.
type Server = pglocal.Server

var (
	once   sync.Once
	shared *Server
	setErr error
)

func start() (*Server, error) {
	return pglocal.Start(os.Getenv("ATRIUM_TEST_POSTGRES_URL"), pglocal.Options{NoFsync: true, MaxConnections: 200})
}

// Start returns the test binary's server, starting it on first use. Its
// data directory is removed when the process exits normally; a server
// left by a killed test binary lives in a temporary directory.
func Start(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, setErr = start() })
	if setErr != nil {
		if os.Getenv("ATRIUM_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (ATRIUM_REQUIRE_POSTGRES) and could not start: %v", setErr)
		}
		t.Skipf("no PostgreSQL: %v (set ATRIUM_TEST_POSTGRES_URL, or install PostgreSQL's server binaries)", setErr)
	}
	return shared
}

// Database creates a fresh database for t, dropped when t ends, and
// returns a superuser's URL for it.
func Database(t testing.TB, s *Server) string {
	t.Helper()
	name := "t_" + pglocal.RandomHex(8)
	ctx := context.Background()
	if _, err := s.Admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = s.Admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return WithDatabase(s.URL, name)
}

// WithDatabase returns u naming database db instead.
func WithDatabase(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}
