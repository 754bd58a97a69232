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

	mu     sync.Mutex // guards closed and the wait group's Add
	closed bool
	wg     sync.WaitGroup
}

func newChainHeads(p *Process) *chainHeads {
	ctx, cancel := context.WithCancel(context.Background())
	return &chainHeads{p: p, slots: make(chan struct{}, 4), ctx: ctx, stop: cancel}
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
		if err := h.record(h.ctx, t, pos); err != nil && h.ctx.Err() == nil {
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
	// Once per position: a head recorded again (a redelivery after a
	// crash) would be one more to check, and never a different one.
	recorded, err := h.p.Store.ReadStream(ctx, n)
	if err != nil {
		return err
	}
	for _, r := range recorded {
		if at, _, ok := auditchain.HeadOf(r.Data); ok && at == uint64(pos) {
			return nil
		}
	}
	typ, data, err := h.p.Registry.Encode(audit.ChainHeadRecorded{Position: uint64(pos), Hash: link.String(), At: time.Now().UTC()})
	if err != nil {
		return err
	}
	id := uuid.NewSHA1(headNamespace, []byte(string(t)+"/"+link.String()))
	_, err = h.p.Store.Append(ctx, n, streams.Exactly(streams.Version(len(recorded))), streams.EventData{ID: id, Type: typ, Data: data,
		Metadata: streams.Metadata{Tenant: t, UserID: "atrium"}})
	if errors.Is(err, streams.ErrConflict) {
		// Another head of the tenant was recorded meanwhile (by this
		// instance or another); this one is left to the next.
		h.p.log.Info("audit chain head not recorded: another was, meanwhile", "tenant", string(t), "position", uint64(pos))
		return nil
	}
	return err
}
