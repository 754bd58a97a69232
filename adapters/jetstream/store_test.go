package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
	"github.com/atrium-platform/atrium/streams/storetest"
)

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) streams.Store { return jetstreamtest.NewStore(t) })
}

// newStore returns a store with cfg on a fresh server, and a context of the
// provisioned tenant acme.
func newStore(t *testing.T, cfg jetstream.StoreConfig) (*jetstream.Store, *nats.Conn, context.Context) {
	t.Helper()
	_, nc := jetstreamtest.Start(t)
	s, err := jetstream.NewStore(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
	t.Cleanup(cancel)
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return s, nc, ctx
}

// acmeStream is acme's event stream, as JetStream's own client sees it.
func acmeStream(t *testing.T, ctx context.Context, nc *nats.Conn) natsjs.Stream {
	t.Helper()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, jetstream.StreamName("acme"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newName(t *testing.T) streams.Name {
	t.Helper()
	n, err := streams.NewName("acme", "invoice", uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func someEvents(n int) []streams.EventData {
	evs := make([]streams.EventData, n)
	for i := range evs {
		evs[i] = streams.EventData{ID: uuid.New(), Type: "invoice.drafted.v1", Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	return evs
}

// requests counts the messages nc sends while fn runs: the requests it
// makes of the server.
func requests(t *testing.T, nc *nats.Conn, fn func()) uint64 {
	t.Helper()
	before := nc.Stats().OutMsgs
	fn()
	return nc.Stats().OutMsgs - before
}

func TestReadingAndAppendingCostOneRequest(t *testing.T) {
	s, nc, ctx := newStore(t, jetstream.StoreConfig{})
	other, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	n := newName(t)
	if got := requests(t, nc, func() {
		if _, err := s.Append(ctx, n, streams.NoStream, someEvents(1)...); err != nil {
			t.Fatal(err)
		}
	}); got != 1 {
		t.Errorf("appending to a new stream sent %d requests, want 1", got)
	}
	if _, err := s.Append(ctx, n, streams.Exactly(1), someEvents(4)...); err != nil {
		t.Fatal(err)
	}
	// A command reads its stream, then appends at the version it read.
	// other has never seen the stream: its read fills its cache.
	var recs []streams.Record
	if got := requests(t, nc, func() {
		if recs, err = other.ReadStream(ctx, n); err != nil {
			t.Fatal(err)
		}
	}); got != 1 || len(recs) != 5 {
		t.Errorf("reading a 5-event stream sent %d requests and read %d events, want 1 and 5", got, len(recs))
	}
	if got := requests(t, nc, func() {
		if _, err := other.Append(ctx, n, streams.Exactly(5), someEvents(1)...); err != nil {
			t.Fatal(err)
		}
	}); got != 1 {
		t.Errorf("appending after a read sent %d requests, want 1", got)
	}
	// s's cached version of the stream is stale: the server refuses the
	// append and nothing is written.
	if _, err := s.Append(ctx, n, streams.Exactly(5), someEvents(1)...); !errors.Is(err, streams.ErrConflict) {
		t.Fatalf("append at a stale version: %v, want ErrConflict", err)
	}
	if recs, err = s.ReadStream(ctx, n); err != nil || len(recs) != 6 {
		t.Fatalf("stream holds %d events (%v), want 6", len(recs), err)
	}
}

func TestManyConcurrentMultiEventAppendsAllSucceed(t *testing.T) {
	s, nc, ctx := newStore(t, jetstream.StoreConfig{MaxInflightBatches: 50})
	// Two stores on one server may open more batches than the server allows
	// at once (50 per stream): the refused ones are retried.
	s2, err := jetstream.NewStore(nc, jetstream.StoreConfig{MaxInflightBatches: 50})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 120, 2
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		st := s
		if w%2 == 1 {
			st = s2
		}
		wg.Go(func() {
			for range each {
				if _, err := st.Append(ctx, newName(t), streams.NoStream, someEvents(2)...); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != writers*each*2 {
		t.Fatalf("head %d, want %d", head, writers*each*2)
	}
}

func TestRetryOutsideTheDeduplicationWindow(t *testing.T) {
	s, _, ctx := newStore(t, jetstream.StoreConfig{Duplicates: 100 * time.Millisecond})
	tests := []struct {
		name     string
		expected streams.ExpectedVersion
		events   int
	}{
		{"one event, NoStream", streams.NoStream, 1},
		{"three events, NoStream", streams.NoStream, 3},
		{"one event, Any", streams.Any, 1},
		{"three events, Any", streams.Any, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newName(t)
			if _, err := s.Append(ctx, n, streams.NoStream, someEvents(1)...); err != nil {
				t.Fatal(err)
			}
			expected := tc.expected
			if !expected.IsAny() {
				expected = streams.Exactly(1)
			}
			evs := someEvents(tc.events)
			first, err := s.Append(ctx, n, expected, evs...)
			if err != nil {
				t.Fatal(err)
			}
			// Waits out the server's de-duplication window (it does not
			// order goroutines): the server no longer knows the ids.
			time.Sleep(300 * time.Millisecond)
			again, err := s.Append(ctx, n, expected, evs...)
			if err != nil || again != first {
				t.Fatalf("retry answered %+v, %v; first %+v", again, err, first)
			}
			if recs, err := s.ReadStream(ctx, n); err != nil || len(recs) != 1+tc.events {
				t.Fatalf("stream holds %d events (%v), want %d", len(recs), err, 1+tc.events)
			}
		})
	}
}

func TestRefusedAppends(t *testing.T) {
	s, _, ctx := newStore(t, jetstream.StoreConfig{})
	big := someEvents(1)
	big[0].Data = []byte(`"` + strings.Repeat("x", 5<<20) + `"`)
	dup := someEvents(2)
	dup[1].ID = dup[0].ID
	noID := someEvents(2)
	noID[1].ID = uuid.Nil
	foreign := someEvents(1)
	foreign[0].Metadata.Tenant = "globex"
	n := newName(t)
	tests := []struct {
		name      string
		events    []streams.EventData
		withError error
	}{
		{"more than 1000 events", someEvents(1001), streams.ErrTooLarge},
		{"an event over 4 MiB", big, streams.ErrTooLarge},
		{"an event of another tenant", foreign, streams.ErrTenantMismatch},
		{"one id twice", dup, nil},
		{"an event without id", noID, nil},
		{"no event", nil, nil},
	}
	for _, tc := range tests {
		_, err := s.Append(ctx, n, streams.Any, tc.events...)
		if err == nil || (tc.withError != nil && !errors.Is(err, tc.withError)) {
			t.Errorf("%s: %v, want an error matching %v", tc.name, err, tc.withError)
		}
	}
	if recs, err := s.ReadStream(ctx, n); err != nil || len(recs) != 0 {
		t.Fatalf("refused appends wrote %d events (%v)", len(recs), err)
	}
	if _, err := s.AppendMulti(ctx,
		streams.Append{Stream: n, Expected: streams.Any, Events: someEvents(1)},
		streams.Append{Stream: n, Expected: streams.Any, Events: someEvents(1)},
	); err == nil {
		t.Error("a stream named twice in one AppendMulti was accepted")
	}
}

func TestUnavailableServer(t *testing.T) {
	s, nc, ctx := newStore(t, jetstream.StoreConfig{})
	n := newName(t)
	if _, err := s.Append(ctx, n, streams.NoStream, someEvents(1)...); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	checks := map[string]error{}
	_, checks["Append"] = s.Append(ctx, n, streams.Any, someEvents(2)...)
	_, checks["ReadStream"] = s.ReadStream(ctx, n)
	_, checks["ReadTenant"] = s.ReadTenant(ctx, 0, 10)
	_, checks["Head"] = s.Head(ctx)
	for op, err := range checks {
		if !errors.Is(err, streams.ErrUnavailable) || !errors.Is(err, nats.ErrConnectionClosed) {
			t.Errorf("%s on a closed connection: %v, want ErrUnavailable wrapping the cause", op, err)
		}
	}
}
