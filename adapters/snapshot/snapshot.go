// Package snapshot copies a tenant's read tables from a server read store
// (PostgreSQL, SQL Server) into one SQLite database file: what analysts
// download with GET /api/v1/analytics/snapshot to query with their own SQL
// tools. The caller gives the tables and a transaction that sees them at
// one instant; the copy keeps each column's values, with the types SQLite
// has.
package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver the copy is written with
)

// Copy writes tables, read through src, into a new SQLite database at path
// (which must not exist): one table each, same name and columns, every
// row. quote quotes an identifier in src's dialect. On an error the file is
// removed.
func Copy(ctx context.Context, src *sql.Tx, quote func(string) string, tables []string, path string) (err error) {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("snapshot: %s exists", path)
	}
	dst, err := sql.Open("sqlite", "file:"+path+"?_journal_mode=OFF&_synchronous=OFF")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	dst.SetMaxOpenConns(1)
	for _, t := range tables {
		if err := copyTable(ctx, src, dst, quote, t); err != nil {
			return fmt.Errorf("snapshot: table %s: %w", t, err)
		}
	}
	return nil
}

func copyTable(ctx context.Context, src *sql.Tx, dst *sql.DB, quote func(string) string, table string) error {
	rows, err := src.QueryContext(ctx, "SELECT * FROM "+quote(table))
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	defs := make([]string, len(cols))
	names := make([]string, len(cols))
	marks := make([]string, len(cols))
	for i, c := range cols {
		names[i] = sqliteQuote(c.Name())
		defs[i] = names[i] + " " + affinity(c.DatabaseTypeName())
		marks[i] = "?"
	}
	if _, err := dst.ExecContext(ctx, "CREATE TABLE "+sqliteQuote(table)+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return err
	}
	tx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	ins, err := tx.PrepareContext(ctx, "INSERT INTO "+sqliteQuote(table)+" ("+strings.Join(names, ", ")+") VALUES ("+strings.Join(marks, ", ")+")")
	if err != nil {
		return err
	}
	defer ins.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		args := make([]any, len(vals))
		for i, v := range vals {
			args[i] = value(v, cols[i].DatabaseTypeName())
		}
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return tx.Commit()
}

// affinity is the SQLite column type of a server column type.
func affinity(dbType string) string {
	t := strings.ToUpper(dbType)
	switch {
	case strings.Contains(t, "INT") || t == "BOOL" || t == "BOOLEAN" || t == "BIT":
		return "INTEGER"
	case strings.Contains(t, "NUMERIC") || strings.Contains(t, "DECIMAL") || strings.Contains(t, "MONEY"):
		return "NUMERIC"
	case strings.Contains(t, "FLOAT") || strings.Contains(t, "REAL") || strings.Contains(t, "DOUBLE"):
		return "REAL"
	case t == "BYTEA" || strings.Contains(t, "BINARY") || strings.Contains(t, "BLOB") || t == "IMAGE":
		return "BLOB"
	}
	return "TEXT"
}

// value is v as SQLite stores it: times as RFC 3339 text in UTC, booleans
// as 0 or 1, text as text (some drivers scan it as bytes).
func value(v any, dbType string) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case bool:
		if x {
			return 1
		}
		return 0
	case []byte:
		if affinity(dbType) == "BLOB" {
			return x
		}
		return string(x)
	}
	return v
}

func sqliteQuote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }
