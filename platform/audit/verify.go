package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/streams"
)

// page is how many events (and links) a check or an export reads at once.
const page = 1000

// Verifier checks the ctx tenant's log, as the event store holds it,
// against its hash chain, and exports the log with its links.
type Verifier struct {
	store streams.Store
	chain *auditchain.Queries
}

// NewVerifier returns a verifier of the logs of store against the chains
// chain reads.
func NewVerifier(store streams.Store, chain *auditchain.Queries) *Verifier {
	return &Verifier{store: store, chain: chain}
}

// each calls fn for every event of the ctx tenant after position after, in
// order, a page at a time.
func (v *Verifier) each(ctx context.Context, after streams.Position, fn func(streams.Record) error) error {
	for {
		recs, err := v.store.ReadTenant(ctx, after, page)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < page {
			return nil
		}
		after = recs[len(recs)-1].Position
	}
}

// heads reads the chain heads recorded in the ctx tenant's log.
func (v *Verifier) heads(ctx context.Context) (map[uint64]auditchain.Hash, error) {
	heads := map[uint64]auditchain.Hash{}
	err := v.each(ctx, 0, func(r streams.Record) error {
		if r.Type == auditchain.HeadType {
			if pos, h, ok := auditchain.HeadOf(r.Data); ok {
				heads[pos] = h
			}
		}
		return nil
	})
	return heads, err
}

// links reads the chain's links in position order, a page at a time.
type links struct {
	ctx   context.Context
	chain *auditchain.Queries
	buf   []auditchain.Stored
	after uint64
	done  bool
}

// peek is the next link, if any.
func (l *links) peek() (auditchain.Stored, bool, error) {
	if len(l.buf) == 0 && !l.done {
		got, err := l.chain.After(l.ctx, l.after, page)
		if err != nil {
			return auditchain.Stored{}, false, err
		}
		l.buf, l.done = got, len(got) < page
		if len(got) > 0 {
			l.after = got[len(got)-1].Position
		}
	}
	if len(l.buf) == 0 {
		return auditchain.Stored{}, false, nil
	}
	return l.buf[0], true, nil
}

func (l *links) next() { l.buf = l.buf[1:] }

// Verify recomputes the ctx tenant's chain from its events in the store
// and compares it with the links the chain's read model recorded and the
// heads recorded in the log (GET /api/v1/audit/verify). Events newer than
// the read model are hashed but have no link to compare with yet.
func (v *Verifier) Verify(ctx context.Context) (auditchain.Check, error) {
	if err := allow(ctx, Roles()); err != nil {
		return auditchain.Check{}, err
	}
	heads, err := v.heads(ctx)
	if err != nil {
		return auditchain.Check{}, err
	}
	c := auditchain.NewChecker(auditchain.Hash{}, heads)
	ls := &links{ctx: ctx, chain: v.chain}
	err = v.each(ctx, 0, func(r streams.Record) error {
		pos := uint64(r.Position)
		for {
			l, ok, err := ls.peek()
			if err != nil {
				return err
			}
			if !ok || l.Position >= pos {
				break
			}
			c.Missing(l.Position)
			ls.next()
		}
		l, ok, err := ls.peek()
		if err != nil {
			return err
		}
		if ok && l.Position == pos {
			c.Event(auditchain.LinkedOf(r), &l.Hash, false)
			ls.next()
			return nil
		}
		c.Event(auditchain.LinkedOf(r), nil, ok)
		return nil
	})
	if err != nil {
		return auditchain.Check{}, err
	}
	// Links past the log's last event: events removed from its end.
	for {
		l, ok, err := ls.peek()
		if err != nil {
			return auditchain.Check{}, err
		}
		if !ok {
			break
		}
		c.Missing(l.Position)
		ls.next()
	}
	return c.Result(), nil
}

// ExportHeader is the first line of an export: whose log it is, from
// where, and the hash the chain had before its first event.
type ExportHeader struct {
	Format   string    `json:"format"` // "atrium.audit.export.v1"
	Tenant   string    `json:"tenant"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	PrevHash string    `json:"prev_hash"`
}

// ExportFormat names the export's format and version.
const ExportFormat = "atrium.audit.export.v1"

// ExportLine is an event of an export: all that its link covers, and the
// link the chain recorded for it (empty when the chain had not reached it).
type ExportLine struct {
	Position   uint64          `json:"position"`
	ID         string          `json:"id"`
	Stream     string          `json:"stream"`
	Type       string          `json:"type"`
	Version    uint64          `json:"version"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
	Hash       string          `json:"hash"`
}

