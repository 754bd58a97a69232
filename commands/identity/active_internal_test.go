package identity

import (
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
)

func TestActiveCache(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	far := t0.Add(time.Hour)
	key := func(tn, s string) activeKey { return activeKey{tenant: tenant.ID(tn), session: s} }

	c := newActiveCache(ActiveCache{TTL: 30 * time.Second, Size: 2})
	c.remember(key("acme", "a"), far, t0)
	if !c.open(key("acme", "a"), t0.Add(29*time.Second)) || c.open(key("acme", "a"), t0.Add(30*time.Second)) {
		t.Fatal("an open login is remembered for the TTL, no longer")
	}
	if c.len() != 0 {
		t.Fatalf("%d entries left after expiry", c.len())
	}
	c.remember(key("acme", "a"), t0.Add(10*time.Second), t0)
	if c.open(key("acme", "a"), t0.Add(10*time.Second)) {
		t.Fatal("a login remembered past its own expiry")
	}
	if c.open(key("globex", "a"), t0) {
		t.Fatal("a login remembered for another tenant")
	}

	// The least recently used go first.
	c.remember(key("acme", "a"), far, t0)
	c.remember(key("acme", "b"), far, t0)
	c.open(key("acme", "a"), t0)
	c.remember(key("acme", "c"), far, t0)
	if c.len() != 2 || c.open(key("acme", "b"), t0) || !c.open(key("acme", "a"), t0) || !c.open(key("acme", "c"), t0) {
		t.Fatalf("after a third login in a cache of two: %d entries", c.len())
	}

	// A forgotten login is not remembered again for a TTL: a check that
	// read the store before the revocation cannot bring it back.
	c.forget(key("acme", "a"), t0)
	if c.open(key("acme", "a"), t0) {
		t.Fatal("a forgotten login still open")
	}
	c.remember(key("acme", "a"), far, t0.Add(time.Second))
	if c.open(key("acme", "a"), t0.Add(time.Second)) {
		t.Fatal("a forgotten login remembered again at once")
	}
	c.remember(key("acme", "a"), far, t0.Add(31*time.Second))
	if !c.open(key("acme", "a"), t0.Add(31*time.Second)) {
		t.Fatal("a login forgotten a TTL ago, found open again, is not remembered")
	}
}
