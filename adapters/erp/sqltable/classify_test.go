package sqltable

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	mssql "github.com/microsoft/go-mssqldb"
)

// The suite shows the classification against a real server; these show
// the rest of the table, SQL Server's included where no server runs.
type retryCase struct {
	name string
	err  error
	want bool
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	common := []retryCase{
		{"connection refused", fmt.Errorf("connect: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"dns", &net.DNSError{Err: "no such host", Name: "db.invalid", IsNotFound: true}, true},
		{"eof", io.ErrUnexpectedEOF, true},
		{"bad connection", driver.ErrBadConn, true},
		{"deadline", context.DeadlineExceeded, true},
	}
	pg := []retryCase{
		{"wrong password", &pgconn.PgError{Code: "28P01"}, false},
		{"no such role", &pgconn.PgError{Code: "28000"}, false},
		{"missing database", &pgconn.PgError{Code: "3D000"}, false},
		{"permission denied", fmt.Errorf("exec: %w", &pgconn.PgError{Code: "42501"}), false},
		{"undefined column", &pgconn.PgError{Code: "42703"}, false},
		{"value too long", &pgconn.PgError{Code: "22001"}, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"serialization", &pgconn.PgError{Code: "40001"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"lock not available", &pgconn.PgError{Code: "55P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
	}
	ms := []retryCase{
		{"login failed", mssql.Error{Number: 18456, Message: "Login failed for user 'erp'."}, false},
		{"cannot open database", mssql.Error{Number: 4060}, false},
		{"create table denied", fmt.Errorf("exec: %w", mssql.Error{Number: 262}), false},
		{"insert denied", mssql.Error{Number: 229}, false},
		{"invalid column", mssql.Error{Number: 207}, false},
		{"truncation", mssql.Error{Number: 2628}, false},
		{"deadlock victim", mssql.Error{Number: 1205}, true},
		{"lock timeout", mssql.Error{Number: 1222}, true},
		{"azure unavailable", mssql.Error{Number: 40613}, true},
		{"azure throttled", mssql.Error{Number: 40501}, true},
		{"stream error", mssql.StreamError{InnerError: io.EOF}, true},
	}
	for _, tc := range []struct {
		d     dialect
		cases []retryCase
	}{
		{postgres{}, append(pg, common...)},
		{sqlserver{}, append(ms, common...)},
	} {
		c := &Connector{d: tc.d}
		for _, k := range tc.cases {
			if got := c.retryable(k.err); got != k.want {
				t.Errorf("%T %s: retryable %v, want %v", tc.d, k.name, got, k.want)
			}
		}
	}
}

func TestSQLServerDuplicates(t *testing.T) {
	t.Parallel()
	d := sqlserver{}
	for _, tc := range []struct {
		err                    error
		dup, exists, noSuchTab bool
	}{
		{mssql.Error{Number: 2627}, true, false, false},
		{fmt.Errorf("exec: %w", mssql.Error{Number: 2601}), true, false, false},
		{mssql.Error{Number: 2714}, false, true, false},
		{mssql.Error{Number: 208}, false, false, true},
		{mssql.Error{Number: 1205}, false, false, false},
		{errors.New("other"), false, false, false},
	} {
		if d.duplicate(tc.err) != tc.dup || d.alreadyExists(tc.err) != tc.exists || d.missingTable(tc.err) != tc.noSuchTab {
			t.Errorf("%v: duplicate %v, alreadyExists %v, missingTable %v", tc.err, d.duplicate(tc.err), d.alreadyExists(tc.err), d.missingTable(tc.err))
		}
	}
}

// TestPostgresAlreadyExists: each way PostgreSQL says a table being
// created is there already, as two sessions creating it at once meet them.
func TestPostgresAlreadyExists(t *testing.T) {
	t.Parallel()
	d := postgres{}
	for code, want := range map[string]bool{"42P07": true, "23505": true, "42710": true, "42P01": false, "42501": false} {
		if got := d.alreadyExists(fmt.Errorf("create: %w", &pgconn.PgError{Code: code})); got != want {
			t.Errorf("SQLSTATE %s: alreadyExists %v, want %v", code, got, want)
		}
	}
}
