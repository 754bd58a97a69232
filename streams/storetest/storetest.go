// Package storetest is the conformance suite every streams.Store adapter
// must pass. Run it from the adapter's tests:
//
//	storetest.Run(t, func(t *testing.T) streams.Store { return newStore(t) })
//
// Every subtest asks newStore for its own store and provisions the tenants
// it uses, so newStore may return stores sharing one server as long as
// tenants are not shared between stores (or it returns a fresh server each
// time). Subtests run in parallel.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) streams.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s streams.Store)
	}{
		{"ExpectedVersionRules", testExpectedVersion},
		{"RacingWritersOneWinnerPerVersion", func(t *testing.T, s streams.Store) { testRace(t, s, 1) }},
		{"RacingMultiEventWritersOneWinnerPerVersion", func(t *testing.T, s streams.Store) { testRace(t, s, 3) }},
		{"ConcurrentAnyAppendsAllLand", testConcurrentAny},
		{"MultiEventAppendIsAtomic", testAtomicEvents},
		{"MultiEventAppendIsNeverSeenHalfWritten", testNoHalfWrittenAppend},
		{"AppendMultiIsAtomicAcrossStreams", testAppendMulti},
		{"RetriedAppendIsNotDuplicated", testRetry},
		{"RetriedAppendMultiIsNotDuplicated", testRetryMulti},
		{"TenantIsolation", testIsolation},
		{"NoTenantInContext", testNoTenant},
		{"UnprovisionedTenant", testUnprovisioned},
		{"ProvisionIsIdempotent", testProvisionTwice},
		{"PositionsIncreasePerTenant", testPositions},
		{"MetadataRoundTrips", testMetadata},
		{"ReadTenantPages", testReadTenantPages},
		{"SubscribeRestartsFromCheckpoint", testSubscribe},
		{"SubscribeStopsOnHandlerError", testSubscribeHandlerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// provisioned returns a context of tenant id, provisioned in s, that ends
// with the test.
func provisioned(t *testing.T, s streams.Store, id tenant.ID) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), id), time.Minute)
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

func readTenant(t *testing.T, s streams.Store, ctx context.Context, after streams.Position, limit int) []streams.Record {
	t.Helper()
	recs, err := s.ReadTenant(ctx, after, limit)
	if err != nil {
		t.Fatalf("read tenant after %d: %v", after, err)
	}
	return recs
}

func ids(recs []streams.Record) []uuid.UUID {
	out := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func eventIDs(evs []streams.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// checkVersions fails unless the stream's events have versions 1, 2, 3...
func checkVersions(t *testing.T, n streams.Name, recs []streams.Record) {
	t.Helper()
	for i, r := range recs {
		if r.Version != streams.Version(i+1) || r.Stream != n {
			t.Fatalf("%s: event %d has version %d and stream %s", n, i, r.Version, r.Stream)
		}
		if i > 0 && r.Position <= recs[i-1].Position {
			t.Fatalf("%s: event %d at position %d after %d", n, i, r.Position, recs[i-1].Position)
		}
	}
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
		{"Exactly(1) on a new stream", streams.Exactly(1), streams.ErrConflict, 0},
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
	checkVersions(t, n, read(t, s, ctx, n))

	// Any on a stream that does not exist creates it.
	m := name(t, "acme", "invoice")
	if r := mustAppend(t, s, ctx, m, streams.Any, events(2, "test.happened.v1")...); r.Version != 2 {
		t.Fatalf("Any on a new stream: version %d, want 2", r.Version)
	}
}

// testRace: writers race to append the same number of events at the same
// expected version, round after round: exactly one wins each round, the
// others get ErrConflict, and the stream holds the winners' events only,
// each append's events together.
func testRace(t *testing.T, s streams.Store, size int) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	const writers, rounds = 20, 5
	var winners [][]uuid.UUID
	for round := range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		conflicts := 0
		var won [][]uuid.UUID
		start := make(chan struct{})
		for range writers {
			evs := events(size, "test.raced.v1")
			wg.Go(func() {
				<-start
				r, err := s.Append(ctx, n, streams.Exactly(streams.Version(round*size)), evs...)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, eventIDs(evs))
					if r.Version != streams.Version((round+1)*size) {
						t.Errorf("round %d: winner at version %d", round, r.Version)
					}
				case errors.Is(err, streams.ErrConflict):
					conflicts++
				default:
					t.Errorf("append: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(won) != 1 || conflicts != writers-1 {
			t.Fatalf("round %d: %d winners and %d conflicts, want 1 and %d", round, len(won), conflicts, writers-1)
		}
		winners = append(winners, won[0])
	}
	recs := read(t, s, ctx, n)
	checkVersions(t, n, recs)
	if want := slices.Concat(winners...); !slices.Equal(ids(recs), want) {
		t.Fatalf("stream holds %v, want the winners' events %v", ids(recs), want)
	}
}

// testConcurrentAny: appends with Any all land, none lost, none
// overwritten, versions without gap.
func testConcurrentAny(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	const writers = 20
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if _, err := s.Append(ctx, n, streams.Any, events(1+i%2, "test.any.v1")...); err != nil {
				t.Errorf("append with Any: %v", err)
			}
		})
	}
	wg.Wait()
	recs := read(t, s, ctx, n)
	checkVersions(t, n, recs)
	if len(recs) != writers*3/2 {
		t.Fatalf("stream holds %d events, want %d", len(recs), writers*3/2)
	}
}

