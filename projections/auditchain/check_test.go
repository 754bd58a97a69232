package auditchain_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/projections/auditchain"
)

// logOf is a log of n events and the links chained over it.
func logOf(n int) ([]auditchain.Linked, []auditchain.Hash) {
	var evs []auditchain.Linked
	var links []auditchain.Hash
	var prev auditchain.Hash
	for i := 1; i <= n; i++ {
		e := auditchain.Linked{ID: fmt.Sprintf("id-%d", i), Stream: "acme.invoice-1", Type: "invoice.drafted.v1", Version: uint64(i),
			Position: uint64(i), RecordedAt: time.Date(2026, 11, 1, 0, 0, i, 0, time.UTC),
			Data: []byte(fmt.Sprintf(`{"amount":%d}`, i)), Metadata: auditchain.Meta{Tenant: "acme", UserID: "u"}}
		prev = auditchain.Link(prev, e)
		evs, links = append(evs, e), append(links, prev)
	}
	return evs, links
}

func check(evs []auditchain.Linked, links []auditchain.Hash, heads map[uint64]auditchain.Hash) auditchain.Check {
	h := auditchain.Heads{At: map[uint64][]auditchain.Hash{}}
	for pos, hash := range heads {
		h.At[pos] = []auditchain.Hash{hash}
	}
	c := auditchain.NewChecker(auditchain.Hash{}, h)
	li := 0
	for _, e := range evs {
		for li < len(links) && uint64(li+1) < e.Position {
			c.Missing(uint64(li + 1))
			li++
		}
		if li < len(links) && uint64(li+1) == e.Position {
			c.Event(e, &links[li], false)
			li++
			continue
		}
		c.Event(e, nil, li < len(links))
	}
	for ; li < len(links); li++ {
		c.Missing(uint64(li + 1))
	}
	return c.Result()
}

func TestChecker(t *testing.T) {
	evs, links := logOf(10)
	heads := map[uint64]auditchain.Hash{5: links[4], 10: links[9]}
	if c := check(evs, links, heads); !c.OK || c.Events != 10 || c.Chained != 10 || c.HeadsChecked != 2 || c.Head.Position != 10 || c.Head.Hash != links[9].String() {
		t.Fatalf("intact: %+v", c)
	}
	// The data is covered byte for byte, its spacing too.
	spaced := append([]auditchain.Linked(nil), evs...)
	spaced[2].Data = []byte(`{"amount": 3}`)
	if c := check(spaced, links, heads); c.OK || *c.FirstBadPosition != 3 {
		t.Fatalf("spacing: %+v", c)
	}
	for _, tc := range []struct {
		name   string
		change func([]auditchain.Linked) []auditchain.Linked
		at     uint64
	}{
		{"data", func(l []auditchain.Linked) []auditchain.Linked { l[6].Data = []byte(`{"amount":70}`); return l }, 7},
		{"time", func(l []auditchain.Linked) []auditchain.Linked {
			l[3].RecordedAt = l[3].RecordedAt.Add(time.Nanosecond)
			return l
		}, 4},
		{"metadata", func(l []auditchain.Linked) []auditchain.Linked { l[0].Metadata.UserID = "v"; return l }, 1},
		{"removed", func(l []auditchain.Linked) []auditchain.Linked { return append(l[:5:5], l[6:]...) }, 6},
		{"removed at the end", func(l []auditchain.Linked) []auditchain.Linked { return l[:9] }, 10},
	} {
		evs, links := logOf(10)
		if c := check(tc.change(evs), links, heads); c.OK || c.FirstBadPosition == nil || *c.FirstBadPosition != tc.at {
			t.Errorf("%s: %+v, want the break at %d", tc.name, c, tc.at)
		}
	}
	// An event put in between: the chain never recorded it.
	evs, links = logOf(10)
	inserted := append(append(append([]auditchain.Linked(nil), evs[:4]...), auditchain.Linked{ID: "x", Position: 5}), evs[4:]...)
	for i := 5; i < len(inserted); i++ {
		inserted[i].Position++
	}
	if c := check(inserted, links, nil); c.OK || *c.FirstBadPosition != 5 {
		t.Errorf("inserted: %+v", c)
	}
	// A head that does not match the chain, and one naming no event.
	if c := check(evs, links, map[uint64]auditchain.Hash{3: links[2], 8: links[2]}); c.OK || *c.FirstBadPosition != 8 || c.HeadsChecked != 1 {
		t.Errorf("wrong head: %+v", c)
	}
	if c := check(evs, links, map[uint64]auditchain.Hash{42: links[2]}); c.OK || *c.FirstBadPosition != 42 {
		t.Errorf("head past the log: %+v", c)
	}
	// Two heads of one position must both match; a head that cannot be
	// read is a break where it was recorded.
	two := auditchain.Heads{At: map[uint64][]auditchain.Hash{4: {links[3], links[2]}}}
	c := auditchain.NewChecker(auditchain.Hash{}, two)
	for i, e := range evs {
		c.Event(e, &links[i], false)
	}
	if r := c.Result(); r.OK || *r.FirstBadPosition != 4 || r.HeadsChecked != 1 {
		t.Errorf("two heads of 4: %+v", r)
	}
	c = auditchain.NewChecker(auditchain.Hash{}, auditchain.Heads{Unreadable: []uint64{9}})
	for i, e := range evs {
		c.Event(e, &links[i], false)
	}
	if r := c.Result(); r.OK || *r.FirstBadPosition != 9 {
		t.Errorf("unreadable head: %+v", r)
	}
	// The chain's read model behind the log: events hashed, not compared.
	if c := check(evs, links[:6], nil); !c.OK || c.Chained != 6 || c.Events != 10 {
		t.Errorf("read model behind: %+v", c)
	}
}
