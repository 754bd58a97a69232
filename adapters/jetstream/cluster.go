package jetstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ClusterConfig configures a cluster of NATS servers run in this process,
// for tests and benchmarks of what runs on a production cluster.
type ClusterConfig struct {
	// Nodes is how many servers; default 3.
	Nodes int
	// DataDir holds each node's JetStream files, under DataDir/<node name>.
	DataDir string
	// Name is the cluster's; default "atrium-" and a random suffix, so
	// that two clusters on one machine never join: a node stopped frees
	// its route port, which another cluster's new node may take.
	Name string
	// ReadyTimeout bounds the start of each node and the election of the
	// JetStream meta leader; default 30s.
	ReadyTimeout time.Duration
	// MaxStore is each node's JetStream file storage limit; default 4 GiB.
	// The same on every node, as a production cluster's max_file_store:
	// JetStream places a stream of one replica on the node with the most
	// storage left, then on the one holding the fewest streams.
	MaxStore int64
	// Logger, when set, receives the servers' warnings and errors.
	Logger *slog.Logger
}

func (c *ClusterConfig) setDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Name == "" {
		c.Name = "atrium-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	if c.MaxStore == 0 {
		c.MaxStore = 4 << 30
	}
}

// Validate reports every problem of c.
func (c ClusterConfig) Validate() error {
	var errs []error
	if c.Nodes < 2 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("jetstream cluster: Nodes %d, want 2 to 9", c.Nodes))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("jetstream cluster: DataDir is empty"))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, errors.New("jetstream cluster: ReadyTimeout is negative"))
	}
	return errors.Join(errs...)
}

// Cluster is a NATS cluster with JetStream running in this process: its
// nodes listen for clients and for each other's routes on loopback, each
// with its own store directory. A node may be stopped and restarted on the
// same ports and files, as a server that crashed or was rebooted.
type Cluster struct {
	cfg ClusterConfig

	mu    sync.Mutex
	nodes []*clusterNode
}

// clusterNode is one server of a Cluster; ns is nil while it is stopped.
type clusterNode struct {
	name       string
	storeDir   string
	clientPort int
	routePort  int
	ns         *server.Server
	unlock     func()
}

// StartCluster starts cfg.Nodes servers routed to one another and returns
// once every one accepts clients and JetStream has elected its meta leader.
// Ports are chosen free on 127.0.0.1; if one is taken before its server
// binds it, the start is tried again with others.
func StartCluster(cfg ClusterConfig) (*Cluster, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	for range 3 {
		c, err := startCluster(cfg)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// errPortTaken: a port chosen free was taken before the server bound it.
var errPortTaken = errors.New("port taken")

func startCluster(cfg ClusterConfig) (*Cluster, error) {
	ports, err := freePorts(2 * cfg.Nodes)
	if err != nil {
		return nil, fmt.Errorf("jetstream cluster: %w", err)
	}
	c := &Cluster{cfg: cfg}
	for i := range cfg.Nodes {
		c.nodes = append(c.nodes, &clusterNode{
			name:       "n" + strconv.Itoa(i+1),
			storeDir:   filepath.Join(cfg.DataDir, "n"+strconv.Itoa(i+1)),
			clientPort: ports[2*i],
			routePort:  ports[2*i+1],
		})
	}
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.WaitForMetaLeader(cfg.ReadyTimeout); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// freePorts returns n ports free on 127.0.0.1 now.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// routes are the route URLs of every node, the node's own included (a
// server ignores the route to itself): JetStream sizes its first meta
// group by the routes configured.
func (c *Cluster) routes() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = "nats://127.0.0.1:" + strconv.Itoa(n.routePort)
	}
	return out
}

// start starts node n on its ports and files.
func (c *Cluster) start(n *clusterNode) error {
	if err := os.MkdirAll(n.storeDir, 0o750); err != nil {
		return fmt.Errorf("jetstream cluster: %w", err)
	}
	unlock, err := lockDir(n.storeDir)
	if err != nil {
		return fmt.Errorf("jetstream cluster: %s: %w", n.storeDir, err)
	}
	opts := &server.Options{
		ServerName:         n.name,
		Host:               "127.0.0.1",
		Port:               n.clientPort,
		JetStream:          true,
		StoreDir:           n.storeDir,
		NoSigs:             true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  c.cfg.MaxStore,
		Cluster:            server.ClusterOpts{Name: c.cfg.Name, Host: "127.0.0.1", Port: n.routePort},
		Routes:             server.RoutesFromStr(strings.Join(c.routes(), ",")),
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return fmt.Errorf("jetstream cluster: %s: %w", n.name, err)
	}
	log := &serverLog{log: c.cfg.Logger, fatal: make(chan string, 1)}
	ns.SetLoggerV2(log, false, false, false)
	ns.Start()
	if err := waitReady(ns, log, c.cfg.ReadyTimeout); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock()
		return fmt.Errorf("jetstream cluster: %s: %w", n.name, err)
	}
	n.ns, n.unlock = ns, unlock
	return nil
}

