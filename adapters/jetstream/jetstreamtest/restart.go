package jetstreamtest

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

// Restartable is an embedded server listening on a loopback TCP port, which
// a test can stop and start again on the same data directory and port, as
// a cluster node that dies and comes back. Its clients connect over TCP and
// reconnect on their own.
type Restartable struct {
	t    testing.TB
	dir  string
	addr string

	mu  sync.Mutex
	srv *jetstream.Server
}

// StartRestartable starts a server with its data in t.TempDir() on a free
// loopback port. t.Cleanup shuts it down, after the cleanups the test
// registers later.
func StartRestartable(t testing.TB) *Restartable {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	r := &Restartable{t: t, dir: t.TempDir(), addr: addr}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts the server, when stopped, on the same directory and port.
func (r *Restartable) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: r.dir, Listen: r.addr})
	if err != nil {
		r.t.Fatalf("start embedded nats: %v", err)
	}
	r.srv = srv
}

// ForgetConsumers removes, while the server is stopped, the consumers it
// stored for stream: it comes back without them, as a cluster node that
// comes back where the consumers lived on the node that died. It relies on
// the server's file layout (<store>/jetstream/$G/streams/<stream>/obs).
func (r *Restartable) ForgetConsumers(stream string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.t.Fatal("ForgetConsumers: the server is running")
	}
	obs := filepath.Join(r.dir, "nats", "jetstream", "$G", "streams", stream, "obs")
	if _, err := os.Stat(obs); err != nil {
		r.t.Fatalf("ForgetConsumers: %v", err)
	}
	if err := os.RemoveAll(obs); err != nil {
		r.t.Fatalf("ForgetConsumers: %v", err)
	}
}

// Stop shuts the server down; its clients keep trying to reconnect.
func (r *Restartable) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv = nil
	}
}

// Connect returns a TCP connection to the server that reconnects without
// end, every 50ms, closed by t.Cleanup.
func (r *Restartable) Connect(name string) *nats.Conn {
	r.t.Helper()
	nc, err := nats.Connect("nats://"+r.addr, nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		r.t.Fatalf("connect embedded nats: %v", err)
	}
	r.t.Cleanup(nc.Close)
	return nc
}
