package readstoretest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/projections"
)

// testSQL runs the statements of a lease's SQL against the store's own
// database: what the runner and the read models' queries rely on.
func testSQL(t *testing.T, s Store) {
	migrate(t, s, "acme")
	ctx := ctxOf("acme")
	db, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	if db.SQL == nil {
		t.Fatal("a lease gives no SQL")
	}
	t.Run("Limit", func(t *testing.T) { testLimit(t, ctx, db) })
	t.Run("Savepoint", func(t *testing.T) { testSavepoint(t, ctx, db) })
	t.Run("UpsertCheckpoint", func(t *testing.T) { testUpsertCheckpoint(t, ctx, db) })
}

// ids runs query on db and returns the ids it selects.
func ids(t *testing.T, ctx context.Context, db projections.Tx, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testLimit(t *testing.T, ctx context.Context, db projections.DB) {
	for n := 1; n <= 5; n++ {
		if _, err := db.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, fmt.Sprint("l", n), n); err != nil {
			t.Fatal(err)
		}
	}
	q := db.SQL.Limit(`SELECT id FROM readstoretest_items WHERE n > ? AND id LIKE 'l%'`, "n DESC", 2)
	if got, want := ids(t, ctx, db, q, 1), []string{"l5", "l4"}; !slices.Equal(got, want) {
		t.Errorf("%s: %v, want %v", q, got, want)
	}
	q = db.SQL.Limit(`SELECT id FROM readstoretest_items WHERE id LIKE 'l%'`, "n", 10)
	if got, want := ids(t, ctx, db, q), []string{"l1", "l2", "l3", "l4", "l5"}; !slices.Equal(got, want) {
		t.Errorf("%s: %v, want %v", q, got, want)
	}
}

func testSavepoint(t *testing.T, ctx context.Context, db projections.DB) {
	set, rollback, release := db.SQL.Savepoint("sp")
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	insert := func(id string) { t.Helper(); exec(`INSERT INTO readstoretest_items (id, n) VALUES (?, ?)`, id, 1) }
	endSavepoint := func() {
		t.Helper()
		if release != "" {
			exec(release)
		}
	}
	insert("s-before")
	// Rolled back: the savepoint's writes go, the transaction's earlier ones stay.
	exec(set)
	insert("s-undone")
	exec(rollback)
	endSavepoint()
	// Kept: a savepoint set again, after one rolled back, ends with its writes.
	exec(set)
	insert("s-kept")
	endSavepoint()
	insert("s-after")
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit after savepoints: %v", err)
	}
	got := ids(t, ctx, db, db.SQL.Limit(`SELECT id FROM readstoretest_items WHERE id LIKE 's-%'`, "id", 10))
	if want := []string{"s-after", "s-before", "s-kept"}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

func testUpsertCheckpoint(t *testing.T, ctx context.Context, db projections.DB) {
	upsert := func(name string, pos int64) {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, db.SQL.UpsertCheckpoint(), name, pos, db.SQL.Time(time.Now())); err != nil {
			_ = tx.Rollback()
			t.Fatalf("upsert %s at %d: %v", name, pos, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	upsert("a", 3)  // inserted
	upsert("b", 1)  // inserted
	upsert("a", 70) // updated
	rows, err := db.QueryContext(ctx, `SELECT projector, position FROM projection_checkpoint WHERE projector IN ('a', 'b')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	n := 0
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			t.Fatal(err)
		}
		got[name] = pos
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2 || got["a"] != 70 || got["b"] != 1 {
		t.Fatalf("%d checkpoint rows %v, want a at 70 and b at 1", n, got)
	}
}
