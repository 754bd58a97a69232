package commands

import (
	"fmt"
	"testing"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Event ids are derived from the same bytes as they always were: a
// retried command must find the ids of its first attempt.
func TestEventIDNameIsStable(t *testing.T) {
	for _, c := range []struct {
		t       tenant.ID
		command string
		stream  streams.Name
		i       int
	}{
		{"acme", "6f1c2b8e-3a59-4d7e-9a43-2f0d5c1e7b90", "acme.invoice-0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", 0},
		{"globex", "0123456789abcdef0123456789abcdef", "globex.invoicenumber-2026", 12},
		{"a1", "", "a1.x-1", 999},
	} {
		want := fmt.Appendf(nil, "event\x00%s\x00%s\x00%s\x00%d", c.t, c.command, c.stream, c.i)
		if got := eventIDName(c.t, c.command, c.stream, c.i); string(got) != string(want) {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
