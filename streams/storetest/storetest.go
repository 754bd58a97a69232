// Package storetest is the conformance suite every streams.Store adapter
// must pass. Run it from the adapter's tests:
//
//	storetest.Run(t, func(t *testing.T) streams.Store { return newStore(t) })
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Run runs every conformance test against stores made by newStore. Each
// subtest gets its own store and provisions its own tenants.
func Run(t *testing.T, newStore func(t *testing.T) streams.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s streams.Store)
	}{
		{"ExpectedVersionRules", testExpectedVersion},
		{"RacingWritersOneWinnerPerVersion", testRace},
		{"MultiEventAppendIsAtomic", testAtomicEvents},
		{"AppendMultiIsAtomicAcrossStreams", testAppendMulti},
		{"RetriedAppendIsNotDuplicated", testRetry},
		{"TenantIsolation", testIsolation},
		{"NoTenantInContext", testNoTenant},
		{"UnprovisionedTenant", testUnprovisioned},
		{"PositionsIncreasePerTenant", testPositions},
		{"MetadataRoundTrips", testMetadata},
		{"ReadTenantPages", testReadTenantPages},
		{"SubscribeRestartsFromCheckpoint", testSubscribe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func provisioned(t *testing.T, s streams.Store, id tenant.ID) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), id), 30*time.Second)
	t.Cleanup(cancel)
	if err := s.Provision(ctx); err != nil {
		t.Fatalf("provision %s: %v", id, err)
	}
	return ctx
}

