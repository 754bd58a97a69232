package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

// buildNATSServer compiles nats-server from the module go.mod pins, once
// per test binary run.
var buildNATSServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nats-server-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nats-server: %w\n%s", err, out)
	}
	return bin, nil
})

// natsNode is one nats-server process of a cluster on loopback.
type natsNode struct {
	name, client, conf string
	cmd                *exec.Cmd
	logs               *bytes.Buffer // read once the process has ended
}

// startNATSCluster runs n nats-server processes with JetStream, routed to
// each other, and waits until a stream can have n replicas.
func startNATSCluster(t *testing.T, n int) []*natsNode {
	t.Helper()
	bin, err := buildNATSServer()
	if err != nil {
		t.Fatal(err)
	}
	clients, routes := make([]string, n), make([]string, n)
	for i := range n {
		clients[i], routes[i] = freeAddr(t), freeAddr(t)
	}
	// A name of its own: a node stopped frees its route port, which a
	// server of another cluster on this machine may take.
	name := fmt.Sprintf("atrium-%d-%d", os.Getpid(), time.Now().UnixNano())
	var nodes []*natsNode
	for i := range n {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, fmt.Sprintf("nats-route://%s", r))
			}
		}
		dir := t.TempDir()
		conf := filepath.Join(dir, "nats.conf")
		text := fmt.Sprintf("server_name: n%d\nlisten: %q\njetstream { store_dir: %q }\ncluster {\n  name: %s\n  listen: %q\n  routes: [%s]\n}\n",
			i+1, clients[i], filepath.Join(dir, "js"), name, routes[i], strings.Join(quoteAll(others), ", "))
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &natsNode{name: fmt.Sprintf("n%d", i+1), client: "nats://" + clients[i], conf: conf})
	}
	for _, nd := range nodes {
		nd.start(t, bin)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.kill()
			if t.Failed() {
				t.Logf("nats-server %s output:\n%s", nd.name, tail(nd.logs.String(), 4000))
			}
		}
	})
	nc := connectCluster(t, nodes)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Ready when a stream can be placed on every node.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "READY", Subjects: []string{"ready"}, Replicas: n, Storage: natsjs.MemoryStorage})
		if err == nil {
			err = js.DeleteStream(ctx, "READY")
		}
		cancel()
		if err == nil {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS cluster cannot place a stream on its %d nodes after 30s: %v", n, err)
		}
		time.Sleep(200 * time.Millisecond) // polling processes we do not control
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func (nd *natsNode) start(t *testing.T, bin string) {
	t.Helper()
	nd.logs = &bytes.Buffer{}
	nd.cmd = exec.Command(bin, "-c", nd.conf)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.logs, nd.logs
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// kill ends the node as a crash does: SIGKILL, nothing flushed.
func (nd *natsNode) kill() {
	if nd.cmd == nil || nd.cmd.Process == nil {
		return
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	_ = nd.cmd.Wait()
	nd.cmd = nil
}

func clusterURL(nodes []*natsNode) string {
	var urls []string
	for _, nd := range nodes {
		urls = append(urls, nd.client)
	}
	return strings.Join(urls, ",")
}

func connectCluster(t *testing.T, nodes []*natsNode) *nats.Conn {
	t.Helper()
	var (
		nc  *nats.Conn
		err error
	)
	for range 100 {
		if nc, err = nats.Connect(clusterURL(nodes), nats.MaxReconnects(-1)); err == nil {
			t.Cleanup(nc.Close)
			return nc
		}
		time.Sleep(100 * time.Millisecond) // the processes are still starting
	}
	t.Fatalf("connect to the NATS cluster: %v", err)
	return nil
}

// outcomes records when requests of one kind succeeded and failed, and
// how long they took.
type outcomes struct {
	mu       sync.Mutex
	ok, fail int
	failures []time.Time
	last     string
	took     []timed
}

type timed struct {
	start time.Time
	took  time.Duration
}

func (o *outcomes) record(start time.Time, ok bool, what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.took = append(o.took, timed{start, time.Since(start)})
	if ok {
		o.ok++
		return
	}
	o.fail++
	o.failures = append(o.failures, start)
	o.last = what
}

// slowest is the longest answer of a request sent at or after from.
func (o *outcomes) slowest(from time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	var m time.Duration
	for _, t := range o.took {
		if !t.start.Before(from) {
			m = max(m, t.took)
		}
	}
	return m
}

// since reports the failed requests sent at or after from: how many, and
// the time from `from` to the sending of the last of them.
func (o *outcomes) since(from time.Time) (n int, window time.Duration, last string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range o.failures {
		if !f.Before(from) {
			n++
			window = f.Sub(from)
		}
	}
	return n, window, o.last
}

func (o *outcomes) total() (ok, fail int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok, o.fail
}

// TestFailoverOnNATSCluster runs two `atrium serve` on a 3-node NATS
// cluster (nats-server processes built from the pinned module) with every
// JetStream asset replicated 3 times, the second instance started after
// the tenants exist. Under a load of commands, reads and logins through
// both instances, the node leading the most tenant streams is killed with
// SIGKILL. Commands, reads and logins answer again within seconds, once new
// leaders are elected; every command acknowledged is there once, with its
// values, read through both instances; a command refused (a stale If-Match)
// changed nothing. The node is started again and catches up.
func TestFailoverOnNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server and the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	nodes := startNATSCluster(t, 3)
	env := []string{"ATRIUM_NATS_URL=" + clusterURL(nodes), "ATRIUM_NATS_REPLICAS=3"}
	tenants := []string{"acme", "globex"}
	addrA, addrB := freeAddr(t), freeAddr(t)
	startServe(t, bin, t.TempDir(), addrA, true, env...)

	// Data before B exists.
	first := &apiClient{base: "http://" + addrA + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	first.login(t, "finance")
	resp, body, err := first.do("POST", "/invoices", "", `{"client":{"id":"C-EARLY","name":"Early Ltd"},"currency":"EUR","due_date":"2027-01-31","lines":[{"description":"Work","quantity":1,"unit_price":{"amount":4200,"currency":"EUR"}}]}`, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create through A: %v %d %s", err, resp.StatusCode, body)
	}
	var early struct {
		ID       string `json:"id"`
		Position uint64 `json:"position"`
	}
	if err := json.Unmarshal(body, &early); err != nil {
		t.Fatal(err)
	}
	startServe(t, bin, t.TempDir(), addrB, true, env...)
	late := &apiClient{base: "http://" + addrB + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	late.login(t, "finance")
	if resp, body, err := late.do("GET", "/invoices/"+early.ID, "", "", readAfter(early.Position)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("B, started after the tenants existed: the invoice created through A: %v %d %s", err, resp.StatusCode, body)
	}

	// Every asset is replicated 3 times.
	nc := connectCluster(t, nodes)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[string]int{}
	for _, tn := range tenants {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := js.Stream(ctx, jetstream.TenantStreamPrefix+tn)
		cancel()
		if err != nil {
			t.Fatalf("stream of %s: %v", tn, err)
		}
		info := st.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("stream of %s: %d replicas configured, cluster %+v; want 3", tn, info.Config.Replicas, info.Cluster)
		}
		leaders[info.Cluster.Leader]++
	}
	victim := ""
	for name, n := range leaders {
		if victim == "" || n > leaders[victim] || (n == leaders[victim] && name < victim) {
			victim = name
		}
	}
	var victimNode *natsNode
	for _, nd := range nodes {
		if nd.name == victim {
			victimNode = nd
		}
	}
	if victimNode == nil {
		t.Fatalf("the leader %q of the tenant streams is none of the nodes", victim)
	}

	// The load: through both instances, for both tenants, commands (each
	// retried with its Idempotency-Key until acknowledged, as a client
	// does), reads and logins; a 429 is waited out as its Retry-After says.
	type ack struct {
		id     string
		amount int64
		pos    int64
		at     time.Time
		via    string
	}
	var (
		mu       sync.Mutex
		acked    = map[string][]ack{}
		refused  = map[string][]string{}
		maxPos   = map[string]int64{}
		commands outcomes
		reads    outcomes
		logins   outcomes
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, addr := range []string{addrA, addrB} {
		for _, tn := range tenants {
			api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 15 * time.Second}}
			loginTo(t, api, tn, "finance@demo.example")
			hdr := func(extra ...string) map[string]string {
				h := map[string]string{"X-Tenant": tn}
				for k := 0; k+1 < len(extra); k += 2 {
					h[extra[k]] = extra[k+1]
				}
				return h
			}
			wg.Add(2)
			go func() { // commands
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					amount := int64(100 + n)
					client := fmt.Sprintf("C-FO-%d-%s", i, tn)
					key := fmt.Sprintf("fo-%d-%s-%d", i, tn, n)
					body := fmt.Sprintf(`{"client":{"id":%q,"name":"Failover"},"currency":"EUR","due_date":"2027-01-31","lines":[{"description":"x","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, client, amount)
					var created struct {
						ID       string `json:"id"`
						Version  int    `json:"version"`
						Position int64  `json:"position"`
					}
					// Once sent, a command is retried until acknowledged,
					// even past the end of the load.
					for deadline := time.Now().Add(60 * time.Second); ; {
						start := time.Now()
						resp, b, err := api.do("POST", "/invoices", "", body, hdr("Idempotency-Key", key))
						if err == nil && resp.StatusCode == http.StatusCreated {
							commands.record(start, true, "")
							if err := json.Unmarshal(b, &created); err != nil {
								t.Errorf("create answer %s: %v", b, err)
								return
							}
							break
						}
						if err == nil && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
							t.Errorf("create through %s for %s: %d %s", addr, tn, resp.StatusCode, b)
							return
						}
						commands.record(start, false, fmt.Sprint(err, resp.StatusCode, string(b)))
						if time.Now().After(deadline) {
							t.Errorf("a command through %s for %s not acknowledged in 60s: %v %d %s", addr, tn, err, resp.StatusCode, b)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
					mu.Lock()
					acked[tn] = append(acked[tn], ack{created.ID, amount, created.Position, time.Now(), addr})
					maxPos[tn] = max(maxPos[tn], created.Position)
					mu.Unlock()
					time.Sleep(20 * time.Millisecond) // a steady load, under the tenant's rate limit
					if n%5 == 0 {
						// A stale If-Match: refused, whatever else fails.
						start := time.Now()
						resp, b, err := api.do("POST", "/invoices/"+created.ID+"/issue", "", "", hdr("If-Match", `"7"`))
						switch {
						case err == nil && resp.StatusCode == http.StatusPreconditionFailed:
							commands.record(start, true, "")
							mu.Lock()
							refused[tn] = append(refused[tn], created.ID)
							mu.Unlock()
						case err == nil && resp.StatusCode < 500:
							t.Errorf("a stale If-Match through %s: %d %s", addr, resp.StatusCode, b)
						default:
							commands.record(start, false, fmt.Sprint(err, resp.StatusCode, string(b)))
						}
					}
				}
			}()
			go func() { // reads
				defer wg.Done()
				for ctx.Err() == nil {
					start := time.Now()
					resp, b, err := api.do("GET", "/invoices?limit=5", "", "", hdr())
					reads.record(start, err == nil && resp.StatusCode == http.StatusOK, fmt.Sprint(err, resp.StatusCode, string(b)))
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
		wg.Add(1)
		go func() { // logins, as different members in turn
			defer wg.Done()
			api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 15 * time.Second}}
			emails := []string{"finance@demo.example", "manager@demo.example", "sales@demo.example"}
			for n := 0; ctx.Err() == nil; n++ {
				body := fmt.Sprintf(`{"email":%q,"password":%q}`, emails[n%len(emails)], DemoPassword)
				start := time.Now()
				resp, b, err := api.do("POST", "/auth/login", "", body, map[string]string{"X-Tenant": tenants[n%len(tenants)]})
				logins.record(start, err == nil && resp.StatusCode == http.StatusOK, fmt.Sprint(err, resp.StatusCode, string(b)))
				time.Sleep(300 * time.Millisecond)
			}
		}()
	}

	time.Sleep(4 * time.Second)
	for name, o := range map[string]*outcomes{"commands": &commands, "reads": &reads, "logins": &logins} {
		if ok, fail := o.total(); ok == 0 || fail > 0 {
			t.Fatalf("before any node died, %s: %d answered, %d failed (last: %s)", name, ok, fail, o.last)
		}
	}
	var led []string
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	for info := range js.ListStreams(lctx).Info() {
		if info.Cluster != nil && info.Cluster.Leader == victim {
			led = append(led, info.Config.Name)
		}
	}
	lcancel()
	killedAt := time.Now()
	victimNode.kill()
	t.Logf("killed %s, the leader of %d of %d tenant streams; it led %v", victim, leaders[victim], len(tenants), led)
	time.Sleep(20 * time.Second)
	for name, o := range map[string]*outcomes{"commands": &commands, "reads": &reads, "logins": &logins} {
		// None had failed at the check above: every failure was in flight
		// at the kill, or sent later.
		ok, n := o.total()
		_, window, last := o.since(killedAt)
		t.Logf("%s: %d failed of %d sent in the test (the last failed one sent %s after the kill: %s); the slowest answer after the kill took %s",
			name, n, ok+n, window.Round(10*time.Millisecond), tail(last, 120), o.slowest(killedAt).Round(10*time.Millisecond))
		if window > 10*time.Second {
			t.Errorf("%s still failed when sent %s after the node died", name, window.Round(10*time.Millisecond))
		}
	}

	// The node comes back and catches up.
	restartedAt := time.Now()
	t.Logf("restarting %s %s after the kill", victim, restartedAt.Sub(killedAt).Round(time.Millisecond))
	bin2, _ := buildNATSServer()
	victimNode.start(t, bin2)
	deadline := time.Now().Add(60 * time.Second)
	for _, tn := range tenants {
		for {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := js.Stream(cctx, jetstream.TenantStreamPrefix+tn)
			cancel()
			current := false
			if err == nil && st.CachedInfo().Cluster != nil {
				for _, r := range st.CachedInfo().Cluster.Replicas {
					if r.Name == victim && r.Current && r.Lag == 0 {
						current = true
					}
				}
				if st.CachedInfo().Cluster.Leader == victim {
					current = true
				}
			}
			if current {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has not caught up on %s's stream a minute after its restart: %v %+v", victim, tn, err, st)
			}
			time.Sleep(200 * time.Millisecond) // polling the cluster's state
		}
	}
	t.Logf("%s caught up on every tenant stream %s after its restart", victim, time.Since(restartedAt).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second)
	stop()
	wg.Wait()
	for name, o := range map[string]*outcomes{"commands": &commands, "reads": &reads, "logins": &logins} {
		if n, _, last := o.since(restartedAt); n > 0 {
			t.Errorf("%s: %d failed after the node came back (last: %s)", name, n, tail(last, 200))
		}
	}

	// Every acknowledged command is there once, with its values, through
	// both instances; every refused one changed nothing.
	for _, addr := range []string{addrA, addrB} {
		api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 30 * time.Second}}
		for _, tn := range tenants {
			loginTo(t, api, tn, "finance@demo.example")
			mu.Lock()
			want := map[string]int64{}
			byID := map[string]ack{}
			for _, a := range acked[tn] {
				want[a.id] = a.amount
				byID[a.id] = a
			}
			pos := maxPos[tn]
			mu.Unlock()
			got := map[string]int64{}
			status := map[string]string{}
			for i := range 2 {
				cursor := ""
				for {
					h := map[string]string{"X-Tenant": tn, "X-Read-After": fmt.Sprint(pos)}
					resp, b, err := api.do("GET", fmt.Sprintf("/invoices?limit=500&client_id=C-FO-%d-%s&cursor=%s", i, tn, cursor), "", "", h)
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Fatalf("%s through %s: list: %v %d %s", tn, addr, err, resp.StatusCode, b)
					}
					var page struct {
						Items []struct {
							ID     string `json:"id"`
							Status string `json:"status"`
							Total  struct {
								Amount int64 `json:"amount"`
							} `json:"total"`
						} `json:"items"`
						Next string `json:"next_cursor"`
					}
					if err := json.Unmarshal(b, &page); err != nil {
						t.Fatal(err)
					}
					for _, it := range page.Items {
						if _, dup := got[it.ID]; dup {
							t.Fatalf("%s through %s: invoice %s listed twice", tn, addr, it.ID)
						}
						got[it.ID] = it.Total.Amount
						status[it.ID] = it.Status
					}
					if page.Next == "" {
						break
					}
					cursor = page.Next
				}
			}
			if len(got) != len(want) {
				t.Errorf("%s through %s: %d invoices of the load, %d commands acknowledged", tn, addr, len(got), len(want))
			}
			for id, amount := range want {
				if got[id] != amount {
					a := byID[id]
					t.Errorf("%s through %s: invoice %s total %d, acknowledged %d at position %d through %s, %s after the kill", tn, addr, id, got[id], amount, a.pos, a.via, a.at.Sub(killedAt).Round(time.Millisecond))
				}
			}
			for _, id := range refused[tn] {
				if status[id] != "draft" {
					t.Errorf("%s through %s: invoice %s is %q after a refused issue", tn, addr, id, status[id])
				}
			}
			t.Logf("%s through %s: %d acknowledged commands, each there once with its total (%d refused issues changed nothing)", tn, addr, len(got), len(refused[tn]))
		}
	}
}
