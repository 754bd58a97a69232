// Package jetstreamtest starts the real embedded NATS JetStream server for
// tests of any package.
package jetstreamtest

import (
	"testing"

	"github.com/nats-io/nats.go"

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