func name(t *testing.T, tn tenant.ID, agg string) streams.Name {
	t.Helper()
	n, err := streams.NewName(tn, agg, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func events(n int, typ string) []streams.EventData {
	out := make([]streams.EventData, n)
	for i := range out {
		out[i] = streams.EventData{ID: uuid.New(), Type: typ, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	return out
}

func mustAppend(t *testing.T, s streams.Store, ctx context.Context, n streams.Name, exp streams.ExpectedVersion, evs ...streams.EventData) streams.AppendResult {
	t.Helper()
	r, err := s.Append(ctx, n, exp, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", n, err)
	}
	return r
}

func read(t *testing.T, s streams.Store, ctx context.Context, n streams.Name) []streams.Record {
	t.Helper()
	recs, err := s.ReadStream(ctx, n)
	if err != nil {
		t.Fatalf("read %s: %v", n, err)
	}
	return recs
}

func testExpectedVersion(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	if recs := read(t, s, ctx, n); len(recs) != 0 {
		t.Fatalf("new stream has %d events", len(recs))
	}
	tests := []struct {
		name      string
		expected  streams.ExpectedVersion
		withError error
		version   streams.Version
	}{
		{"NoStream on a new stream", streams.NoStream, nil, 1},
		{"NoStream on an existing stream", streams.NoStream, streams.ErrConflict, 1},
		{"Exactly the current version", streams.Exactly(1), nil, 2},
		{"Exactly a stale version", streams.Exactly(1), streams.ErrConflict, 2},
		{"Exactly a future version", streams.Exactly(7), streams.ErrConflict, 2},
		{"Any", streams.Any, nil, 3},
		{"Exactly after Any", streams.Exactly(3), nil, 4},
	}
	for _, tc := range tests {
		r, err := s.Append(ctx, n, tc.expected, events(1, "test.happened.v1")...)
		if !errors.Is(err, tc.withError) {
			t.Fatalf("%s: got error %v, want %v", tc.name, err, tc.withError)
		}
		if err == nil && r.Version != tc.version {
			t.Fatalf("%s: version %d, want %d", tc.name, r.Version, tc.version)
		}
		if got := streams.Version(len(read(t, s, ctx, n))); got != tc.version {
			t.Fatalf("%s: stream holds %d events, want %d", tc.name, got, tc.version)
		}
	}
	for i, r := range read(t, s, ctx, n) {
		if r.Version != streams.Version(i+1) || r.Stream != n {
			t.Fatalf("event %d: version %d stream %s", i, r.Version, r.Stream)
		}
	}
}

func testRace(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	const writers, rounds = 20, 5
	for round := range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		start := make(chan struct{})
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.Append(ctx, n, streams.Exactly(streams.Version(round)), events(1, "test.raced.v1")...)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, streams.ErrConflict):
					conflicts++
				default:
					t.Errorf("append: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 || conflicts != writers-1 {
			t.Fatalf("round %d: %d winners and %d conflicts, want 1 and %d", round, wins, conflicts, writers-1)
		}
	}
	recs := read(t, s, ctx, n)
	if len(recs) != rounds {
		t.Fatalf("stream holds %d events, want %d", len(recs), rounds)
	}
	for i, r := range recs {
		if r.Version != streams.Version(i+1) {
			t.Fatalf("gap: event %d has version %d", i, r.Version)
		}
	}
}

func testAtomicEvents(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	r := mustAppend(t, s, ctx, n, streams.NoStream, events(3, "test.batched.v1")...)
	if r.Version != 3 {
		t.Fatalf("version %d, want 3", r.Version)
	}
	if _, err := s.Append(ctx, n, streams.Exactly(2), events(4, "test.batched.v1")...); !errors.Is(err, streams.ErrConflict) {
		t.Fatalf("stale multi-event append: %v, want ErrConflict", err)
	}
	recs := read(t, s, ctx, n)
	if len(recs) != 3 {
		t.Fatalf("a refused multi-event append left %d events, want 3", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Position != recs[i-1].Position+1 {
			t.Fatalf("events of one append are not contiguous: %d then %d", recs[i-1].Position, recs[i].Position)
		}
	}
	if recs[2].Position != r.Position {
		t.Fatalf("append reported position %d, last event is at %d", r.Position, recs[2].Position)
	}
}

func testAppendMulti(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	a, b := name(t, "acme", "invoice"), name(t, "acme", "counter")
	mustAppend(t, s, ctx, b, streams.NoStream, events(1, "test.counted.v1")...)
	res, err := s.AppendMulti(ctx,
		streams.Append{Stream: a, Expected: streams.NoStream, Events: events(2, "test.multi.v1")},
		streams.Append{Stream: b, Expected: streams.Exactly(1), Events: events(1, "test.counted.v1")},
	)
	if err != nil {
		t.Fatalf("append multi: %v", err)
	}
	if len(res) != 2 || res[0].Version != 2 || res[1].Version != 2 {
		t.Fatalf("results %+v", res)
	}
	// One stale expectation: nothing is written to either stream.
	_, err = s.AppendMulti(ctx,
		streams.Append{Stream: a, Expected: streams.Exactly(2), Events: events(1, "test.multi.v1")},
		streams.Append{Stream: b, Expected: streams.Exactly(1), Events: events(1, "test.counted.v1")},
	)
	if !errors.Is(err, streams.ErrConflict) {
		t.Fatalf("stale append multi: %v, want ErrConflict", err)
	}
	if len(read(t, s, ctx, a)) != 2 || len(read(t, s, ctx, b)) != 2 {
		t.Fatal("a refused multi-stream append wrote something")
	}
}

func testRetry(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	for _, size := range []int{1, 3} {
		n := name(t, "acme", "invoice")
		evs := events(size, "test.retried.v1")
		first := mustAppend(t, s, ctx, n, streams.NoStream, evs...)
		again, err := s.Append(ctx, n, streams.NoStream, evs...)
		if err != nil {
			t.Fatalf("retry of %d events: %v", size, err)
		}
		if again != first {
			t.Fatalf("retry answered %+v, first %+v", again, first)
		}
		if got := len(read(t, s, ctx, n)); got != size {
			t.Fatalf("retry duplicated: %d events, want %d", got, size)
		}
		// Other events at the same stale version still conflict.
		if _, err := s.Append(ctx, n, streams.NoStream, events(1, "test.retried.v1")...); !errors.Is(err, streams.ErrConflict) {
			t.Fatalf("new events at a stale version: %v, want ErrConflict", err)
		}
	}
}

func testIsolation(t *testing.T, s streams.Store) {
	acme := provisioned(t, s, "acme")
	globex := provisioned(t, s, "globex")
	na, ng := name(t, "acme", "invoice"), name(t, "globex", "invoice")
	mustAppend(t, s, acme, na, streams.NoStream, events(2, "test.acme.v1")...)
	mustAppend(t, s, globex, ng, streams.NoStream, events(3, "test.globex.v1")...)

	if _, err := s.ReadStream(acme, ng); !errors.Is(err, streams.ErrTenantMismatch) {
		t.Fatalf("acme reading a globex stream: %v, want ErrTenantMismatch", err)
	}
	if _, err := s.Append(acme, ng, streams.Any, events(1, "test.intrusion.v1")...); !errors.Is(err, streams.ErrTenantMismatch) {
		t.Fatalf("acme appending to a globex stream: %v, want ErrTenantMismatch", err)
	}
	if _, err := s.AppendMulti(acme,
		streams.Append{Stream: na, Expected: streams.Any, Events: events(1, "test.acme.v1")},
		streams.Append{Stream: ng, Expected: streams.Any, Events: events(1, "test.intrusion.v1")},
	); !errors.Is(err, streams.ErrTenantMismatch) {
		t.Fatalf("acme multi-append touching globex: %v, want ErrTenantMismatch", err)
	}
	recs, err := s.ReadTenant(acme, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("acme's log has %d events, want 2", len(recs))
	}
	for _, r := range recs {
		if r.Stream.Tenant() != "acme" || r.Metadata.Tenant != "acme" || r.Type != "test.acme.v1" {
			t.Fatalf("acme's log holds %+v", r)
		}
	}
	if got := len(read(t, s, globex, ng)); got != 3 {
		t.Fatalf("globex stream has %d events, want 3 (nothing of acme's)", got)
	}
}

func testNoTenant(t *testing.T, s streams.Store) {
	provisioned(t, s, "acme")
	ctx := context.Background()
	n := name(t, "acme", "invoice")
	checks := map[string]error{}
	_, checks["Append"] = s.Append(ctx, n, streams.Any, events(1, "test.x.v1")...)
	_, checks["AppendMulti"] = s.AppendMulti(ctx, streams.Append{Stream: n, Expected: streams.Any, Events: events(1, "test.x.v1")})
	_, checks["ReadStream"] = s.ReadStream(ctx, n)
	_, checks["ReadTenant"] = s.ReadTenant(ctx, 0, 10)
	_, checks["Head"] = s.Head(ctx)
	checks["Provision"] = s.Provision(ctx)
	checks["Subscribe"] = s.Subscribe(ctx, 0, func(context.Context, streams.Record) error { return nil })
	for op, err := range checks {
		if !errors.Is(err, tenant.ErrNoTenant) {
			t.Errorf("%s without a tenant: %v, want tenant.ErrNoTenant", op, err)
		}
	}
}

func testUnprovisioned(t *testing.T, s streams.Store) {
	provisioned(t, s, "acme")
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "ghost"), 10*time.Second)
	defer cancel()
	if _, err := s.Append(ctx, name(t, "ghost", "invoice"), streams.Any, events(1, "test.x.v1")...); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("append to an unprovisioned tenant: %v, want ErrUnknownTenant", err)
	}
	if _, err := s.ReadTenant(ctx, 0, 10); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("read an unprovisioned tenant: %v, want ErrUnknownTenant", err)
	}
}