// Export calls header once, then line for every event of the ctx tenant
// recorded from from to to (zero: no bound), in order, each with its
// recorded link (GET /api/v1/audit/export).
func (v *Verifier) Export(ctx context.Context, from, to time.Time, header func(ExportHeader) error, line func(ExportLine) error) error {
	if err := allow(ctx, Roles()); err != nil {
		return err
	}
	t, _ := tenant.From(ctx)
	ls := &links{ctx: ctx, chain: v.chain}
	started := false
	var last uint64
	err := v.each(ctx, 0, func(r streams.Record) error {
		pos := uint64(r.Position)
		if (!from.IsZero() && r.RecordedAt.Before(from)) || (!to.IsZero() && r.RecordedAt.After(to)) {
			last = pos
			return nil
		}
		if !started {
			started = true
			prev := auditchain.Hash{}
			if last > 0 {
				h, ok, err := v.chain.At(ctx, last)
				if err != nil {
					return err
				}
				if ok {
					prev = h
				}
			}
			ls.after = last
			if err := header(ExportHeader{Format: ExportFormat, Tenant: string(t), From: from, To: to, PrevHash: prev.String()}); err != nil {
				return err
			}
		}
		var hash string
		for {
			l, ok, err := ls.peek()
			if err != nil {
				return err
			}
			if !ok || l.Position > pos {
				break
			}
			if l.Position == pos {
				hash = l.Hash.String()
			}
			ls.next()
		}
		lk := auditchain.LinkedOf(r)
		return line(ExportLine{Position: pos, ID: lk.ID, Stream: lk.Stream, Type: lk.Type, Version: lk.Version,
			RecordedAt: lk.RecordedAt, Data: json.RawMessage(lk.Data), Metadata: json.RawMessage(lk.Metadata), Hash: hash})
	})
	if err == nil && !started {
		err = header(ExportHeader{Format: ExportFormat, Tenant: string(t), From: from, To: to, PrevHash: auditchain.Hash{}.String()})
	}
	return err
}

// VerifyExport checks an export offline: the chain recomputed from its
// first line's prev_hash over every event, against each line's link and
// the heads recorded in it (those naming an event of the export).
func VerifyExport(r io.ReadSeeker) (ExportHeader, auditchain.Check, error) {
	var hdr ExportHeader
	lines := func(fn func(ExportLine) error) error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return err
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			if n == 1 {
				if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Format != ExportFormat {
					return fmt.Errorf("line 1 is not the header of an %s export", ExportFormat)
				}
				continue
			}
			var l ExportLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("the export is empty")
		}
		return nil
	}
	// The positions of the export, then the heads naming one of them.
	first, last := uint64(0), uint64(0)
	recorded := map[uint64]auditchain.Hash{}
	err := lines(func(l ExportLine) error {
		if first == 0 {
			first = l.Position
		}
		last = l.Position
		if l.Type == auditchain.HeadType {
			if pos, h, ok := auditchain.HeadOf(l.Data); ok {
				recorded[pos] = h
			}
		}
		return nil
	})
	if err != nil {
		return hdr, auditchain.Check{}, err
	}
	heads := map[uint64]auditchain.Hash{}
	for pos, h := range recorded {
		if pos >= first && pos <= last {
			heads[pos] = h
		}
	}
	prev, err := auditchain.ParseHash(hdr.PrevHash)
	if err != nil {
		return hdr, auditchain.Check{}, err
	}
	c := auditchain.NewChecker(prev, heads)
	err = lines(func(l ExportLine) error {
		e := auditchain.Linked{ID: l.ID, Stream: l.Stream, Type: l.Type, Version: l.Version, Position: l.Position,
			RecordedAt: l.RecordedAt, Data: l.Data, Metadata: l.Metadata}
		if l.Hash == "" {
			c.Event(e, nil, false)
			return nil
		}
		h, err := auditchain.ParseHash(l.Hash)
		if err != nil {
			return fmt.Errorf("position %d: %w", l.Position, err)
		}
		c.Event(e, &h, false)
		return nil
	})
	return hdr, c.Result(), err
}
