package auditchain

import (
	"encoding/json"

	"github.com/atrium-platform/atrium/domain/audit"
)

// HeadType is the type of the events that record the chain's head.
var HeadType = audit.ChainHeadRecorded{}.EventName()

// HeadOf reads a recorded head from an event of HeadType's data.
func HeadOf(data []byte) (position uint64, h Hash, ok bool) {
	var e audit.ChainHeadRecorded
	if json.Unmarshal(data, &e) != nil {
		return 0, Hash{}, false
	}
	h, err := ParseHash(e.Hash)
	return e.Position, h, err == nil
}

// Check is what a check of a log against its chain found
// (CONTRACT.md section 9): ok, how many events it hashed, the head of the
// chain it computed, and the first position where the log and its chain
// disagree.
type Check struct {
	OK bool `json:"ok"`
	// Events is how many events of the log were hashed.
	Events uint64 `json:"events"`
	// Head is the chain computed from the log: its last position and hash.
	Head *HeadView `json:"head"`
	// FirstBadPosition is the first position where the log is not what
	// was chained (null when none).
	FirstBadPosition *uint64 `json:"first_bad_position"`
	// Problem says what is wrong there.
	Problem string `json:"problem,omitempty"`
	// Chained is how many events had a recorded link to compare with.
	Chained uint64 `json:"chained"`
	// HeadsChecked is how many recorded heads matched the computed chain.
	HeadsChecked int `json:"heads_checked"`
}

// HeadView is a chain's head.
type HeadView struct {
	Position uint64 `json:"position"`
	Hash     string `json:"hash"`
}

// Heads are the chain heads recorded in a log: every hash recorded for
// each position (a head recorded twice must say the same twice), and the
// positions of head events that could not be read.
type Heads struct {
	At         map[uint64][]Hash
	Unreadable []uint64
}

// Add reads the head recorded by the event at position with data.
func (h *Heads) Add(position uint64, data []byte) {
	pos, hash, ok := HeadOf(data)
	if !ok {
		h.Unreadable = append(h.Unreadable, position)
		return
	}
	if h.At == nil {
		h.At = map[uint64][]Hash{}
	}
	h.At[pos] = append(h.At[pos], hash)
}

// Checker checks a log, event by event in position order, against what
// was recorded of its chain: each event's link (the read model's, or an
// export's), and the recorded heads, read beforehand.
type Checker struct {
	heads map[uint64][]Hash
	seen  map[uint64]bool // the positions of heads met
	prev  Hash
	res   Check
}

// NewChecker starts a check of a log whose chain starts after prev (zero:
// the log's beginning), with the heads recorded in it.
func NewChecker(prev Hash, heads Heads) *Checker {
	c := &Checker{heads: heads.At, seen: map[uint64]bool{}, prev: prev}
	if c.heads == nil {
		c.heads = map[uint64][]Hash{}
	}
	for _, pos := range heads.Unreadable {
		c.bad(pos, "a recorded head of the chain cannot be read")
	}
	return c
}

func (c *Checker) bad(pos uint64, problem string) {
	if c.res.FirstBadPosition == nil || pos < *c.res.FirstBadPosition {
		c.res.FirstBadPosition = &pos
		c.res.Problem = problem
	}
}

// Event hashes the log's next event. recorded is the link the chain
// recorded for it, nil when it recorded none: the chain has not reached
// it yet, or (beyond, true) it has reached events after it, so the event
// was put in the log after the fact.
func (c *Checker) Event(e Linked, recorded *Hash, beyond bool) {
	h := Link(c.prev, e)
	c.prev = h
	c.res.Events++
	c.res.Head = &HeadView{Position: e.Position, Hash: h.String()}
	switch {
	case recorded != nil:
		c.res.Chained++
		if *recorded != h {
			c.bad(e.Position, "the event, or one before it, is not what was chained")
		}
	case beyond:
		c.bad(e.Position, "an event the chain never recorded")
	}
	if wants, ok := c.heads[e.Position]; ok {
		c.seen[e.Position] = true
		for _, want := range wants {
			if want == h {
				c.res.HeadsChecked++
			} else {
				c.bad(e.Position, "a recorded head of the chain differs from the chain computed up to it")
			}
		}
	}
}

// Missing records that the chain holds an event at position that the log
// does not.
func (c *Checker) Missing(position uint64) {
	c.bad(position, "an event the chain recorded is missing")
}

// Result is the check, once every event was given.
func (c *Checker) Result() Check {
	for pos := range c.heads {
		if !c.seen[pos] {
			c.bad(pos, "a recorded head names an event that is missing")
		}
	}
	c.res.OK = c.res.FirstBadPosition == nil
	return c.res
}
