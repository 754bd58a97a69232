// Package jetstream is the NATS JetStream adapter: the event store
// (streams.Store), the projections' event source over watermill-nats, the
// poison queue, and an embedded NATS server for running without any other
// process.
package jetstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// DataDir holds JetStream's files, under DataDir/nats. One server at a
	// time may use it: a second one fails to start.
	DataDir string
	// Listen, when set ("127.0.0.1:4222", "127.0.0.1:0"), also accepts NATS
	// clients over TCP. Empty: in-process connections only.
	Listen string
	// SyncAlways fsyncs every write before it is acknowledged, so that
	// acknowledged events survive a power loss. Without it, JetStream
	// fsyncs every SyncInterval: acknowledged events survive a killed
	// process (kill -9, they are in the OS page cache) but the last
	// interval's may be lost on a power loss or a kernel crash.
	SyncAlways bool
	// SyncInterval is how often JetStream fsyncs when not SyncAlways; zero
	// keeps the server's default (2 minutes).
	SyncInterval time.Duration
	// ReadyTimeout bounds the start-up, recovery of the stored streams
	// included; default 30s.
	ReadyTimeout time.Duration
	// Logger, when set, receives the server's warnings and errors; by
	// default the server logs nothing.
	Logger *slog.Logger
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
	if c.Listen != "" {
		if _, _, err := splitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("jetstream server: Listen %q: %w", c.Listen, err))
		}
	}
	if c.SyncAlways && c.SyncInterval != 0 {
		errs = append(errs, errors.New("jetstream server: SyncAlways and SyncInterval are exclusive"))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, errors.New("jetstream server: SyncInterval is negative"))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, errors.New("jetstream server: ReadyTimeout is negative"))
	}
	return errors.Join(errs...)
}

// Server is a NATS server with JetStream running in this process.
type Server struct {
	ns     *server.Server
	unlock func()
	once   sync.Once
}

// StartServer starts an embedded NATS server with JetStream, its files in
// DataDir/nats, and returns once it accepts connections and has recovered
// its streams. It fails at once, with the server's reason, when JetStream
// cannot start (an unwritable or locked directory).
func StartServer(cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	storeDir := filepath.Join(cfg.DataDir, "nats")
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return nil, fmt.Errorf("jetstream server: %w", err)
	}
	unlock, err := lockDir(storeDir)
	if err != nil {
		return nil, fmt.Errorf("jetstream server: %s: %w", storeDir, err)
	}
	opts := &server.Options{
		ServerName:         "atrium",
		JetStream:          true,
		StoreDir:           storeDir,
		SyncAlways:         cfg.SyncAlways,
		SyncInterval:       cfg.SyncInterval,
		NoSigs:             true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		opts.Host, opts.Port, _ = splitHostPort(cfg.Listen)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("jetstream server: %w", err)
	}
	log := &serverLog{log: cfg.Logger, fatal: make(chan string, 1)}
	ns.SetLoggerV2(log, false, false, false)
	ns.Start() // returns once JetStream is up, or has failed
	select {
	case reason := <-log.fatal:
		ns.Shutdown()
		unlock()
		return nil, fmt.Errorf("jetstream server: %s", reason)
	default:
	}
	if !ns.ReadyForConnections(cfg.ReadyTimeout) || !ns.JetStreamEnabled() {
		ns.Shutdown()
		unlock()
		return nil, fmt.Errorf("jetstream server: not ready after %s", cfg.ReadyTimeout)
	}
	return &Server{ns: ns, unlock: unlock}, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if p == 0 {
		// A free port, as for net.Listen: the server takes 0 as its
		// default, 4222.
		p = server.RANDOM_PORT
	}
	return host, p, nil
}

// Connect returns a client connection to the server. It is in-process (no
// socket) even when the server also listens on TCP. The connection
// reconnects while the server runs; close or drain it before Shutdown.
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

// ClientURL is the server's TCP URL ("nats://127.0.0.1:4222"), empty when
// it does not listen.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server, waits for it to finish and releases its data
// directory. It may be called more than once.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.unlock()
	})
}

// serverLog is the server's logger: warnings and errors to an optional
// slog logger, the rest dropped, and the first fatal error kept for
// StartServer (the server's own fatal logging would exit the process).
type serverLog struct {
	log   *slog.Logger
	fatal chan string
}

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	select {
	case l.fatal <- msg:
	default:
	}
	if l.log != nil {
		l.log.Error("nats server: " + msg)
	}
}

func (l *serverLog) Errorf(format string, v ...any) {
	if l.log != nil {
		l.log.Error("nats server: " + fmt.Sprintf(format, v...))
	}
}

func (l *serverLog) Warnf(format string, v ...any) {
	if l.log != nil {
		l.log.Warn("nats server: " + fmt.Sprintf(format, v...))
	}
}

func (*serverLog) Noticef(string, ...any) {}
func (*serverLog) Debugf(string, ...any)  {}
func (*serverLog) Tracef(string, ...any)  {}
