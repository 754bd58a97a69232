package sqltable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// postgres is PostgreSQL through pgx. Names are quoted in lower case:
// the table is the one an unquoted name would mean, and a name that is a
// keyword ("order") works as well.
type postgres struct{}

func (postgres) maxIdentifier() int { return 63 }

func (postgres) parse(dsn string) error {
	_, err := pgx.ParseConfig(dsn)
	return err
}

func (postgres) open(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

func (postgres) quote(s string) string { return `"` + strings.ToLower(s) + `"` }

func (d postgres) exists(ctx context.Context, db *sql.DB, t tableName) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", t.quoted(d.quote)).Scan(&ok)
	return ok, err
}

func (d postgres) createSQL(t tableName) string {
	q := d.quote
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	%s text PRIMARY KEY,
	%s text NOT NULL,
	%s text NOT NULL,
	%s text NOT NULL,
	%s text NOT NULL,
	%s bigint NOT NULL,
	%s bigint NOT NULL,
	%s timestamptz NOT NULL,
	%s text NOT NULL,
	%s timestamptz NOT NULL DEFAULT now()
)`, t.quoted(q), q("id"), q("tenant"), q("type"), q("aggregate"), q("aggregate_id"),
		q("version"), q("position"), q("occurred_at"), q("data"), q("received_at"))
}

func (d postgres) insertSQL(t tableName) string {
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (%s) DO NOTHING",
		t.quoted(d.quote), columnList(d.quote), d.quote("id"))
}

// duplicate is never needed: ON CONFLICT takes a repeat, concurrent ones
// included.
func (postgres) duplicate(error) bool { return false }

// alreadyExists: the table (42P07), or, when two sessions create it at
// once, the loser reports the table's row type as a duplicate (23505 on
// pg_type's key, or 42710).
func (postgres) alreadyExists(err error) bool {
	code := pgCode(err)
	return code == "42P07" || code == "23505" || code == "42710"
}

func (postgres) missingTable(err error) bool { return pgCode(err) == "42P01" }

// serverError reports whether the server said err, and whether what it
// said may pass: a connection exception, insufficient resources, a
// shutdown, a cancelled statement, a lock not available, a serialization
// failure or a deadlock.
func (postgres) serverError(err error) (found, transient bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false, false
	}
	code := pe.Code
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"),
		strings.HasPrefix(code, "58"):
		return true, true
	}
	switch code {
	case "40001", "40P01", "55P03", "57014":
		return true, true
	}
	return true, false
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
