package assembly

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/memberlist"
)

// turn is one tenant's turn at a quota: what it counts is counted and
// written while its holder has it.
type turn chan struct{}

// take waits for t's turn of turns (a sync.Map of tenant.ID to turn), with
// the request's own turn of the tenant's work given up meanwhile (waiting
// needs no CPU), then runs then, which must return nil for the turn to be
// kept: the caller gives it back with the release returned.
func take(ctx context.Context, turns *sync.Map, t tenant.ID, then func() error) (release func(), err error) {
	v, _ := turns.LoadOrStore(t, make(turn, 1))
	tn := v.(turn)
	release = func() { <-tn }
	held := false
	err = atriumhttp.Waiting(ctx, func() error {
		select {
		case tn <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := then(); err != nil {
			release()
			return err
		}
		held = true
		return nil
	})
	if err != nil {
		// The turn was taken, but the request's own turn of the tenant's
		// work was not given back: the quota's turn goes too.
		if held {
			release()
		}
		return nil, err
	}
	return release, nil
}

// checkSeats refuses a membership of t past its plan's seats (403
// quota_exceeded, field seats), before anything of it is written. Within
// this process one membership of a tenant is checked and written at a
// time (the seat is held until release): the members are counted in t's
// members list once it has projected t's log as far as it reaches then
// (for at most 2 s), so the one before is counted. Two instances adding a
// member of one tenant at the same moment may both take its last seat.
func (p *Process) checkSeats(ctx context.Context, t tenant.ID) (release func(), err error) {
	plan, ok := p.Catalog.PlanOf(t)
	if !ok || plan.Limits.Seats <= 0 {
		return func() {}, nil
	}
	tctx := tenant.With(ctx, t)
	release, err = take(ctx, &p.seats, t, func() error {
		if p.Runner == nil {
			return nil
		}
		head, err := p.Store.Head(tctx)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(tctx, 2*time.Second)
		defer cancel()
		return p.Runner.WaitFor(wctx, head)
	})
	if err != nil {
		return nil, err
	}
	n, err := memberlist.NewQueries(p.Reads).Seats(tctx)
	if err != nil {
		release()
		return nil, err
	}
	if n >= plan.Limits.Seats {
		release()
		return nil, &domain.Error{Kind: domain.Forbidden, Code: "quota_exceeded", Field: "seats",
			Message: fmt.Sprintf("the tenant's plan (%s) allows %d members", plan.Name, plan.Limits.Seats)}
	}
	return release, nil
}

// quotaDocuments holds each tenant to its plan's document bytes: a Put
// that would take the tenant's documents past them is refused (403
// quota_exceeded, field document_bytes) before anything is stored. The
// tenant's documents are listed and their sizes added at each such Put,
// one Put of a tenant at a time within this process (two instances
// storing at the same moment may both pass the limit). An object replaced
// under its own key counts once; the receipt a claim's new one replaces
// is deleted only after the new one is recorded, so both count until then.
type quotaDocuments struct {
	documents.Store
	p *Process
}

func (q quotaDocuments) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) (documents.Object, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return documents.Object{}, err
	}
	// An upload under way when its tenant was made read-only stores
	// nothing: the archive lists the documents as they stand.
	if err := q.p.writable(t); err != nil {
		return documents.Object{}, err
	}
	plan, ok := q.p.Catalog.PlanOf(t)
	if !ok || plan.Limits.DocumentBytes <= 0 {
		return q.Store.Put(ctx, key, contentType, r, size)
	}
	release, err := take(ctx, &q.p.docTurns, t, func() error { return nil })
	if err != nil {
		return documents.Object{}, err
	}
	defer release()
	used, err := documentBytes(ctx, q.Store, key)
	if err != nil {
		return documents.Object{}, err
	}
	if used+size > plan.Limits.DocumentBytes {
		return documents.Object{}, &domain.Error{Kind: domain.Forbidden, Code: "quota_exceeded", Field: "document_bytes",
			Message: fmt.Sprintf("the tenant's plan (%s) allows %d bytes of documents", plan.Name, plan.Limits.DocumentBytes)}
	}
	return q.Store.Put(ctx, key, contentType, r, size)
}

// documentBytes adds up the sizes of the ctx tenant's documents, but the
// one under key except.
func documentBytes(ctx context.Context, store documents.Store, except string) (int64, error) {
	objs, err := store.List(ctx, "")
	if err != nil {
		return 0, err
	}
	var used int64
	for _, o := range objs {
		if o.Key != except {
			used += o.Size
		}
	}
	return used, nil
}