func testAtomicEvents(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	evs := events(3, "test.batched.v1")
	r := mustAppend(t, s, ctx, n, streams.NoStream, evs...)
	if r.Version != 3 {
		t.Fatalf("version %d, want 3", r.Version)
	}
	if _, err := s.Append(ctx, n, streams.Exactly(2), events(4, "test.batched.v1")...); !errors.Is(err, streams.ErrConflict) {
		t.Fatalf("stale multi-event append: %v, want ErrConflict", err)
	}
	recs := read(t, s, ctx, n)
	if !slices.Equal(ids(recs), eventIDs(evs)) {
		t.Fatalf("a refused multi-event append left %v, want %v", ids(recs), eventIDs(evs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Position <= recs[i-1].Position {
			t.Fatalf("events of one append out of order: %d then %d", recs[i-1].Position, recs[i].Position)
		}
	}
	if recs[2].Position != r.Position {
		t.Fatalf("append reported position %d, its last event is at %d", r.Position, recs[2].Position)
	}
}

// testNoHalfWrittenAppend: readers of a stream and of the tenant's log
// never see part of an append.
func testNoHalfWrittenAppend(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	const size, appends = 5, 30
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range appends {
			if _, err := s.Append(ctx, n, streams.Exactly(streams.Version(i*size)), events(size, "test.batched.v1")...); err != nil {
				t.Errorf("append %d: %v", i, err)
				return
			}
		}
	})
	for _, reader := range []string{"stream", "tenant"} {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var recs []streams.Record
				var err error
				if reader == "stream" {
					recs, err = s.ReadStream(ctx, n)
				} else {
					recs, err = s.ReadTenant(ctx, 0, 10_000)
				}
				if err != nil {
					t.Errorf("read %s: %v", reader, err)
					return
				}
				if len(recs)%size != 0 {
					t.Errorf("%s reader saw %d events, part of an append of %d", reader, len(recs), size)
					return
				}
			}
		})
	}
	wg.Wait()
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
		t.Fatalf("results %+v, want versions 2 and 2", res)
	}
	ra, rb := read(t, s, ctx, a), read(t, s, ctx, b)
	if last := max(ra[1].Position, rb[1].Position); res[0].Position != last || res[1].Position != last {
		t.Fatalf("results %+v, the append's last event is at %d", res, last)
	}
	// One stale expectation: nothing is written to either stream.
	for _, stale := range [][2]streams.ExpectedVersion{
		{streams.Exactly(2), streams.Exactly(1)},
		{streams.NoStream, streams.Exactly(2)},
		{streams.Any, streams.NoStream},
	} {
		_, err = s.AppendMulti(ctx,
			streams.Append{Stream: a, Expected: stale[0], Events: events(1, "test.multi.v1")},
			streams.Append{Stream: b, Expected: stale[1], Events: events(1, "test.counted.v1")},
		)
		if !errors.Is(err, streams.ErrConflict) {
			t.Fatalf("append multi expecting %v: %v, want ErrConflict", stale, err)
		}
		if len(read(t, s, ctx, a)) != 2 || len(read(t, s, ctx, b)) != 2 {
			t.Fatalf("a refused multi-stream append expecting %v wrote something", stale)
		}
	}
}

