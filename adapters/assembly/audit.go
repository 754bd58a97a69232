package assembly

import (
	"context"
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
// stream. One goroutine does it for every tenant, in the order asked; when
// more are asked than it keeps up with, the newest wait and the oldest
// are dropped: the next head will cover them.
type chainHeads struct {
	p     *Process
	queue chan chainHead
	stop  context.CancelFunc
	done  chan struct{}
	once  sync.Once
}

type chainHead struct {
	t   tenant.ID
	pos streams.Position
}

func newChainHeads(p *Process) *chainHeads {
	return &chainHeads{p: p, queue: make(chan chainHead, 256), done: make(chan struct{})}
}

// ask is the projector's Record: it never blocks the projection.
func (h *chainHeads) ask(_ context.Context, t tenant.ID, pos streams.Position) {
	h.once.Do(h.start)
	select {
	case h.queue <- chainHead{t: t, pos: pos}:
	default:
		h.p.log.Warn("audit chain head not recorded: too many waiting", "tenant", string(t), "position", uint64(pos))
	}
}

func (h *chainHeads) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() {
		defer close(h.done)
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-h.queue:
				if err := h.record(ctx, c); err != nil && ctx.Err() == nil {
					h.p.log.Error("recording an audit chain head", "tenant", string(c.t), "position", uint64(c.pos), "err", err)
				}
			}
		}
	}()
}

// close stops the recorder; heads still waiting are not recorded (the
// next ones cover them).
func (h *chainHeads) close() {
	h.once.Do(func() { close(h.done) }) // never started
	if h.stop != nil {
		h.stop()
	}
	<-h.done
}

func (h *chainHeads) record(ctx context.Context, c chainHead) error {
	ctx = tenant.With(ctx, c.t)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := h.p.Runner.WaitFor(wctx, c.pos)
	cancel()
	if err != nil {
		return err
	}
	link, ok, err := auditchain.NewQueries(h.p.Reads).At(ctx, uint64(c.pos))
	if err != nil || !ok {
		return err // not ok: the chain was reset meanwhile (a rebuild); it asks again
	}
	typ, data, err := h.p.Registry.Encode(audit.ChainHeadRecorded{Position: uint64(c.pos), Hash: link.String(), At: time.Now().UTC()})
	if err != nil {
		return err
	}
	n, err := streams.NewName(c.t, audit.HeadCategory, audit.HeadStreamID)
	if err != nil {
		return err
	}
	id := uuid.NewSHA1(headNamespace, []byte(string(c.t)+"/"+link.String()))
	_, err = h.p.Store.Append(ctx, n, streams.Any, streams.EventData{ID: id, Type: typ, Data: data,
		Metadata: streams.Metadata{Tenant: c.t, UserID: "atrium"}})
	return err
}