func testPositions(t *testing.T, s streams.Store) {
	acme := provisioned(t, s, "acme")
	globex := provisioned(t, s, "globex")
	var last streams.Position
	for i := range 10 {
		ctx := acme
		if i%3 == 0 {
			mustAppend(t, s, globex, name(t, "globex", "invoice"), streams.NoStream, events(1, "test.x.v1")...)
		}
		r := mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(1+i%2, "test.x.v1")...)
		if r.Position <= last {
			t.Fatalf("position %d after %d", r.Position, last)
		}
		last = r.Position
	}
	head, err := s.Head(acme)
	if err != nil {
		t.Fatal(err)
	}
	if head != last {
		t.Fatalf("head %d, last append at %d", head, last)
	}
	recs, err := s.ReadTenant(acme, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(recs, func(a, b streams.Record) int { return int(a.Position) - int(b.Position) }) {
		t.Fatal("tenant read out of position order")
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Position == recs[i-1].Position {
			t.Fatal("two events share a position")
		}
	}
}

func testMetadata(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	ev := streams.EventData{ID: uuid.New(), Type: "test.described.v1", Data: []byte(`{"a":"é ✓"}`), Metadata: streams.Metadata{
		UserID: "u-1", CorrelationID: "corr-1", CausationID: "cause-1", CommandID: "cmd-1", RequestHash: "abc123",
	}}
	before := time.Now().Add(-time.Second)
	mustAppend(t, s, ctx, n, streams.NoStream, ev)
	recs := read(t, s, ctx, n)
	if len(recs) != 1 {
		t.Fatalf("%d events", len(recs))
	}
	r := recs[0]
	want := ev.Metadata
	want.Tenant = "acme"
	if r.ID != ev.ID || r.Type != ev.Type || string(r.Data) != string(ev.Data) || r.Metadata != want {
		t.Fatalf("read back %+v, wrote %+v", r, ev)
	}
	if r.RecordedAt.Before(before) || r.RecordedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("recorded at %v", r.RecordedAt)
	}
}

