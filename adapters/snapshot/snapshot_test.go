package snapshot_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/atrium-platform/atrium/adapters/postgres/pgtest"
	"github.com/atrium-platform/atrium/adapters/snapshot"
)

func TestCopyFromPostgreSQL(t *testing.T) {
	pg := pgtest.Start(t)
	src, err := sql.Open("pgx", pgtest.Database(t, pg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE invoices (id text PRIMARY KEY, total bigint NOT NULL, paid boolean, issued_at timestamptz, rate numeric(9,4), note text, raw bytea)`,
		`INSERT INTO invoices VALUES ('a', 12345, true, '2026-11-23T12:00:00Z', 0.0325, 'l''été', '\x0001ff')`,
		`INSERT INTO invoices VALUES ('b', -1, false, NULL, NULL, NULL, NULL)`,
		`CREATE TABLE "select" ("from" integer)`,
		`INSERT INTO "select" VALUES (7)`,
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	tx, err := src.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	path := filepath.Join(t.TempDir(), "snapshot.db")
	quote := func(s string) string { return `"` + s + `"` }
	if err := snapshot.Copy(ctx, tx, quote, []string{"invoices", "select"}, path); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Copy(ctx, tx, quote, []string{"invoices"}, path); err == nil {
		t.Fatal("a copy over an existing file")
	}
	dst, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var (
		total           int64
		paid            int
		issued, note    string
		rate            float64
		raw             []byte
		nullNote        sql.NullString
		nullIssued      sql.NullString
		from, nullCount int
	)
	if err := dst.QueryRow(`SELECT total, paid, issued_at, rate, note, raw FROM invoices WHERE id = 'a'`).Scan(&total, &paid, &issued, &rate, &note, &raw); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, issued)
	if total != 12345 || paid != 1 || err != nil || !at.Equal(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)) || rate != 0.0325 || note != "l'été" || string(raw) != "\x00\x01\xff" {
		t.Fatalf("row a: %d %d %q %v %q %x", total, paid, issued, rate, note, raw)
	}
	if err := dst.QueryRow(`SELECT note, issued_at, paid FROM invoices WHERE id = 'b'`).Scan(&nullNote, &nullIssued, &paid); err != nil {
		t.Fatal(err)
	}
	if nullNote.Valid || nullIssued.Valid || paid != 0 {
		t.Fatalf("row b: %v %v %d", nullNote, nullIssued, paid)
	}
	if err := dst.QueryRow(`SELECT "from" FROM "select"`).Scan(&from); err != nil || from != 7 {
		t.Fatalf("quoted table: %d %v", from, err)
	}
	if err := dst.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&nullCount); err != nil || nullCount != 2 {
		t.Fatalf("%d rows, %v", nullCount, err)
	}
}
