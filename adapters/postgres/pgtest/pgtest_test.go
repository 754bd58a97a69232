package pgtest

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
)

// The server answers, with passwords checked: a role without a password
// cannot log in over TCP, and a database made for a test is usable.
func TestServer(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	u := Database(t, s)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d %v", one, err)
	}
	if _, err := s.Admin.ExecContext(ctx, "CREATE ROLE pgtest_nopass LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Admin.ExecContext(ctx, "DROP ROLE IF EXISTS pgtest_nopass") })
	other, err := sql.Open("pgx", "postgres://pgtest_nopass@"+hostOf(t, s.URL)+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.PingContext(ctx); err == nil {
		t.Fatal("a role without a password logged in over TCP")
	}
}

func hostOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}