func testReadTenantPages(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	const total = 600
	for i := 0; i < total; i += 100 {
		for range 50 {
			mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(2, "test.x.v1")...)
		}
	}
	var all []streams.Record
	var after streams.Position
	for {
		page, err := s.ReadTenant(ctx, after, 173)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 173 {
			t.Fatalf("page of %d, limit 173", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
	if len(all) != total {
		t.Fatalf("paged through %d events, want %d", len(all), total)
	}
}

func testSubscribe(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	for range 5 {
		mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(1, "test.x.v1")...)
	}
	mustAppend(t, s, ctx, n, streams.NoStream, events(2, "test.x.v1")...)

	// First subscriber reads 4 events and stops: its checkpoint is the 4th.
	var seen []streams.Record
	errStop := errors.New("stop")
	err := s.Subscribe(ctx, 0, func(_ context.Context, r streams.Record) error {
		seen = append(seen, r)
		if len(seen) == 4 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("subscribe: %v", err)
	}
	checkpoint := seen[3].Position

	// Restarted from the checkpoint: the rest of the catch-up, then live.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan streams.Record, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(sctx, checkpoint, func(_ context.Context, r streams.Record) error {
			got <- r
			return nil
		})
	}()
	for range 3 {
		mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(1, "test.live.v1")...)
	}
	all, err := s.ReadTenant(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []streams.Position
	for _, r := range all {
		if r.Position > checkpoint {
			want = append(want, r.Position)
		}
	}
	var positions []streams.Position
	timeout := time.After(20 * time.Second)
	for len(positions) < len(want) {
		select {
		case r := <-got:
			positions = append(positions, r.Position)
		case <-timeout:
			t.Fatalf("after restart saw %v, want %v", positions, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe ended with %v, want context.Canceled", err)
	}
	close(got)
	for r := range got {
		positions = append(positions, r.Position)
	}
	if !slices.Equal(positions, want) {
		t.Fatalf("after restart saw %v, want each of %v exactly once", positions, want)
	}
}
