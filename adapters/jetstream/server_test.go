package jetstream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

func TestServerConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       jetstream.ServerConfig
		withError []string
	}{
		{"minimal", jetstream.ServerConfig{DataDir: "d"}, nil},
		{"listening, sync always", jetstream.ServerConfig{DataDir: "d", Listen: "127.0.0.1:0", SyncAlways: true}, nil},
		{"every problem", jetstream.ServerConfig{Listen: "nowhere", SyncAlways: true, SyncInterval: -time.Second},
			[]string{"DataDir", "Listen", "exclusive", "negative"}},
		{"bad port", jetstream.ServerConfig{DataDir: "d", Listen: "127.0.0.1:99999"}, []string{"Listen"}},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if (err != nil) != (len(tc.withError) > 0) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, want := range tc.withError {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v does not name %s", tc.name, err, want)
			}
		}
	}
	if _, err := jetstream.StartServer(jetstream.ServerConfig{}); err == nil {
		t.Error("started a server without a data directory")
	}
}

func TestServerKeepsEventsAcrossRestartsAndOwnsItsDirectory(t *testing.T) {
	dir := t.TempDir()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: dir, Listen: "127.0.0.1:0", SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("client URL %q", srv.ClientURL())
	}

	start := time.Now()
	if second, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: dir}); err == nil {
		second.Shutdown()
		t.Fatal("a second server started on a directory in use")
	} else if time.Since(start) > 5*time.Second {
		t.Errorf("the second server took %s to fail", time.Since(start))
	}

	// Another process would connect over TCP.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	s, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
	defer cancel()
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := streams.NewName("acme", "invoice", "1")
	want, err := s.Append(ctx, n, streams.NoStream, someEvents(3)...)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	srv.Shutdown()
	srv.Shutdown() // a second call is harmless

	srv, err = jetstream.StartServer(jetstream.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	if srv.ClientURL() != "" {
		t.Errorf("a server without Listen has client URL %q", srv.ClientURL())
	}
	nc, err = srv.Connect("restarted")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if s, err = jetstream.NewStore(nc, jetstream.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadStream(ctx, n)
	if err != nil || len(recs) != 3 || recs[2].Position != want.Position {
		t.Fatalf("after restart: %d events, %v", len(recs), err)
	}
	if _, err := s.Append(ctx, n, streams.NoStream, someEvents(1)...); !errors.Is(err, streams.ErrConflict) {
		t.Fatalf("append at a stale version after restart: %v, want ErrConflict", err)
	}
}

// TestListenOnAFreePort: ":0" listens on a free port, as net.Listen does,
// so two servers side by side both start.
func TestListenOnAFreePort(t *testing.T) {
	var urls []string
	for range 2 {
		srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		if strings.HasSuffix(srv.ClientURL(), ":4222") {
			t.Fatalf("listens on the default port: %s", srv.ClientURL())
		}
		urls = append(urls, srv.ClientURL())
	}
	if urls[0] == urls[1] {
		t.Fatalf("both servers on %s", urls[0])
	}
}
