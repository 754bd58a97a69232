package sqltable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	mssql "github.com/microsoft/go-mssqldb" // the database/sql driver "sqlserver"
)

// sqlserver is SQL Server through go-mssqldb. Names are quoted in
// brackets.
type sqlserver struct{}

func (sqlserver) maxIdentifier() int { return 128 }

func (sqlserver) parse(dsn string) error {
	_, err := mssql.NewConnector(dsn)
	return err
}

func (sqlserver) open(dsn string) (*sql.DB, error) {
	c, err := mssql.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func (sqlserver) quote(s string) string { return "[" + s + "]" }

func (d sqlserver) exists(ctx context.Context, db *sql.DB, t tableName) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT CASE WHEN OBJECT_ID(@p1, N'U') IS NULL THEN 0 ELSE 1 END",
		t.quoted(d.quote)).Scan(&n)
	return n == 1, err
}

func (d sqlserver) createSQL(t tableName) string {
	q := d.quote
	return fmt.Sprintf(`CREATE TABLE %s (
	%s nvarchar(64) NOT NULL PRIMARY KEY,
	%s nvarchar(64) NOT NULL,
	%s nvarchar(200) NOT NULL,
	%s nvarchar(200) NOT NULL,
	%s nvarchar(200) NOT NULL,
	%s bigint NOT NULL,
	%s bigint NOT NULL,
	%s datetimeoffset NOT NULL,
	%s nvarchar(max) NOT NULL,
	%s datetimeoffset NOT NULL DEFAULT SYSDATETIMEOFFSET()
)`, t.quoted(q), q("id"), q("tenant"), q("type"), q("aggregate"), q("aggregate_id"),
		q("version"), q("position"), q("occurred_at"), q("data"), q("received_at"))
}

// insertSQL is a plain insert: a repeat violates the primary key, which
// duplicate takes as delivered. That holds for concurrent repeats too,
// without a transaction or lock hints.
func (d sqlserver) insertSQL(t tableName) string {
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (@p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9)",
		t.quoted(d.quote), columnList(d.quote))
}

// duplicate: a violation of the primary key (2627) or of a unique index
// (2601).
func (sqlserver) duplicate(err error) bool {
	n := msNumber(err)
	return n == 2627 || n == 2601
}

// alreadyExists: another session created the table first.
func (sqlserver) alreadyExists(err error) bool { return msNumber(err) == 2714 }

// missingTable: "Invalid object name".
func (sqlserver) missingTable(err error) bool { return msNumber(err) == 208 }

// serverError reports whether the server said err, and whether what it
// said may pass: a deadlock, a lock or resource time-out, a snapshot
// conflict, or one of Azure SQL's transient errors. Any error the server
// ends the connection with may pass too.
func (sqlserver) serverError(err error) (found, transient bool) {
	var fatal mssql.ServerError
	if errors.As(err, &fatal) {
		return true, true
	}
	var e mssql.Error
	if !errors.As(err, &e) {
		return false, false
	}
	switch e.Number {
	case 1205, // deadlock victim
		1222,       // lock request time-out
		3960,       // snapshot isolation update conflict
		8628, 8645, // time-outs waiting for memory
		233, 10053, 10054, 10060, // transport errors the server reports
		4221, 10928, 10929, 40143, 40197, 40501, 40540, 40613, 49918, 49919, 49920: // Azure SQL transient
		return true, true
	}
	return true, false
}

func msNumber(err error) int32 {
	var e mssql.Error
	if errors.As(err, &e) {
		return e.Number
	}
	return 0
}