func testRetry(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	for _, size := range []int{1, 3} {
		for _, expected := range []streams.ExpectedVersion{streams.NoStream, streams.Any} {
			n := name(t, "acme", "invoice")
			evs := events(size, "test.retried.v1")
			first := mustAppend(t, s, ctx, n, expected, evs...)
			again, err := s.Append(ctx, n, expected, evs...)
			if err != nil {
				t.Fatalf("retry of %d events: %v", size, err)
			}
			if again != first {
				t.Fatalf("retry answered %+v, first %+v", again, first)
			}
			if got := read(t, s, ctx, n); !slices.Equal(ids(got), eventIDs(evs)) {
				t.Fatalf("retry of %d events: stream holds %d events, want %d", size, len(got), size)
			}
			// Other events at the same stale version still conflict.
			if !expected.IsAny() {
				if _, err := s.Append(ctx, n, expected, events(1, "test.retried.v1")...); !errors.Is(err, streams.ErrConflict) {
					t.Fatalf("new events at a stale version: %v, want ErrConflict", err)
				}
			}
			// Once other events follow them, a retry writes nothing: it is
			// a stale append (ErrConflict), or, where the store recognises
			// the events where they were written (KurrentDB), answered as
			// it was.
			mustAppend(t, s, ctx, n, streams.Exactly(streams.Version(size)), events(1, "test.other.v1")...)
			if late, err := s.Append(ctx, n, streams.NoStream, evs...); !errors.Is(err, streams.ErrConflict) && (err != nil || late != first) {
				t.Fatalf("retry after other events: %+v, %v; want ErrConflict or the first answer %+v", late, err, first)
			}
			if got := len(read(t, s, ctx, n)); got != size+1 {
				t.Fatalf("stream holds %d events, want %d", got, size+1)
			}
		}
	}
}