var errNotReady = errors.New("not ready")

// waitReady waits until ns accepts clients and routes, with JetStream on,
// or reports the fatal error it logged (a port it could not bind, which
// it reports after Start has returned).
func waitReady(ns *server.Server, log *serverLog, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case reason := <-log.fatal:
			if strings.Contains(reason, "address already in use") {
				return fmt.Errorf("%s: %w", reason, errPortTaken)
			}
			return errors.New(reason)
		default:
		}
		if ns.ReadyForConnections(50*time.Millisecond) && ns.JetStreamEnabled() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, errNotReady)
		}
	}
}

// WaitForMetaLeader waits, at most timeout, until the running nodes have
// a JetStream meta leader, every one of them is current with it, and the
// leader can place streams on every one (it has heard from each).
func (c *Cluster) WaitForMetaLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c.metaReady() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jetstream cluster: no JetStream meta leader with every node after %s: %w", timeout, errNotReady)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) metaReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var leader *server.Server
	running := 0
	for _, n := range c.nodes {
		if n.ns == nil {
			continue
		}
		running++
		if !n.ns.JetStreamIsCurrent() {
			return false
		}
		if n.ns.JetStreamIsLeader() {
			leader = n.ns
		}
	}
	return leader != nil && len(leader.JetStreamClusterPeers()) == running
}

// Nodes returns the nodes' names (n1, n2, ...), running or not.
func (c *Cluster) Nodes() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.name
	}
	return out
}

func (c *Cluster) node(name string) (*clusterNode, error) {
	for _, n := range c.nodes {
		if n.name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("jetstream cluster: no node %q", name)
}

// ClientURLs lists every node's client URL, comma-separated, as
// ATRIUM_NATS_URL takes them: a client reconnects to another node when its
// own stops.
func (c *Cluster) ClientURLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = "nats://127.0.0.1:" + strconv.Itoa(n.clientPort)
	}
	return strings.Join(urls, ",")
}

// Connect returns a client connection to the cluster that reconnects, to
// any node, for ever.
func (c *Cluster) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(c.ClientURLs(), nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		return nil, fmt.Errorf("jetstream cluster: connect: %w", err)
	}
	return nc, nil
}

// ConnectTo returns a client connection to node name alone, as a client
// whose server is that node: the requests it sends that any replica of
// a stream may answer are answered by that node's replica.
func (c *Cluster) ConnectTo(node, name string) (*nats.Conn, error) {
	c.mu.Lock()
	n, err := c.node(node)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(n.clientPort), nats.Name(name), nats.IgnoreDiscoveredServers(),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		return nil, fmt.Errorf("jetstream cluster: connect to %s: %w", node, err)
	}
	return nc, nil
}

// Stop shuts node name down, as a crashed server: its files stay, its
// ports are freed. Stopping a stopped node does nothing.
func (c *Cluster) Stop(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(name)
	if err != nil {
		return err
	}
	n.stop()
	return nil
}

func (n *clusterNode) stop() {
	if n.ns == nil {
		return
	}
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	n.unlock()
	n.ns, n.unlock = nil, nil
}

// Restart starts a stopped node again, on its ports and files, and waits
// until it is current with the meta leader. Restarting a running node
// does nothing.
func (c *Cluster) Restart(name string) error {
	c.mu.Lock()
	n, err := c.node(name)
	if err == nil && n.ns == nil {
		err = c.start(n)
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.WaitForMetaLeader(c.cfg.ReadyTimeout)
}

// StreamLeader returns the name of the node leading stream (of the
// default account), "" while it has none among the running nodes.
func (c *Cluster) StreamLeader(stream string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.ns != nil && n.ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return n.name
		}
	}
	return ""
}

// Shutdown stops every node. It may be called more than once.
func (c *Cluster) Shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(n.stop)
	}
	wg.Wait()
}
