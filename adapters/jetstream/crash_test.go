package jetstream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// The crash test runs the test binary again as a writer process, selected
// by these variables.
const (
	crashDirEnv  = "ATRIUM_JETSTREAM_CRASH_DIR"
	crashSyncEnv = "ATRIUM_JETSTREAM_CRASH_SYNC"
)

// crashPayload is the data of every event the writer appends: which append
// it belongs to and its place in it, to check after the crash that every
// append is whole or absent.
type crashPayload struct {
	Append string `json:"append"`
	I      int    `json:"i"`
	Of     int    `json:"of"`
}

// TestKillDashNine kills a process appending from several goroutines
// (single events, atomic batches, appends across two streams) with SIGKILL,
// restarts a server on its data directory, and checks that every
// acknowledged event is there exactly once and every append is whole or
// absent, with JetStream's default fsync interval and with SyncAlways.
func TestKillDashNine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a process")
	}
	for _, sync := range []string{"default", "always"} {
		t.Run("sync "+sync, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			acked, written, took := runAndKill(t, dir, sync, 400)

			start := time.Now()
			srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: dir})
			if err != nil {
				t.Fatalf("restart after kill -9: %v", err)
			}
			t.Cleanup(srv.Shutdown)
			recovery := time.Since(start)
			nc, err := srv.Connect("after crash")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			s, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
			defer cancel()
			stored := readAll(t, s, ctx)

			seen := map[uuid.UUID]int{}
			for _, r := range stored {
				seen[r.ID]++
			}
			lost := 0
			for id := range acked {
				if seen[id] != 1 {
					lost++
					if lost <= 5 {
						t.Errorf("acknowledged event %s is stored %d times", id, seen[id])
					}
				}
			}
			for id, n := range seen {
				if n > 1 {
					t.Errorf("event %s is stored %d times", id, n)
				}
			}
			checkWholeAppends(t, stored)
			t.Logf("sync %s: %d events acknowledged in %s (%d appends begun), %d stored, %d stored but never acknowledged, %d acknowledged and lost; restart took %s",
				sync, len(acked), took.Round(time.Millisecond), written, len(stored), len(stored)-len(acked)+lost, lost, recovery.Round(time.Millisecond))

			// The store goes on where the writer stopped.
			n, _ := streams.NewName("acme", "invoice", uuid.NewString())
			res, err := s.Append(ctx, n, streams.NoStream, someEvents(2)...)
			if err != nil || res.Position != stored[len(stored)-1].Position+2 {
				t.Fatalf("append after restart: %+v, %v; last stored at %d", res, err, stored[len(stored)-1].Position)
			}
		})
	}
}

// runAndKill starts the writer on dir, sends it SIGKILL once it has
// acknowledged at least kill events, and returns the ids of every event it
// acknowledged, how many appends it had begun, and the time from its first
// acknowledgement to the kill.
func runAndKill(t *testing.T, dir, sync string, kill int) (map[uuid.UUID]bool, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSyncEnv+"="+sync)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uuid.UUID]bool{}
	begun := 0
	killed := false
	var first time.Time
	var took time.Duration
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		kind, rest, _ := strings.Cut(lines.Text(), " ")
		switch kind {
		case "ack":
			if first.IsZero() {
				first = time.Now()
			}
			for f := range strings.FieldsSeq(rest) {
				id, err := uuid.Parse(f)
				if err != nil {
					t.Fatalf("writer said %q: %v", lines.Text(), err)
				}
				acked[id] = true
			}
		case "begin":
			begun++
		}
		if !killed && len(acked) >= kill {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			took = time.Since(first)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("writer ended with %v after %d acknowledgements: %s", err, len(acked), stderr.String())
	}
	if status, ok := exit.Sys().(syscall.WaitStatus); !killed || !ok || status.Signal() != syscall.SIGKILL {
		t.Fatalf("writer ended with %v after %d acknowledgements (killed: %v): %s", err, len(acked), killed, stderr.String())
	}
	return acked, begun, took
}

