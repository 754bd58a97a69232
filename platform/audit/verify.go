package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	domainaudit "github.com/atrium-platform/atrium/domain/audit"
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
	sign  Signer
}

// Signer signs an export's last line, and names its key (nil: exports
// are not signed).
type Signer func(msg []byte) (keyID string, sig []byte, err error)

// NewVerifier returns a verifier of the logs of store against the chains
// chain reads, signing exports with sign.
func NewVerifier(store streams.Store, chain *auditchain.Queries, sign Signer) *Verifier {
	return &Verifier{store: store, chain: chain, sign: sign}
}

// each calls fn for every event of the ctx tenant after position after.
func (v *Verifier) each(ctx context.Context, after streams.Position, fn func(streams.Record) error) error {
	return each(ctx, v.store, after, fn)
}

// heads reads the chain heads recorded in the ctx tenant's log: the
// events of its "<tenant>.auditchain-heads" stream, read on their own
// rather than by a pass over the whole log.
func (v *Verifier) heads(ctx context.Context) (auditchain.Heads, error) {
	var heads auditchain.Heads
	t, err := tenant.From(ctx)
	if err != nil {
		return heads, err
	}
	n, err := streams.NewName(t, domainaudit.HeadCategory, domainaudit.HeadStreamID)
	if err != nil {
		return heads, err
	}
	recs, err := v.store.ReadStream(ctx, n)
	if err != nil {
		return heads, err
	}
	for _, r := range recs {
		if r.Type == auditchain.HeadType {
			heads.Add(uint64(r.Position), r.Data)
		}
	}
	return heads, nil
}

