package commission_test

import (
	"testing"

	"github.com/atrium-platform/atrium/commands"
	commissioncmd "github.com/atrium-platform/atrium/commands/commission"
)

// TestStatementID: one statement per tenant, salesperson, period and
// currency, named by them, and a canonical id the pipeline accepts.
func TestStatementID(t *testing.T) {
	id := commissioncmd.StatementID("acme", "u-1", "2026-Q4", "EUR")
	if !commands.ValidID(id) || id != commissioncmd.StatementID("acme", "u-1", "2026-Q4", "EUR") {
		t.Fatalf("%q is not stable or not an id", id)
	}
	for _, other := range []string{
		commissioncmd.StatementID("globex", "u-1", "2026-Q4", "EUR"),
		commissioncmd.StatementID("acme", "u-2", "2026-Q4", "EUR"),
		commissioncmd.StatementID("acme", "u-1", "2026-Q3", "EUR"),
		commissioncmd.StatementID("acme", "u-1", "2026-Q4", "USD"),
	} {
		if other == id {
			t.Fatalf("two statements named %s", id)
		}
	}
}
