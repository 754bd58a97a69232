// Package jetstream is the NATS JetStream adapter: the event store
// (streams.Store), the projections' event source over watermill-nats, the
// poison queue, and an embedded NATS server for running without any other
// process.
package jetstream

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// DataDir holds JetStream's files, under DataDir/nats.
	DataDir string
	// Listen, when set ("127.0.0.1:4222", "127.0.0.1:0"), also accepts NATS
	// clients over TCP. Empty: in-process connections only.
	Listen string
	// SyncAlways fsyncs every acknowledged write before the acknowledgement.
	SyncAlways bool
	// SyncInterval is how often JetStream fsyncs otherwise; zero keeps the
	// server's default (2 minutes). Acknowledged writes survive a killed
	// process either way (they are in the OS page cache); only SyncAlways
	// makes them survive a power loss.
	SyncInterval time.Duration
	// ReadyTimeout bounds the start-up; default 30s.
	ReadyTimeout time.Duration
}

func (c *ServerConfig) setDefaults() {
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 30 * time.Second
	}
}

// Validate reports every problem of c.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("jetstream server: DataDir is empty"))
	}
	if c.SyncAlways && c.SyncInterval != 0 {
		errs = append(errs, errors.New("jetstream server: SyncAlways and SyncInterval are exclusive"))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, errors.New("jetstream server: SyncInterval is negative"))
	}
	return errors.Join(errs...)
}

// Server is a NATS server with JetStream running in this process.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server and waits until it is ready.
func StartServer(cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName:         "atrium",
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "nats"),
		SyncAlways:         cfg.SyncAlways,
		SyncInterval:       cfg.SyncInterval,
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("jetstream server: listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("jetstream server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("jetstream server: not ready after %s", cfg.ReadyTimeout)
	}
	return &Server{ns: ns}, nil
}

func splitHostPort(addr string) (string, int, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			p, err := strconv.Atoi(addr[i+1:])
			if err != nil || p < 0 || p > 65535 {
				return "", 0, fmt.Errorf("bad port %q", addr[i+1:])
			}
			host := addr[:i]
			if host == "" {
				host = "0.0.0.0"
			}
			return host, p, nil
		}
	}
	return "", 0, errors.New("want host:port")
}

// Connect returns a client connection to the server: in-process when it does
// not listen on TCP.
func (s *Server) Connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name), nats.InProcessServer(s.ns), nats.MaxReconnects(-1),
		// Asynchronous errors of an in-process pipe only happen while the
		// server shuts down; the default handler would print them.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream server: connect: %w", err)
	}
	return nc, nil
}

// ClientURL is the server's TCP URL, empty when it does not listen.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
