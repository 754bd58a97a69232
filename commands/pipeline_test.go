package commands

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

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

// An aggregate a command creates without an idempotency key gets a
// time-ordered id (UUID version 7), so the read models' indexes on it grow
// at their end; with a key, the id is derived from it (version 5), in the
// tenant and for the caller, so a retry lands on the same stream.
func TestNewAggregateIDs(t *testing.T) {
	var prev string
	for range 1000 {
		id := newID("acme", "u1", Request{})
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || !ValidID(id) {
			t.Fatalf("%s: version %d, %v; want a canonical version 7 UUID", id, u.Version(), err)
		}
		if id <= prev {
			t.Fatalf("%s after %s: ids out of time order", id, prev)
		}
		prev = id
	}
	keyed := Request{CommandID: "k1", RequestHash: "h"}
	a, b := newID("acme", "u1", keyed), newID("acme", "u1", keyed)
	if u := uuid.MustParse(a); a != b || u.Version() != 5 {
		t.Fatalf("keyed: %s and %s (version %d), want one version 5 id", a, b, u.Version())
	}
	if c, d := newID("globex", "u1", keyed), newID("acme", "u2", keyed); c == a || d == a || c == d {
		t.Fatalf("keyed ids shared across tenants or callers: %s %s %s", a, c, d)
	}
}
