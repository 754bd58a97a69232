package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// fenceRounds is how many appends each read-after-append check makes.
const fenceRounds = 300

// replicaPair provisions tenant acme with 3 replicas on a 3-node cluster
// and returns two stores: the writer's, connected to the stream's leader,
// and the reader's, connected to a follower.
func replicaPair(t *testing.T) (writer, reader *jetstream.Store, ctx context.Context) {
	t.Helper()
	c, nc := jetstreamtest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
	t.Cleanup(cancel)
	setup, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := setup.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	stream := jetstream.StreamName("acme")
	jetstreamtest.WaitReplicas(t, nc, stream, 3)
	leader := c.StreamLeader(stream)
	followers := slices.DeleteFunc(c.Nodes(), func(n string) bool { return n == leader })
	if leader == "" || len(followers) != 2 {
		t.Fatalf("leader %q, followers %v", leader, followers)
	}
	store := func(node string) *jetstream.Store {
		nc, err := c.ConnectTo(node, t.Name()+" "+node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		s, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return store(leader), store(followers[0]), ctx
}

// TestReadAfterAppendOnAFollower: on a cluster with 3 replicas, whatever
// an append through one instance wrote is read by another instance
// connected to a follower right after the append is acknowledged: the
// stream as a command loads it, the tenant's events from a position, and
// the stream's last event an append with an expected version reads.
//
// The leader tells the followers an append is committed at once when no
// other write waits, and with the next write otherwise: other writers
// append to the same tenant throughout, as other requests would, so that
// the followers are behind the leader as often as they are in use.
func TestReadAfterAppendOnAFollower(t *testing.T) {
	writer, reader, ctx := replicaPair(t)
	busy(t, ctx, writer, 8)

	t.Run("read stream", func(t *testing.T) {
		var name streams.Name
		for i := range fenceRounds {
			v := i % 20 // a new stream every 20 rounds: short reads
			if v == 0 {
				name = newName(t)
			}
			ev := someEvents(1)
			if _, err := writer.Append(ctx, name, streams.Exactly(streams.Version(v)), ev...); err != nil {
				t.Fatal(err)
			}
			recs, err := reader.ReadStream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != v+1 || recs[v].ID != ev[0].ID {
				t.Fatalf("round %d: read %d events just after the append of version %d", i, len(recs), v+1)
			}
		}
	})

	t.Run("read tenant", func(t *testing.T) {
		name := newName(t)
		for v := range fenceRounds {
			ev := someEvents(2) // an atomic batch: two consecutive positions
			res, err := writer.Append(ctx, name, streams.Exactly(streams.Version(2*v)), ev...)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := reader.ReadTenant(ctx, res.Position-2, 2)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(recs))
			for i, rec := range recs {
				ids[i] = rec.ID.String()
			}
			if !slices.Equal(ids, []string{ev[0].ID.String(), ev[1].ID.String()}) {
				t.Fatalf("round %d: read %v after position %d just after the append of %s, %s", v, ids, res.Position-2, ev[0].ID, ev[1].ID)
			}
		}
	})

	t.Run("append with the version just written", func(t *testing.T) {
		// Each instance appends in turn with the version the other has
		// just written: its cached version is always behind, so each
		// append reads the stream's last event first.
		name := newName(t)
		for v := 0; v < 2*fenceRounds; v += 2 {
			if _, err := writer.Append(ctx, name, streams.Exactly(streams.Version(v)), someEvents(1)...); err != nil {
				t.Fatalf("round %d: the writer's append on version %d, just written by the reader: %v", v/2, v, err)
			}
			if _, err := reader.Append(ctx, name, streams.Exactly(streams.Version(v+1)), someEvents(1)...); err != nil {
				t.Fatalf("round %d: the reader's append on version %d, just written by the writer: %v", v/2, v+1, err)
			}
		}
	})
}

// busy appends to the tenant of ctx from n writers until t ends.
func busy(t *testing.T, ctx context.Context, s *jetstream.Store, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for range n {
		wg.Go(func() {
			name := newName(t)
			for v := streams.Version(0); ctx.Err() == nil; v++ {
				if _, err := s.Append(ctx, name, streams.Exactly(v), someEvents(1)...); err != nil {
					if ctx.Err() == nil {
						t.Errorf("busy writer: %v", err)
					}
					return
				}
			}
		})
	}
}

// TestFencedReadOfAMissingStream: the checks a fenced read adds answer as
// the unfenced ones do for a stream with no event and an unknown tenant.
func TestFencedReadOfAMissingStream(t *testing.T) {
	_, reader, ctx := replicaPair(t)
	name := newName(t)
	recs, err := reader.ReadStream(ctx, name)
	if err != nil || len(recs) != 0 {
		t.Fatalf("ReadStream of a new stream: %d events, %v", len(recs), err)
	}
	if _, err := reader.Append(ctx, name, streams.Any, someEvents(1)...); err != nil {
		t.Fatalf("Any append to a new stream: %v", err)
	}
	other := tenant.With(ctx, "nobody")
	n, err := streams.NewName("nobody", "invoice", fmt.Sprint(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.ReadStream(other, n); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("ReadStream in an unknown tenant: %v", err)
	}
	if _, err := reader.ReadTenant(other, 0, 10); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("ReadTenant in an unknown tenant: %v", err)
	}
	if _, err := reader.Append(other, n, streams.Any, someEvents(1)...); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("Any append in an unknown tenant: %v", err)
	}
}
