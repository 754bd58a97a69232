// Package auditchain is the read model of a tenant's hash chain (table
// audit_chain: each event's hash, position by position), the hashing
// itself, and the check of a log against its chain that GET
// /api/v1/audit/verify and `atrium audit verify` make.
package auditchain

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

//go:embed migrations
var migrations embed.FS

// Name is the read model's name.
const Name = "auditchain"

// Record is told, from within the projection of the event at position,
// that the chain reached a position where its head is to be recorded
// (every HeadEvery events); the projection commits after it returns, so
// the recorder waits for the position before reading the hash there.
type Record func(ctx context.Context, t tenant.ID, position streams.Position)

type projector struct {
	every  uint64
	record Record
}

// lastKey holds, in the batch's Memo, the last link applied in the batch:
// the runner forgets it with the writes it came with when it rolls back.
type lastKey struct{}

type link struct {
	pos  streams.Position
	hash Hash
	seq  uint64 // its place in the chain, 1 for the first event
}

// New returns the chain's projector: record (may be nil) is told every
// `every` links (0: never): at positions every, 2×every… on a store whose
// positions count the tenant's events (JetStream), at every every-th
// event whatever its position on another (KurrentDB).
func New(every uint64, record Record) projections.Projector {
	if record == nil {
		record = func(context.Context, tenant.ID, streams.Position) {}
	}
	return &projector{every: every, record: record}
}

func (*projector) Name() string { return Name }

// EveryEvent: the chain covers the whole log, events of types this
// process cannot decode and events other projectors failed on too.
func (*projector) EveryEvent() {}

// Evidence: the links are what a changed event is found by; rebuilt from
// a changed log they would agree with it.
func (*projector) Evidence() {}

func (*projector) Migrations(d projections.Dialect) (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+string(d))
}

// Apply links every event of the tenant's log, whatever its type.
func (p *projector) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, _ domain.Event) error {
	prev, err := p.prev(ctx, tx, rec.Position)
	if err != nil {
		return err
	}
	l := link{pos: rec.Position, hash: Link(prev.hash, LinkedOf(rec)), seq: prev.seq + 1}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chain (position, hash, seq) VALUES (?, ?, ?)`, int64(l.pos), l.hash.String(), int64(l.seq)); err != nil {
		return fmt.Errorf("auditchain: %w", err)
	}
	if m, ok := tx.(projections.Memo); ok {
		m.Remember(lastKey{}, l)
	}
	if p.every > 0 && l.seq%p.every == 0 {
		p.record(ctx, rec.Stream.Tenant(), rec.Position)
	}
	return nil
}

// prev is the link before pos in the tenant's chain (the zero link for
// its first event): the one just applied in this batch (the usual case,
// no query: the batch applies the log in order, so it is the last before
// pos), else the table's (a batch's first event).
func (p *projector) prev(ctx context.Context, tx projections.Tx, pos streams.Position) (link, error) {
	if m, ok := tx.(projections.Memo); ok {
		if v, ok := m.Recall(lastKey{}); ok {
			if l := v.(link); l.pos < pos {
				return l, nil
			}
		}
	}
	var (
		l    link
		at   int64
		hash string
		seq  sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, `SELECT position, hash, seq FROM audit_chain WHERE position = (SELECT MAX(position) FROM audit_chain WHERE position < ?)`, int64(pos)).Scan(&at, &hash, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return link{}, nil
	}
	if err != nil {
		return link{}, fmt.Errorf("auditchain: %w", err)
	}
	l.pos = streams.Position(at)
	if l.hash, err = ParseHash(hash); err != nil {
		return link{}, err
	}
	if !seq.Valid {
		// A link written before links had their place: count them, once.
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_chain WHERE position <= ?`, at).Scan(&n); err != nil {
			return link{}, fmt.Errorf("auditchain: %w", err)
		}
		seq.Int64 = n
	}
	l.seq = uint64(seq.Int64)
	return l, nil
}

// Stored is one event's link as the read model holds it.
type Stored struct {
	Position uint64
	Hash     Hash
}

// Queries reads the ctx tenant's chain.
type Queries struct{ rs projections.ReadStore }

// NewQueries returns the chain's queries.
func NewQueries(rs projections.ReadStore) *Queries { return &Queries{rs: rs} }

// After returns at most limit links with a position greater than after,
// in position order.
func (q *Queries) After(ctx context.Context, after uint64, limit int) ([]Stored, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Release()
	rows, err := db.QueryContext(ctx, db.SQL.Limit(`SELECT position, hash FROM audit_chain WHERE position > ?`, "position", limit), int64(after))
	if err != nil {
		return nil, fmt.Errorf("auditchain: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var pos int64
		var s string
		if err := rows.Scan(&pos, &s); err != nil {
			return nil, err
		}
		h, err := ParseHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, Stored{Position: uint64(pos), Hash: h})
	}
	return out, rows.Err()
}

// Last returns the position of the chain's last link, 0 when it has none.
func (q *Queries) Last(ctx context.Context) (uint64, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Release()
	var last sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(position) FROM audit_chain`).Scan(&last); err != nil {
		return 0, fmt.Errorf("auditchain: %w", err)
	}
	return uint64(last.Int64), nil
}

// At returns the link at position, and whether the chain has it.
func (q *Queries) At(ctx context.Context, position uint64) (Hash, bool, error) {
	db, err := q.rs.Open(ctx)
	if err != nil {
		return Hash{}, false, err
	}
	defer db.Release()
	var s string
	err = db.QueryRowContext(ctx, `SELECT hash FROM audit_chain WHERE position = ?`, int64(position)).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return Hash{}, false, nil
	}
	if err != nil {
		return Hash{}, false, fmt.Errorf("auditchain: %w", err)
	}
	h, err := ParseHash(s)
	return h, err == nil, err
}