func readAll(t *testing.T, s *jetstream.Store, ctx context.Context) []streams.Record {
	t.Helper()
	var all []streams.Record
	var after streams.Position
	for {
		page, err := s.ReadTenant(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
}

// checkWholeAppends checks that every stored append has all its events at
// consecutive positions, and that every stream's versions run 1, 2, 3...
func checkWholeAppends(t *testing.T, stored []streams.Record) {
	t.Helper()
	type part struct {
		n    int
		of   int
		low  streams.Position
		high streams.Position
	}
	appends := map[string]*part{}
	versions := map[streams.Name]streams.Version{}
	for _, r := range stored {
		var p crashPayload
		if err := json.Unmarshal(r.Data, &p); err != nil {
			t.Fatalf("event at %d: %v", r.Position, err)
		}
		a := appends[p.Append]
		if a == nil {
			a = &part{of: p.Of, low: r.Position}
			appends[p.Append] = a
		}
		a.n++
		a.high = r.Position
		if versions[r.Stream]+1 != r.Version {
			t.Errorf("stream %s: version %d after %d", r.Stream, r.Version, versions[r.Stream])
		}
		versions[r.Stream] = r.Version
	}
	for id, a := range appends {
		if a.n != a.of || int(a.high-a.low)+1 != a.of {
			t.Errorf("append %s: %d of its %d events stored, at positions %d to %d", id, a.n, a.of, a.low, a.high)
		}
	}
}

// TestCrashWriter is the writer process of TestKillDashNine: it appends
// until it is killed, printing "begin" before each append and "ack <ids>"
// after each acknowledged one. It does nothing in a normal test run.
func TestCrashWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the writer process of TestKillDashNine")
	}
	srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: dir, SyncAlways: os.Getenv(crashSyncEnv) == "always"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("crash writer")
	if err != nil {
		t.Fatal(err)
	}
	s, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Ends the writer if nobody kills it.
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), "acme"), time.Minute)
	defer cancel()
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	say := func(line string) {
		out.Lock()
		defer out.Unlock()
		// One write per line, shorter than a pipe's atomic write: a line is
		// whole or absent when the process dies.
		if _, err := os.Stdout.WriteString(line + "\n"); err != nil {
			panic(err)
		}
	}
	events := func(n int) []streams.EventData {
		id := uuid.NewString()
		evs := make([]streams.EventData, n)
		for i := range evs {
			data, _ := json.Marshal(crashPayload{Append: id, I: i, Of: n})
			evs[i] = streams.EventData{ID: uuid.New(), Type: "crash.written.v1", Data: data}
		}
		return evs
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			own, _ := streams.NewName("acme", "counter", fmt.Sprint(w))
			var version streams.Version
			for i := 0; ctx.Err() == nil; i++ {
				var parts []streams.Append
				switch i % 4 {
				case 0: // one event on a new stream
					n, _ := streams.NewName("acme", "invoice", uuid.NewString())
					parts = []streams.Append{{Stream: n, Expected: streams.NoStream, Events: events(1)}}
				case 1: // an atomic batch on a new stream
					n, _ := streams.NewName("acme", "invoice", uuid.NewString())
					parts = []streams.Append{{Stream: n, Expected: streams.NoStream, Events: events(3)}}
				case 2: // the writer's own stream, at its version
					parts = []streams.Append{{Stream: own, Expected: streams.Exactly(version), Events: events(2)}}
				case 3: // two streams at once
					n, _ := streams.NewName("acme", "invoice", uuid.NewString())
					parts = []streams.Append{
						{Stream: own, Expected: streams.Exactly(version), Events: events(1)},
						{Stream: n, Expected: streams.NoStream, Events: events(2)},
					}
				}
				say("begin")
				res, err := s.AppendMulti(ctx, parts...)
				if err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return
				}
				if parts[0].Stream == own {
					version = res[0].Version
				}
				var ids []string
				for _, p := range parts {
					for _, e := range p.Events {
						ids = append(ids, e.ID.String())
					}
				}
				say("ack " + strings.Join(ids, " "))
			}
		})
	}
	wg.Wait()
}
