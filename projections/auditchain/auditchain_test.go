package auditchain_test

import (
	"context"
	"sync"
	"testing"

	"github.com/atrium-platform/atrium/adapters/readstores"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/projections/projectiontest"
	"github.com/atrium-platform/atrium/streams"
)

// TestHeadsEveryNLinks: a head is asked for every n links of the chain,
// whatever the positions (on KurrentDB they are log offsets, far apart),
// within a batch, across batches, and across links written before links
// had their place in the chain.
func TestHeadsEveryNLinks(t *testing.T) {
	readstores.Each(t, func(t *testing.T) {
		reads := readstores.Open(t)
		ctx := tenant.With(context.Background(), "acme")
		var mu sync.Mutex
		var asked []streams.Position
		chain := auditchain.New(3, func(_ context.Context, _ tenant.ID, p streams.Position) {
			mu.Lock()
			asked = append(asked, p)
			mu.Unlock()
		})
		ps := []projections.Projector{chain}
		if err := reads.Migrate(ctx, ps...); err != nil {
			t.Fatal(err)
		}
		reg := streams.NewRegistry()
		streams.Register(reg, expense.Drafted{})
		log := projectiontest.NewLog("acme", reg)
		var recs []streams.Record
		for i := range 8 {
			r := log.Append(t, log.Stream(t, "expense", "e"), expense.Drafted{ExpenseID: "e", Owner: "o", Category: "meals", Amount: money.New(1, "EUR"), SpentOn: "2026-11-20"})
			r.Position = streams.Position(4096 + 700*i + 13*i*i) // offsets, not counts
			recs = append(recs, r)
		}
		db, err := reads.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Release()
		projectiontest.Apply(t, db, reg, ps, recs[:4]...)
		// Links written before they had their place: the next one counts them.
		if _, err := db.ExecContext(ctx, `UPDATE audit_chain SET seq = NULL`); err != nil {
			t.Fatal(err)
		}
		projectiontest.Apply(t, db, reg, ps, recs[4:]...)
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 2 || asked[0] != recs[2].Position || asked[1] != recs[5].Position {
			t.Fatalf("heads asked at %v, want at the 3rd and 6th links, %d and %d", asked, recs[2].Position, recs[5].Position)
		}
		links, err := auditchain.NewQueries(reads).After(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var prev auditchain.Hash
		for i, rec := range recs {
			prev = auditchain.Link(prev, auditchain.LinkedOf(rec))
			if links[i].Position != uint64(rec.Position) || links[i].Hash != prev {
				t.Fatalf("link %d: %+v, want %d %s", i, links[i], rec.Position, prev)
			}
		}
	})
}
