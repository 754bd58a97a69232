package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TestStoreConformanceOnCluster runs the event store suite on a 3-node
// cluster, every tenant stream with 3 replicas.
func TestStoreConformanceOnCluster(t *testing.T) {
	storetest.Run(t, func(t *testing.T) streams.Store {
		_, nc := jetstreamtest.StartCluster(t, 3)
		s, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestCheckReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, single := jetstreamtest.Start(t)
	_, cluster := jetstreamtest.StartCluster(t, 3)
	tests := []struct {
		name     string
		nc       *nats.Conn
		replicas int
		servers  int // 0: accepted
	}{
		{"one on a single server", single, 1, 0},
		{"three on a single server", single, 3, 1},
		{"five on a single server", single, 5, 1},
		{"one on three servers", cluster, 1, 0},
		{"three on three servers", cluster, 3, 0},
		{"five on three servers", cluster, 5, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := jetstream.CheckReplicas(ctx, tc.nc, tc.replicas)
			if tc.servers == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				var few *jetstream.TooFewServersError
				if !errors.As(err, &few) || few.Replicas != tc.replicas || few.Servers != tc.servers {
					t.Fatalf("got %v, want %d replicas refused on %d server(s)", err, tc.replicas, tc.servers)
				}
			}
			if names := streamNames(t, tc.nc); len(names) != 0 {
				t.Fatalf("the check left streams behind: %v", names)
			}
		})
	}
}

