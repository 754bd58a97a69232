package sqlserver_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/sqlserver"
)

func TestLimitFetchesTheFirstRowsInOrder(t *testing.T) {
	got := sqlserver.SQL{}.Limit("SELECT id FROM invoices WHERE status = ?", "created_position DESC", 51)
	want := "SELECT id FROM invoices WHERE status = ? ORDER BY created_position DESC OFFSET 0 ROWS FETCH NEXT 51 ROWS ONLY"
	if got != want {
		t.Fatalf("Limit:\n got %q\nwant %q", got, want)
	}
}

func TestSavepointIsNeverReleased(t *testing.T) {
	set, rollback, release := sqlserver.SQL{}.Savepoint("ev")
	if set != "SAVE TRANSACTION ev" || rollback != "ROLLBACK TRANSACTION ev" || release != "" {
		t.Fatalf("Savepoint: %q, %q, %q", set, rollback, release)
	}
}

func TestUpsertCheckpointUpdatesThenInserts(t *testing.T) {
	q := sqlserver.SQL{}.UpsertCheckpoint()
	if strings.Contains(strings.ToUpper(q), "MERGE") {
		t.Fatalf("the checkpoint upsert uses MERGE:\n%s", q)
	}
	// The three arguments, in order, bound once each: projector, position,
	// time. The SQL Server store numbers '?' placeholders in order.
	if n := strings.Count(q, "?"); n != 3 {
		t.Fatalf("%d placeholders, want 3:\n%s", n, q)
	}
	decl := "DECLARE @projector NVARCHAR(64) = ?, @position BIGINT = ?, @updated_at DATETIME2 = ?;"
	if !strings.HasPrefix(q, decl) {
		t.Fatalf("the arguments are not declared in order (%s):\n%s", decl, q)
	}
	// An UPDATE that keeps its key locked to the end of the transaction,
	// then an INSERT only when it changed nothing.
	upd := strings.Index(q, "UPDATE projection_checkpoint WITH (UPDLOCK, SERIALIZABLE)")
	cond := strings.Index(q, "IF @@ROWCOUNT = 0")
	ins := strings.Index(q, "INSERT INTO projection_checkpoint (projector, position, updated_at) VALUES (@projector, @position, @updated_at)")
	if upd < 0 || cond < upd || ins < cond {
		t.Fatalf("want UPDATE WITH (UPDLOCK, SERIALIZABLE), then IF @@ROWCOUNT = 0, then INSERT:\n%s", q)
	}
	if !strings.Contains(q, "WHERE projector = @projector") {
		t.Fatalf("the UPDATE is not of the projector's row:\n%s", q)
	}
}

func TestTimeIsUTC(t *testing.T) {
	at := time.Date(2026, 11, 23, 13, 0, 0, 5, time.FixedZone("CET", 3600))
	v, ok := sqlserver.SQL{}.Time(at).(time.Time)
	if !ok || v.Location() != time.UTC || !v.Equal(at) {
		t.Fatalf("Time(%v) = %#v, want the same instant as a time.Time in UTC", at, sqlserver.SQL{}.Time(at))
	}
}
