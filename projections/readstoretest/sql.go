package readstoretest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	t.Run("CheckpointFence", func(t *testing.T) { testCheckpointFence(t, ctx, db) })
	t.Run("DatabaseBytes", func(t *testing.T) { testDatabaseBytes(t, ctx, db) })
}

// testDatabaseBytes: the size the dialect reads is the database's, and
// grows as rows are written.
func testDatabaseBytes(t *testing.T, ctx context.Context, db projections.DB) {
	size := func() int64 {
		var n int64
		if err := db.QueryRowContext(ctx, db.SQL.DatabaseBytes()).Scan(&n); err != nil {
			t.Fatalf("%s: %v", db.SQL.DatabaseBytes(), err)
		}
		return n
	}
	before := size()
	if before <= 0 {
		t.Fatalf("the database takes %d bytes", before)
	}
	pad := strings.Repeat("x", 4000)
	for i := range 2000 {
		if _, err := db.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n, label) VALUES (?, ?, ?)`, fmt.Sprint("b", i), i, pad); err != nil {
			t.Fatal(err)
		}
	}
	if after := size(); after <= before {
		t.Fatalf("8 MB written, and the database takes %d bytes, was %d", after, before)
	}
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

// testCheckpointFence runs the runner's checkpoint statements from two
// transactions at once, as two instances projecting one tenant would: of
// two inserts of one projector's row exactly one commits, and of two
// advances from one position exactly one changes the row and commits, the
// other changing nothing or failing.
func testCheckpointFence(t *testing.T, ctx context.Context, db projections.DB) {
	now := db.SQL.Time(time.Now())
	// race runs write in two transactions at once and returns which of
	// them changed a row and committed.
	race := func(write func(tx *sql.Tx, i int64) (int64, error)) []int64 {
		t.Helper()
		var wg sync.WaitGroup
		won := make(chan int64, 2)
		for i := range int64(2) {
			wg.Go(func() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Errorf("begin: %v", err)
					return
				}
				n, err := write(tx, i)
				if err != nil || n != 1 {
					_ = tx.Rollback()
					return
				}
				if tx.Commit() == nil {
					won <- i
				}
			})
		}
		wg.Wait()
		close(won)
		var out []int64
		for i := range won {
			out = append(out, i)
		}
		return out
	}
	position := func() int64 {
		t.Helper()
		var pos int64
		if err := db.QueryRowContext(ctx, `SELECT position FROM projection_checkpoint WHERE projector = 'fenced'`).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return pos
	}

	won := race(func(tx *sql.Tx, i int64) (int64, error) {
		res, err := tx.ExecContext(ctx, projections.CheckpointInsert, "fenced", 10+i, now)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
	if len(won) != 1 {
		t.Fatalf("two inserts of one checkpoint at once: %d committed, want exactly one", len(won))
	}
	if got, want := position(), 10+won[0]; got != want {
		t.Fatalf("checkpoint at %d after the insert of writer %d, want %d", got, won[0], want)
	}

	for range 20 {
		from := position()
		won := race(func(tx *sql.Tx, i int64) (int64, error) {
			res, err := tx.ExecContext(ctx, projections.CheckpointAdvance, from+1+i, now, "fenced", from)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		})
		if len(won) != 1 {
			t.Fatalf("two advances from %d at once: %d committed, want exactly one", from, len(won))
		}
		if got, want := position(), from+1+won[0]; got != want {
			t.Fatalf("checkpoint at %d after writer %d advanced it from %d, want %d", got, won[0], from, want)
		}
	}

	// An advance from a position the row is not at changes nothing.
	res, err := db.ExecContext(ctx, projections.CheckpointAdvance, 1_000, now, "fenced", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 0 {
		t.Fatalf("an advance from a stale position changed %d rows (%v), want none", n, err)
	}
}