func streamNames(t *testing.T, nc *nats.Conn) []string {
	t.Helper()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	names := js.StreamNames(context.Background())
	for n := range names.Name() {
		out = append(out, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestReplicateAssetsUpgradesEveryAsset creates every kind of asset with
// one replica on a 3-node cluster, as a deployment that ran before the
// setting was raised: ReplicateAssets brings each to 3 replicas, the ERP's
// durable consumer following its stream, leaves other streams alone, and
// the assets opened again afterwards keep 3.
func TestReplicateAssetsUpgradesEveryAsset(t *testing.T) {
	_, nc := jetstreamtest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), 2*time.Minute)
	defer cancel()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// open opens every asset as a process does, a tenant's ERP durable
	// consumer included, until the returned function is called.
	open := func(replicas int) (stop func()) {
		t.Helper()
		s, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: replicas})
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range []tenant.ID{tenant.Platform, "acme"} {
			if err := s.Provision(tenant.With(ctx, tn)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := jetstream.NewPoisonPublisher(ctx, nc, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := jetstream.OpenSecrets(ctx, nc, time.Hour); err != nil {
			t.Fatal(err)
		}
		l, err := jetstream.OpenLeases(ctx, nc, jetstream.LeaseConfig{Replicas: replicas}, func() []tenant.ID { return nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		docs, err := jetstream.NewDocuments(nc, jetstream.DocumentsConfig{Replicas: replicas})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := docs.Put(ctx, "a.txt", "text/plain", strings.NewReader("a"), 1); err != nil {
			t.Fatal(err)
		}
		bus, err := jetstream.OpenERPBus(ctx, nc, jetstream.ERPBusConfig{Replicas: replicas}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		if _, err := bus.Subscriber.Subscribe(sctx, "erp.acme"); err != nil {
			t.Fatal(err)
		}
		return stop
	}
	stop := open(1)
	if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	assets := []string{"ATRIUM_ERP", "ATRIUM_EV_acme", "ATRIUM_EV_platform", "ATRIUM_POISON",
		"KV_ATRIUM_CREDENTIALS", "KV_ATRIUM_KEYS", "KV_ATRIUM_LEASES", "KV_ATRIUM_SEALED", "KV_ATRIUM_SESSIONS",
		"OBJ_ATRIUM_DOCS_acme"}
	if got := streamNames(t, nc); !slices.Equal(got, append(slices.Clone(assets), "OTHER")) {
		t.Fatalf("streams %v, want the assets %v and OTHER", got, assets)
	}
	for _, a := range assets {
		jetstreamtest.WaitReplicas(t, nc, a, 1)
	}

	updated, err := jetstream.ReplicateAssets(ctx, nc, 3)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(updated)
	if !slices.Equal(updated, assets) {
		t.Fatalf("updated %v, want every asset %v", updated, assets)
	}
	for _, a := range assets {
		jetstreamtest.WaitReplicas(t, nc, a, 3)
	}
	jetstreamtest.WaitConsumerReplicas(t, nc, jetstream.ERPStream, "erp_acme", 3)
	jetstreamtest.WaitReplicas(t, nc, "OTHER", 1)
	stop()

	// Opened again with replicas 3, every asset keeps them, those opened
	// without a replica count of their own included; nothing is left to do.
	defer open(3)()
	if updated, err := jetstream.ReplicateAssets(ctx, nc, 3); err != nil || len(updated) != 0 {
		t.Fatalf("second pass updated %v: %v", updated, err)
	}
	for _, a := range assets {
		jetstreamtest.WaitReplicas(t, nc, a, 3)
	}
}

// TestTenantStreamsSpreadAcrossNodes: JetStream's own placement spreads
// tenants' streams over a 3-node cluster. With 3 replicas every node holds
// every stream, and leaders land on more than one node; with 1 replica the
// streams themselves land on more than one node.
func TestTenantStreamsSpreadAcrossNodes(t *testing.T) {
	c, nc := jetstreamtest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, replicas := range []int{3, 1} {
		s, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: replicas})
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[string]int{}
		for i := range 12 {
			tn := tenant.ID(fmt.Sprintf("r%dt%02d", replicas, i))
			if err := s.Provision(tenant.With(ctx, tn)); err != nil {
				t.Fatal(err)
			}
			jetstreamtest.WaitReplicas(t, nc, jetstream.StreamName(tn), replicas)
			leaders[c.StreamLeader(jetstream.StreamName(tn))]++
		}
		t.Logf("replicas %d: leaders of 12 tenant streams by node: %v", replicas, leaders)
		if delete(leaders, ""); len(leaders) < 2 {
			t.Errorf("replicas %d: the leaders of 12 tenant streams are all on %v", replicas, leaders)
		}
	}
}

// TestAcknowledgedAppendsSurviveLeaderLoss stops the node leading a tenant
// stream of 3 replicas: no acknowledged event is lost, appends work again
// once another node is elected, and the stopped node, restarted, has
// caught up (the stream's events survive the loss of the new leader too).
func TestAcknowledgedAppendsSurviveLeaderLoss(t *testing.T) {
	c, nc := jetstreamtest.StartCluster(t, 3)
	s, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: 3, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), 2*time.Minute)
	defer cancel()
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	stream := jetstream.StreamName("acme")
	jetstreamtest.WaitReplicas(t, nc, stream, 3)
	name := newName(t)
	var acked []uuid.UUID
	appendOne := func() error {
		ev := someEvents(1)[0]
		// A retry of the same event after an unanswered append is harmless.
		for {
			_, err := s.Append(ctx, name, streams.Exactly(streams.Version(len(acked))), ev)
			if err == nil {
				acked = append(acked, ev.ID)
				return nil
			}
			if !errors.Is(err, streams.ErrUnavailable) || ctx.Err() != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond) // a pause between retries, as a client makes
		}
	}
	for range 20 {
		if err := appendOne(); err != nil {
			t.Fatal(err)
		}
	}

	leader := c.StreamLeader(stream)
	if leader == "" {
		t.Fatal("the tenant stream has no leader")
	}
	if err := c.Stop(leader); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := appendOne(); err != nil {
			t.Fatalf("append with %s stopped: %v", leader, err)
		}
	}
	if now := c.StreamLeader(stream); now == leader || now == "" {
		t.Fatalf("leader %q after %s stopped", now, leader)
	}
	checkEvents(t, s, ctx, name, acked)

	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	jetstreamtest.WaitReplicas(t, nc, stream, 3)
	second := c.StreamLeader(stream)
	if err := c.Stop(second); err != nil {
		t.Fatal(err)
	}
	if err := appendOne(); err != nil {
		t.Fatalf("append with %s stopped: %v", second, err)
	}
	checkEvents(t, s, ctx, name, acked)
}

// checkEvents reads stream until it holds exactly the events want, in
// order, and fails t if it still does not after 10 s. A read while the
// stream has no leader fails as unavailable, and is tried again.
func checkEvents(t *testing.T, s *jetstream.Store, ctx context.Context, stream streams.Name, want []uuid.UUID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := s.ReadStream(ctx, stream)
		got := make([]uuid.UUID, len(recs))
		for i, r := range recs {
			got[i] = r.ID
		}
		if err == nil && slices.Equal(got, want) {
			return
		}
		if err != nil && !errors.Is(err, streams.ErrUnavailable) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d events %v (%v), want the %d acknowledged %v", len(got), got, err, len(want), want)
		}
		time.Sleep(50 * time.Millisecond) // a pause between reads, as a client makes
	}
}
