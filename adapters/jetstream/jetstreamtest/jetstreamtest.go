// Package jetstreamtest starts the real embedded NATS JetStream server for
// tests of any package.
package jetstreamtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

// Start runs an embedded server (in-process connections only) with its data
// in t.TempDir() and returns it with a connection. t.Cleanup closes the
// connection and then shuts the server down, after the cleanups the test
// registers later (closing a source, say) have run.
func Start(t testing.TB) (*jetstream.Server, *nats.Conn) {
	t.Helper()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	nc, err := srv.Connect(t.Name())
	if err != nil {
		srv.Shutdown()
		t.Fatalf("connect embedded nats: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		srv.Shutdown()
	})
	return srv, nc
}

// NewStore starts a server and returns an event store on it. No tenant is
// provisioned.
func NewStore(t testing.TB) *jetstream.Store {
	t.Helper()
	_, nc := Start(t)
	s, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

// StartCluster runs a cluster of n real NATS servers with JetStream in this
// process, routed on loopback, their data in t.TempDir(), and returns it
// with a connection that knows every node. t.Cleanup closes the connection
// and then shuts the cluster down.
func StartCluster(t testing.TB, n int) (*jetstream.Cluster, *nats.Conn) {
	t.Helper()
	c, err := jetstream.StartCluster(jetstream.ClusterConfig{Nodes: n, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start nats cluster: %v", err)
	}
	nc, err := c.Connect(t.Name())
	if err != nil {
		c.Shutdown()
		t.Fatalf("connect nats cluster: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		c.Shutdown()
	})
	return c, nc
}

// WaitReplicas waits, at most 30 s, until the JetStream stream reports n
// replicas: n in its configuration, and in its cluster a leader and n-1
// other peers, all current. It fails t with what the stream last reported
// otherwise.
func WaitReplicas(t testing.TB, nc *nats.Conn, stream string, n int) {
	t.Helper()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last string
	for {
		info, err := streamInfo(ctx, js, stream)
		if err == nil && info.Config.Replicas == n && complete(info.Cluster, n) {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("config replicas %d, cluster %s", info.Config.Replicas, describe(info.Cluster))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s: want %d replicas, has %s", stream, n, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitConsumerReplicas is WaitReplicas for a durable consumer of stream,
// pull or push, whose replicas come from its stream when its
// configuration says 0.
func WaitConsumerReplicas(t testing.TB, nc *nats.Conn, stream, consumer string, n int) {
	t.Helper()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		ci, err := js.ConsumerInfo(stream, consumer)
		if err == nil {
			if complete(clusterOf(ci.Cluster), n) {
				return
			}
			last = fmt.Sprintf("config replicas %d, cluster %s", ci.Config.Replicas, describe(clusterOf(ci.Cluster)))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s of %s: want %d replicas, has %s", consumer, stream, n, last)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's view
	}
}

// clusterOf converts the cluster of a consumer's information.
func clusterOf(c *nats.ClusterInfo) *natsjs.ClusterInfo {
	if c == nil {
		return nil
	}
	out := &natsjs.ClusterInfo{Name: c.Name, Leader: c.Leader}
	for _, p := range c.Replicas {
		out.Replicas = append(out.Replicas, &natsjs.PeerInfo{Name: p.Name, Current: p.Current, Offline: p.Offline})
	}
	return out
}

func streamInfo(ctx context.Context, js natsjs.JetStream, stream string) (*natsjs.StreamInfo, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return st.CachedInfo(), nil
}

// complete reports whether c has a leader and n-1 other peers, all
// current and online.
func complete(c *natsjs.ClusterInfo, n int) bool {
	if c == nil || c.Leader == "" || len(c.Replicas) != n-1 {
		return false
	}
	for _, p := range c.Replicas {
		if !p.Current || p.Offline {
			return false
		}
	}
	return true
}

func describe(c *natsjs.ClusterInfo) string {
	if c == nil {
		return "none"
	}
	s := "leader " + c.Leader + ", peers"
	for _, p := range c.Replicas {
		s += fmt.Sprintf(" %s(current %t, offline %t)", p.Name, p.Current, p.Offline)
	}
	return s
}
