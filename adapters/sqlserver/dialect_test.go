package sqlserver_test

import (
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

func TestTimeIsUTC(t *testing.T) {
	at := time.Date(2026, 11, 23, 13, 0, 0, 5, time.FixedZone("CET", 3600))
	v, ok := sqlserver.SQL{}.Time(at).(time.Time)
	if !ok || v.Location() != time.UTC || !v.Equal(at) {
		t.Fatalf("Time(%v) = %#v, want the same instant as a time.Time in UTC", at, sqlserver.SQL{}.Time(at))
	}
}
