package assembly

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/audit"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/streams"
)

// DefaultAuditHeadEvery is how many events of a tenant's log go between
// two recorded heads of its hash chain, unless Config says.
const DefaultAuditHeadEvery = 1000

// headNamespace derives a recorded head's event id from its tenant and
// position: recording the same head again (a rebuild of the chain, a
// retried append) is the same event.
var headNamespace = uuid.MustParse("5b0f3c3e-7c53-4c55-8f53-0a5e1b3b7f21")

// chainHeads records the heads of the tenants' hash chains: told by the
// chain's projector of a position (from within its transaction), it waits
// until the position is committed, reads the chain's link there and
// appends a ChainHeadRecorded to the tenant's "<tenant>.auditchain-heads"
// stream, unless a head of that position is there already. A few heads
// are recorded at once, each on its own goroutine, so that one tenant's
// slow projection delays no other's; when more are asked, the new ones
// are dropped (logged): the next head covers their events too.
type chainHeads struct {
	p     *Process
	slots chan struct{}
	ctx   context.Context
	stop  context.CancelFunc

	mu     sync.Mutex // guards closed, the wait group's Add, and last
	closed bool
	wg     sync.WaitGroup
	// heads is, per tenant, the positions its heads stream records and how
	// many events it holds: read from the stream once, then kept.
	heads map[tenant.ID]*recordedHeads
}

type recordedHeads struct {
	at      map[streams.Position]bool
	version streams.Version
}

func newChainHeads(p *Process) *chainHeads {
	ctx, cancel := context.WithCancel(context.Background())
	return &chainHeads{p: p, slots: make(chan struct{}, 4), ctx: ctx, stop: cancel, heads: map[tenant.ID]*recordedHeads{}}
}

// ask is the projector's Record: it never blocks the projection.
func (h *chainHeads) ask(_ context.Context, t tenant.ID, pos streams.Position) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return // the process is closing: the next start's heads cover these events
	}
	select {
	case h.slots <- struct{}{}:
	default:
		h.p.log.Warn("audit chain head not recorded: too many being recorded", "tenant", string(t), "position", uint64(pos))
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer func() { <-h.slots }()
		// A read-only tenant's log has ended: its archive holds its chain.
		if err := h.record(h.ctx, t, pos); err != nil && h.ctx.Err() == nil && !errors.Is(err, errReadOnly) {
			h.p.log.Error("recording an audit chain head", "tenant", string(t), "position", uint64(pos), "err", err)
		}
	}()
}

// close stops the recorder and waits for it; heads not recorded yet are
// left to the next ones.
func (h *chainHeads) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.stop()
	h.wg.Wait()
}

func (h *chainHeads) record(ctx context.Context, t tenant.ID, pos streams.Position) error {
	ctx = tenant.With(ctx, t)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := h.p.Runner.WaitFor(wctx, pos)
	cancel()
	if err != nil {
		return err
	}
	link, ok, err := auditchain.NewQueries(h.p.Reads).At(ctx, uint64(pos))
	if err != nil || !ok {
		return err
	}
	n, err := streams.NewName(t, audit.HeadCategory, audit.HeadStreamID)
	if err != nil {
		return err
	}
	typ, data, err := h.p.Registry.Encode(audit.ChainHeadRecorded{Position: uint64(pos), Hash: link.String(), At: time.Now().UTC()})
	if err != nil {
		return err
	}
	id := uuid.NewSHA1(headNamespace, []byte(string(t)+"/"+link.String()))
	// Once per position: a head recorded again (a redelivery after a
	// crash) would be one more to check, and never a different one. Two
	// heads of a tenant recorded at once conflict: the loser reads the
	// stream again and tries once more.
	for attempt := 0; ; attempt++ {
		version, done, err := h.recorded(ctx, t, n, pos)
		if err != nil || done {
			return err
		}
		res, err := h.p.writes().Append(ctx, n, streams.Exactly(version), streams.EventData{ID: id, Type: typ, Data: data,
			Metadata: streams.Metadata{Tenant: t, UserID: "atrium"}})
		h.mu.Lock()
		if r := h.heads[t]; err == nil && r != nil && r.version == version {
			r.at[pos], r.version = true, res.Version
		} else {
			delete(h.heads, t) // read again next time
		}
		h.mu.Unlock()
		if !errors.Is(err, streams.ErrConflict) || attempt == 2 {
			return err
		}
	}
}

// recorded reports whether the tenant's heads stream records a head at
// pos, and how many events it holds: kept, or read from the stream the
// first time (and after a conflict).
func (h *chainHeads) recorded(ctx context.Context, t tenant.ID, n streams.Name, pos streams.Position) (streams.Version, bool, error) {
	h.mu.Lock()
	r := h.heads[t]
	h.mu.Unlock()
	if r == nil {
		recs, err := h.p.Store.ReadStream(ctx, n)
		if err != nil {
			return 0, false, err
		}
		r = &recordedHeads{at: map[streams.Position]bool{}, version: streams.Version(len(recs))}
		for _, rec := range recs {
			if at, _, ok := auditchain.HeadOf(rec.Data); ok {
				r.at[streams.Position(at)] = true
			}
		}
		h.mu.Lock()
		h.heads[t] = r
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return r.version, r.at[pos], nil
}