// links reads the chain's links in position order, a page at a time, up
// to bound: the chain's last link when the check began (links made while
// it reads are of events it may not have read).
type links struct {
	ctx   context.Context
	chain *auditchain.Queries
	bound uint64
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
		l.done = len(got) < page
		if len(got) > 0 {
			l.after = got[len(got)-1].Position
		}
		for i, s := range got {
			if s.Position > l.bound {
				got, l.done = got[:i], true
				break
			}
		}
		l.buf = got
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
	bound, err := v.chain.Last(ctx)
	if err != nil {
		return auditchain.Check{}, err
	}
	heads, err := v.heads(ctx)
	if err != nil {
		return auditchain.Check{}, err
	}
	c := auditchain.NewChecker(auditchain.Hash{}, heads)
	ls := &links{ctx: ctx, chain: v.chain, bound: bound}
	var last uint64
	err = v.each(ctx, 0, func(r streams.Record) error {
		pos := uint64(r.Position)
		last = pos
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
	// Links past the log's last event (within the bound): events removed
	// from its end.
	for {
		l, ok, err := ls.peek()
		if err != nil {
			return auditchain.Check{}, err
		}
		if !ok {
			break
		}
		if l.Position > last {
			c.Missing(l.Position)
		}
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

// ExportTrailer is an export's last line: how many events it holds and
// the chain's head at its last one, signed by the platform (over the
// header's tenant and prev_hash too) with a key its
// /.well-known/jwks.json publishes. An export without it was cut short;
// one whose signature does not check was not written by the platform as
// it is.
type ExportTrailer struct {
	End       bool   `json:"end"`
	Events    uint64 `json:"events"`
	Position  uint64 `json:"last_position"`
	Hash      string `json:"last_hash"`
	KeyID     string `json:"key_id,omitempty"`
	Signature string `json:"signature,omitempty"` // Ed25519, base64url
}

// signed is what an export's signature covers.
func signed(tenantID, prevHash string, t ExportTrailer) []byte {
	return fmt.Appendf(nil, "%s\ntenant=%s\nprev_hash=%s\nevents=%d\nlast_position=%d\nlast_hash=%s\n",
		ExportFormat, tenantID, prevHash, t.Events, t.Position, t.Hash)
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
	Metadata   auditchain.Meta `json:"metadata"`
	Hash       string          `json:"hash"`
}

// ErrChainBehind is returned by Export when the chain has no link for the
// event before the export's first: its prev_hash is not known yet.
var ErrChainBehind = errors.New("audit: the chain has not reached the start of the export yet")

// ExportStart is where an export begins: after the event at Before (0:
// the log's start), whose link is PrevHash.
type ExportStart struct {
	From     time.Time
	Before   uint64
	PrevHash auditchain.Hash
}

// StartExport finds where an export of the events recorded from from
// begins (zero: the log's start): ErrChainBehind when the chain has no
// link for the event before it yet. Asked before an export is answered,
// whose status line goes out first.
func (v *Verifier) StartExport(ctx context.Context, from time.Time) (ExportStart, error) {
	s := ExportStart{From: from}
	if err := allow(ctx, Roles()); err != nil || from.IsZero() {
		return s, err
	}
	errFound := errors.New("found")
	err := v.each(ctx, 0, func(r streams.Record) error {
		if !r.RecordedAt.Before(from) {
			return errFound
		}
		s.Before = uint64(r.Position)
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return s, err
	}
	if s.Before == 0 {
		return s, nil
	}
	link, ok, err := v.chain.At(ctx, s.Before)
	if err == nil && !ok {
		err = ErrChainBehind
	}
	s.PrevHash = link
	return s, err
}

// Export writes an export of the ctx tenant's log (GET
// /api/v1/audit/export): header, then every event after start, in order,
// up to the last recorded at or before to (zero: no bound) and no further
// than the chain's last link when it began (every event it holds is
// linked, and its signature vouches for them all), each with its link,
// then the signed trailer.
func (v *Verifier) Export(ctx context.Context, start ExportStart, to time.Time, header func(ExportHeader) error, line func(ExportLine) error, trailer func(ExportTrailer) error) error {
	if err := allow(ctx, Roles()); err != nil {
		return err
	}
	t, _ := tenant.From(ctx)
	bound, err := v.chain.Last(ctx)
	if err != nil {
		return err
	}
	prevHash := start.PrevHash.String()
	if err := header(ExportHeader{Format: ExportFormat, Tenant: string(t), From: start.From, To: to, PrevHash: prevHash}); err != nil {
		return err
	}
	ls := &links{ctx: ctx, chain: v.chain, bound: bound, after: start.Before}
	var tr ExportTrailer
	errStop := errors.New("stop")
	err = v.each(ctx, streams.Position(start.Before), func(r streams.Record) error {
		pos := uint64(r.Position)
		if (!to.IsZero() && r.RecordedAt.After(to)) || pos > bound {
			return errStop
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
		tr.Events++
		tr.Position, tr.Hash = pos, hash
		return line(ExportLine{Position: pos, ID: lk.ID, Stream: lk.Stream, Type: lk.Type, Version: lk.Version,
			RecordedAt: lk.RecordedAt, Data: json.RawMessage(lk.Data), Metadata: lk.Metadata, Hash: hash})
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	tr.End = true
	if v.sign != nil {
		kid, sig, err := v.sign(signed(string(t), prevHash, tr))
		if err != nil {
			return err
		}
		tr.KeyID, tr.Signature = kid, base64.RawURLEncoding.EncodeToString(sig)
	}
	return trailer(tr)
}

// ExportCheck is what an offline check of an export found.
type ExportCheck struct {
	Header ExportHeader `json:"header"`
	auditchain.Check
	// SignedBy names the platform's key the export's signature checked
	// against; empty when no keys were given.
	SignedBy string `json:"signed_by,omitempty"`
}

// ErrBadSignature: the export's signature does not check against the keys
// given: it is not what the platform wrote.
var ErrBadSignature = errors.New("the export's signature does not check against the platform's keys: it is not what the platform wrote")

// VerifyExport checks an export offline: the chain recomputed from its
// header's prev_hash over every event, against each line's link and the
// heads recorded in it (those naming an event of the export), and its
// trailer, without which the export was cut short, whose hash must be the
// chain's head. With keys (the platform's /.well-known/jwks.json, by key
// id) the trailer's signature must check: anyone can recompute a chain
// over changed events, no one but the platform can sign it. An export
// whose events carry no link at all proves nothing and is refused.
func VerifyExport(r io.ReadSeeker, keys map[string]ed25519.PublicKey) (ExportCheck, error) {
	var hdr ExportHeader
	var end *ExportTrailer
	lines := func(fn func(ExportLine) error) error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return err
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		n := 0
		for sc.Scan() {
			n++
			if end != nil {
				return fmt.Errorf("line %d: after the export's last line", n)
			}
			if n == 1 {
				if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Format != ExportFormat {
					return fmt.Errorf("line 1 is not the header of an %s export", ExportFormat)
				}
				continue
			}
			if bytes.HasPrefix(sc.Bytes(), []byte(`{"end":`)) {
				var tr ExportTrailer
				if err := json.Unmarshal(sc.Bytes(), &tr); err != nil || !tr.End {
					return fmt.Errorf("line %d: not the export's last line", n)
				}
				end = &tr
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
		if end == nil {
			return errors.New("the export has no last line: it was cut short")
		}
		return nil
	}
	// The positions of the export, then the heads naming one of them.
	first, last := uint64(0), uint64(0)
	var recorded auditchain.Heads
	err := lines(func(l ExportLine) error {
		if first == 0 {
			first = l.Position
		}
		last = l.Position
		if l.Type == auditchain.HeadType {
			recorded.Add(l.Position, l.Data)
		}
		return nil
	})
	if err != nil {
		return ExportCheck{Header: hdr}, err
	}
	heads := auditchain.Heads{Unreadable: recorded.Unreadable, At: map[uint64][]auditchain.Hash{}}
	for pos, hs := range recorded.At {
		if pos >= first && pos <= last {
			heads.At[pos] = hs
		}
	}
	prev, err := auditchain.ParseHash(hdr.PrevHash)
	if err != nil {
		return ExportCheck{Header: hdr}, err
	}
	c := auditchain.NewChecker(prev, heads)
	end = nil
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
	if err != nil {
		return ExportCheck{Header: hdr}, err
	}
	res := ExportCheck{Header: hdr, Check: c.Result()}
	head := ""
	if res.Head != nil {
		head = res.Head.Hash
	}
	switch {
	case end.Events != res.Events || (res.Events > 0 && end.Position != last):
		return res, fmt.Errorf("the export's last line counts %d events to position %d; it holds %d to position %d", end.Events, end.Position, res.Events, last)
	case !res.OK:
		return res, nil // where it breaks, as the check says
	case res.Events > 0 && res.Chained == 0:
		return res, errors.New("no event of the export carries a link of the chain: it proves nothing")
	case res.Events > 0 && end.Hash != head:
		return res, fmt.Errorf("the export's last line names the head %s; its events make %s", end.Hash, head)
	}
	if keys == nil {
		return res, nil
	}
	key, ok := keys[end.KeyID]
	sig, err := base64.RawURLEncoding.DecodeString(end.Signature)
	if !ok || err != nil || !ed25519.Verify(key, signed(hdr.Tenant, hdr.PrevHash, *end), sig) {
		return res, ErrBadSignature
	}
	res.SignedBy = end.KeyID
	return res, nil
}