func testRetryMulti(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	a, b := name(t, "acme", "invoice"), name(t, "acme", "counter")
	mustAppend(t, s, ctx, b, streams.NoStream, events(1, "test.counted.v1")...)
	appends := []streams.Append{
		{Stream: a, Expected: streams.NoStream, Events: events(2, "test.multi.v1")},
		{Stream: b, Expected: streams.Exactly(1), Events: events(1, "test.counted.v1")},
	}
	first, err := s.AppendMulti(ctx, appends...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AppendMulti(ctx, appends...)
	if err != nil || !slices.Equal(again, first) {
		t.Fatalf("retry answered %+v, %v; first %+v", again, err, first)
	}
	if len(read(t, s, ctx, a)) != 2 || len(read(t, s, ctx, b)) != 2 {
		t.Fatal("a retried multi-stream append was written again")
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
	for tn, ctx := range map[tenant.ID]context.Context{"acme": acme, "globex": globex} {
		recs := readTenant(t, s, ctx, 0, 100)
		if want := map[tenant.ID]int{"acme": 2, "globex": 3}[tn]; len(recs) != want {
			t.Fatalf("%s's log has %d events, want %d", tn, len(recs), want)
		}
		for _, r := range recs {
			if r.Stream.Tenant() != tn || r.Metadata.Tenant != tn || r.Type != "test."+string(tn)+".v1" {
				t.Fatalf("%s's log holds %+v", tn, r)
			}
		}
	}
	if got := len(read(t, s, globex, ng)); got != 3 {
		t.Fatalf("globex stream has %d events, want 3 (nothing of acme's)", got)
	}
	// A subscription sees its tenant's events only.
	sctx, cancel := context.WithCancel(acme)
	defer cancel()
	var seen []streams.Record
	err := s.Subscribe(sctx, 0, func(_ context.Context, r streams.Record) error {
		seen = append(seen, r)
		if len(seen) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe: %v", err)
	}
	for _, r := range seen {
		if r.Metadata.Tenant != "acme" || r.Stream.Tenant() != "acme" {
			t.Fatalf("acme's subscription saw %+v", r)
		}
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
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "ghost"), 30*time.Second)
	defer cancel()
	n := name(t, "ghost", "invoice")
	checks := map[string]error{}
	_, checks["Append one"] = s.Append(ctx, n, streams.NoStream, events(1, "test.x.v1")...)
	_, checks["Append Any"] = s.Append(ctx, n, streams.Any, events(1, "test.x.v1")...)
	_, checks["Append several"] = s.Append(ctx, n, streams.NoStream, events(2, "test.x.v1")...)
	_, checks["ReadStream"] = s.ReadStream(ctx, n)
	_, checks["ReadTenant"] = s.ReadTenant(ctx, 0, 10)
	_, checks["Head"] = s.Head(ctx)
	checks["Subscribe"] = s.Subscribe(ctx, 0, func(context.Context, streams.Record) error { return nil })
	for op, err := range checks {
		if !errors.Is(err, streams.ErrUnknownTenant) {
			t.Errorf("%s in an unprovisioned tenant: %v, want ErrUnknownTenant", op, err)
		}
	}
}

func testProvisionTwice(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	r := mustAppend(t, s, ctx, n, streams.NoStream, events(2, "test.x.v1")...)
	if err := s.Provision(ctx); err != nil {
		t.Fatalf("provision again: %v", err)
	}
	if got := len(read(t, s, ctx, n)); got != 2 {
		t.Fatalf("provisioning again left %d events, want 2", got)
	}
	if head, err := s.Head(ctx); err != nil || head != r.Position {
		t.Fatalf("head %d (%v) after provisioning again, want %d", head, err, r.Position)
	}
}

func testPositions(t *testing.T, s streams.Store) {
	acme := provisioned(t, s, "acme")
	globex := provisioned(t, s, "globex")
	if head, err := s.Head(acme); err != nil || head != 0 {
		t.Fatalf("head of an empty tenant: %d, %v; want 0", head, err)
	}
	var last streams.Position
	for i := range 10 {
		if i%3 == 0 {
			mustAppend(t, s, globex, name(t, "globex", "invoice"), streams.NoStream, events(1, "test.x.v1")...)
		}
		r := mustAppend(t, s, acme, name(t, "acme", "invoice"), streams.NoStream, events(1+i%2, "test.x.v1")...)
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
	recs := readTenant(t, s, acme, 0, 1000)
	if len(recs) != 15 {
		t.Fatalf("acme's log has %d events, want 15", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Position <= recs[i-1].Position {
			t.Fatalf("tenant read out of order: %d after %d", recs[i].Position, recs[i-1].Position)
		}
	}
	if recs[len(recs)-1].Position != head {
		t.Fatalf("last event at %d, head %d", recs[len(recs)-1].Position, head)
	}
}

func testMetadata(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	n := name(t, "acme", "invoice")
	ev := streams.EventData{ID: uuid.New(), Type: "test.described.v1", Data: []byte(`{"a":"é ✓"}`), Metadata: streams.Metadata{
		UserID: "u-1", CorrelationID: "corr-1", CausationID: "cause-1", CommandID: "cmd-1", RequestHash: "abc123",
	}}
	bare := streams.EventData{ID: uuid.New(), Type: "test.bare.v1", Data: []byte(`{}`)}
	before := time.Now().Add(-time.Second)
	r := mustAppend(t, s, ctx, n, streams.NoStream, ev, bare)
	after := time.Now().Add(time.Second)

	fromStream := read(t, s, ctx, n)
	fromTenant := readTenant(t, s, ctx, 0, 10)
	var fromSub []streams.Record
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_ = s.Subscribe(sctx, 0, func(_ context.Context, r streams.Record) error {
		fromSub = append(fromSub, r)
		if len(fromSub) == 2 {
			cancel()
		}
		return nil
	})
	for how, recs := range map[string][]streams.Record{"ReadStream": fromStream, "ReadTenant": fromTenant, "Subscribe": fromSub} {
		if len(recs) != 2 {
			t.Fatalf("%s: %d events, want 2", how, len(recs))
		}
		for i, want := range []streams.EventData{ev, bare} {
			got := recs[i]
			md := want.Metadata
			md.Tenant = "acme"
			if got.ID != want.ID || got.Type != want.Type || string(got.Data) != string(want.Data) || got.Metadata != md ||
				got.Stream != n || got.Version != streams.Version(i+1) {
				t.Fatalf("%s: read back %+v, wrote %+v", how, got, want)
			}
			if got.RecordedAt.Before(before) || got.RecordedAt.After(after) {
				t.Fatalf("%s: recorded at %v, appended between %v and %v", how, got.RecordedAt, before, after)
			}
		}
		if recs[1].Position != r.Position || !recs[0].RecordedAt.Equal(fromStream[0].RecordedAt) {
			t.Fatalf("%s: position %d and time %v, stream read %d and %v", how, recs[1].Position, recs[0].RecordedAt, r.Position, fromStream[0].RecordedAt)
		}
	}
}

func testReadTenantPages(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	var want []uuid.UUID
	for i := range 150 {
		evs := events(1+2*(i%2), "test.x.v1")
		mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, evs...)
		want = append(want, eventIDs(evs)...)
	}
	if all := readTenant(t, s, ctx, 0, 1000); !slices.Equal(ids(all), want) {
		t.Fatalf("read %d events at once, want %d in append order", len(all), len(want))
	}
	var all []streams.Record
	var after streams.Position
	for {
		page := readTenant(t, s, ctx, after, 173)
		if len(page) == 0 {
			break
		}
		if len(page) > 173 {
			t.Fatalf("page of %d, limit 173", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
	if !slices.Equal(ids(all), want) {
		t.Fatalf("paged through %d events, want %d in append order", len(all), len(want))
	}
	if got := readTenant(t, s, ctx, 0, 0); len(got) != 0 {
		t.Fatalf("limit 0 read %d events", len(got))
	}
	// After the largest position there is nothing (never a wrap to the start).
	if got := readTenant(t, s, ctx, streams.Position(math.MaxUint64), 10); len(got) != 0 {
		t.Fatalf("after the largest position: %d events", len(got))
	}
	if got := readTenant(t, s, ctx, all[9].Position, 5); !slices.Equal(ids(got), want[10:15]) {
		t.Fatalf("5 after the 10th: %v, want %v", ids(got), want[10:15])
	}
}

// waitFor receives from ch until it has n records, failing at the deadline.
func waitFor(t *testing.T, ch <-chan streams.Record, n int, deadline <-chan time.Time) []streams.Record {
	t.Helper()
	var got []streams.Record
	for len(got) < n {
		select {
		case r := <-ch:
			got = append(got, r)
		case <-deadline:
			t.Fatalf("received %d events of %d", len(got), n)
		}
	}
	return got
}

func positions(recs []streams.Record) []streams.Position {
	out := make([]streams.Position, len(recs))
	for i, r := range recs {
		out[i] = r.Position
	}
	return out
}

func testSubscribe(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	for range 5 {
		mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(1, "test.x.v1")...)
	}
	mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(2, "test.x.v1")...)

	// A first subscriber handles 4 events and stops: its checkpoint is the 4th.
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
		t.Fatalf("subscribe: %v, want the handler's error", err)
	}
	checkpoint := seen[3].Position

	// Restarted from the checkpoint: the rest of the stored events...
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
	deadline := time.After(30 * time.Second)
	stored := readTenant(t, s, ctx, checkpoint, 100)
	caught := waitFor(t, got, len(stored), deadline)
	if !slices.Equal(positions(caught), positions(stored)) {
		t.Fatalf("catch-up after %d saw %v, want %v", checkpoint, positions(caught), positions(stored))
	}
	// ...then each new one as it is appended.
	var live []streams.Position
	for i := range 3 {
		r := mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(1+i, "test.live.v1")...)
		for _, rec := range waitFor(t, got, 1+i, deadline) {
			live = append(live, rec.Position)
		}
		if live[len(live)-1] != r.Position {
			t.Fatalf("live event at %d, append at %d", live[len(live)-1], r.Position)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe ended with %v, want context.Canceled", err)
	}
	close(got)
	for r := range got {
		t.Fatalf("event at %d delivered twice or unasked", r.Position)
	}
	all := readTenant(t, s, ctx, checkpoint, 100)
	if want := positions(all); !slices.Equal(append(positions(caught), live...), want) {
		t.Fatalf("after restart saw %v then %v, want each of %v exactly once", positions(caught), live, want)
	}
}

func testSubscribeHandlerError(t *testing.T, s streams.Store) {
	ctx := provisioned(t, s, "acme")
	head := mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(3, "test.x.v1")...).Position
	errBroken := errors.New("projector broken")
	calls := 0
	err := s.Subscribe(ctx, 0, func(context.Context, streams.Record) error {
		calls++
		return errBroken
	})
	if !errors.Is(err, errBroken) || calls != 1 {
		t.Fatalf("subscribe: %v after %d calls, want the handler's error after 1", err, calls)
	}
	// A subscription from the head sees nothing until something is appended.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan streams.Record, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(sctx, head, func(_ context.Context, r streams.Record) error {
			got <- r
			return nil
		})
	}()
	r := mustAppend(t, s, ctx, name(t, "acme", "invoice"), streams.NoStream, events(1, "test.x.v1")...)
	if rec := waitFor(t, got, 1, time.After(30*time.Second)); rec[0].Position != r.Position {
		t.Fatalf("subscription from the head got the event at %d, want %d", rec[0].Position, r.Position)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe ended with %v", err)
	}
}
