package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

// TestBadConfigurationExitsWithOneLine runs `atrium serve` with bad settings:
// it exits non-zero and says why on one line.
func TestBadConfigurationExitsWithOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ env, says string }{
		{"ATRIUM_BASE_DOMAIN=a b", "ATRIUM_BASE_DOMAIN"},
		{"ATRIUM_NATS_SYNC=sometimes", "ATRIUM_NATS_SYNC"},
		{"ATRIUM_EVENT_STORE=cassandra", "ATRIUM_EVENT_STORE"},
		{"ATRIUM_EVENT_STORE=kurrentdb", "ATRIUM_KURRENTDB_URL"},
		{"ATRIUM_BOOTSTRAP_ADMIN_EMAIL=root@example.com", "ATRIUM_BOOTSTRAP_ADMIN_PASSWORD"},
		{"ATRIUM_LOG_FORMAT=xml", "ATRIUM_LOG_FORMAT"},
		{"ATRIUM_DEMO=perhaps", "ATRIUM_DEMO"},
		{"ATRIUM_READ_STORE=sqlserver", "ATRIUM_SQLSERVER_URL"},
		{"ATRIUM_READ_STORE=postgres", "ATRIUM_POSTGRES_URL"},
		{"ATRIUM_READ_STORE=oracle", "ATRIUM_READ_STORE"},
		{"ATRIUM_READ_MAX_CONNS=1", "ATRIUM_READ_MAX_CONNS"},
		{"ATRIUM_NATS_REPLICAS=2", "ATRIUM_NATS_REPLICAS"},
		{"ATRIUM_NATS_REPLICAS=three", "ATRIUM_NATS_REPLICAS"},
		{"ATRIUM_NATS_REPLICAS=3", "ATRIUM_NATS_URL"}, // the embedded server keeps 1
	}
	for _, tc := range tests {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "ATRIUM_DATA_DIR="+t.TempDir(), "ATRIUM_HTTP_ADDR=127.0.0.1:0", tc.env)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err == nil {
			t.Errorf("%s: exited 0", tc.env)
			continue
		}
		msg := strings.TrimSpace(out.String())
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: said %q, want one line naming %s", tc.env, msg, tc.says)
		}
	}
}

// TestNATSReplicasConfig: ATRIUM_NATS_REPLICAS is 1, 3 or 5, more than 1
// only with an external NATS; the value reaches the assembly.
func TestNATSReplicasConfig(t *testing.T) {
	const cluster = "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222"
	tests := []struct {
		args    []string
		want    int
		wantErr string
	}{
		{args: nil, want: 1},
		{args: []string{"--nats-url=" + cluster, "--nats-replicas=3"}, want: 3},
		{args: []string{"--nats-url=" + cluster, "--nats-replicas=5"}, want: 5},
		{args: []string{"--nats-url=nats://10.0.0.1:4222", "--nats-replicas=1"}, want: 1},
		{args: []string{"--nats-url=" + cluster, "--nats-replicas=2"}, wantErr: "ATRIUM_NATS_REPLICAS 2: want 1, 3 or 5"},
		{args: []string{"--nats-url=" + cluster, "--nats-replicas=0"}, wantErr: "ATRIUM_NATS_REPLICAS 0: want 1, 3 or 5"},
		{args: []string{"--nats-url=" + cluster, "--nats-replicas=7"}, wantErr: "ATRIUM_NATS_REPLICAS 7: want 1, 3 or 5"},
		{args: []string{"--nats-replicas=3"}, wantErr: "ATRIUM_NATS_REPLICAS 3 needs a NATS cluster in ATRIUM_NATS_URL"},
		{args: []string{"--nats-replicas=-1"}, wantErr: "ATRIUM_NATS_REPLICAS -1: want 1, 3 or 5"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var c cli
			p, err := kong.New(&c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Parse(append([]string{"serve"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			err = c.Serve.validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("validate: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got := c.Serve.process(nil).NATSReplicas; got != tc.want {
				t.Fatalf("assembly NATSReplicas %d, want %d", got, tc.want)
			}
		})
	}
}

// TestServeRefusesMoreReplicasThanServers: `atrium serve` with
// ATRIUM_NATS_REPLICAS 3 on a single NATS server exits at start, saying
// how many JetStream servers there are, and creates nothing there.
func TestServeRefusesMoreReplicasThanServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ATRIUM_DATA_DIR="+t.TempDir(), "ATRIUM_HTTP_ADDR=127.0.0.1:0",
		"ATRIUM_NATS_URL="+srv.ClientURL(), "ATRIUM_NATS_REPLICAS=3")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Fatalf("exited 0:\n%s", out.String())
	}
	msg := strings.TrimSpace(out.String())
	if want := "ATRIUM_NATS_REPLICAS 3 but the NATS cluster has 1 JetStream server(s)"; !strings.Contains(msg, want) || strings.Count(msg, "\n") != 0 {
		t.Fatalf("said %q, want one line with %q", msg, want)
	}
	nc, err := srv.Connect(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := js.StreamNames(context.Background())
	for name := range names.Name() {
		t.Errorf("stream %s created by a refused start", name)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
}
