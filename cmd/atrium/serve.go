package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/streams"
)

type serveCmd struct {
	config
}

// Run starts the process and blocks until SIGINT or SIGTERM.
func (s *serveCmd) Run() error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("bad configuration: %s", oneLine(err))
	}
	log := s.logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	app, err := s.start(ctx, log)
	if err != nil {
		return err
	}
	defer app.close(log)

	errc := make(chan error, 1)
	go func() { errc <- app.http.Listen(s.HTTPAddr) }()
	log.Info("atrium serving", "addr", s.HTTPAddr, "data_dir", s.DataDir, "tenants", len(app.catalog.list()))
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	}
}

// system is a running Atrium: every component, wired.
type system struct {
	nc       *nats.Conn
	server   *jetstream.Server
	store    *jetstream.Store
	registry *streams.Registry
	reads    *sqlite.Store
	runner   *projections.Runner
	source   *jetstream.Source
	invoices *invoicecmd.Handler
	catalog  *catalog
	http     *fiber.App
	closers  []func() error
}

func (s *system) close(log *slog.Logger) {
	if s.http != nil {
		if err := s.http.ShutdownWithTimeout(10 * time.Second); err != nil {
			log.Error("http shutdown", "err", err)
		}
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			log.Error("shutdown", "err", err)
		}
	}
}

// defaultThreshold is the invoice validation threshold until per-tenant
// settings exist: invoices of 10,000.00 or more wait for approval.
const defaultThreshold = 1_000_000

// fixedSettings answers the same validation threshold for every tenant, in the
// currency asked for by the invoice being issued.
type fixedSettings struct{}

func (fixedSettings) ValidationThreshold(ctx context.Context) (money.Money, error) {
	if _, err := tenant.From(ctx); err != nil {
		return money.Money{}, err
	}
	return money.New(defaultThreshold, "EUR"), nil
}

// catalog is the set of provisioned tenants. At this stage it is derived from
// the event store (a tenant exists when its event stream does); the
// event-sourced platform catalog replaces it.
type catalog struct {
	mu      sync.RWMutex
	tenants map[tenant.ID]bool
}

func (c *catalog) has(_ context.Context, t tenant.ID) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tenants[t]
}

func (c *catalog) add(t tenant.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tenants[t] = true
}

func (c *catalog) list() []tenant.ID {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]tenant.ID, 0, len(c.tenants))
	for t := range c.tenants {
		out = append(out, t)
	}
	return out
}

// loadCatalog lists the tenants whose event streams exist.
func loadCatalog(ctx context.Context, store *jetstream.Store) (*catalog, error) {
	ts, err := store.Tenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	c := &catalog{tenants: map[tenant.ID]bool{}}
	for _, t := range ts {
		if _, err := tenant.ParseClient(string(t)); err == nil {
			c.tenants[t] = true
		}
	}
	return c, nil
}

// openTenant provisions a tenant's event stream and read database, migrates
// its read models and starts its projections.
func (s *system) openTenant(ctx context.Context, t tenant.ID, projectors []projections.Projector) error {
	tctx := tenant.With(ctx, t)
	if err := s.store.Provision(tctx); err != nil {
		return fmt.Errorf("provision %s: %w", t, err)
	}
	if err := s.reads.Migrate(tctx, projectors...); err != nil {
		return fmt.Errorf("migrate %s: %w", t, err)
	}
	if err := s.runner.Start(tctx); err != nil {
		return fmt.Errorf("project %s: %w", t, err)
	}
	s.catalog.add(t)
	return nil
}

func (s *serveCmd) start(ctx context.Context, log *slog.Logger) (*system, error) {
	sys := &system{}
	fail := func(err error) (*system, error) {
		sys.close(log)
		return nil, err
	}
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	fresh, err := isEmptyDir(s.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}

	if s.NATSURL == "" {
		always, interval, _ := s.syncPolicy()
		srv, err := jetstream.StartServer(jetstream.ServerConfig{
			DataDir: s.DataDir, Listen: s.NATSListen, SyncAlways: always, SyncInterval: interval,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		sys.server = srv
		sys.closers = append(sys.closers, func() error { srv.Shutdown(); return nil })
		if sys.nc, err = srv.Connect("atrium"); err != nil {
			return fail(fmt.Errorf("embedded nats: %w", err))
		}
	} else {
		if sys.nc, err = nats.Connect(s.NATSURL, nats.Name("atrium"), nats.MaxReconnects(-1)); err != nil {
			return fail(fmt.Errorf("nats %s: %w", s.NATSURL, err))
		}
	}
	nc := sys.nc
	sys.closers = append(sys.closers, func() error { return nc.Drain() })

	if sys.store, err = jetstream.NewStore(nc, jetstream.StoreConfig{}); err != nil {
		return fail(fmt.Errorf("event store: %w", err))
	}
	sys.registry = streams.NewRegistry()
	invoicecmd.Register(sys.registry)

	if sys.reads, err = sqlite.Open(filepath.Join(s.DataDir, "read"), sqlite.Config{}); err != nil {
		return fail(fmt.Errorf("read store: %w", err))
	}
	sys.closers = append(sys.closers, sys.reads.Close)

	if sys.source, err = jetstream.NewSource(nc, jetstream.QuietLogger(log)); err != nil {
		return fail(fmt.Errorf("bus source: %w", err))
	}
	poison, err := jetstream.NewPoisonPublisher(ctx, nc, jetstream.QuietLogger(log))
	if err != nil {
		return fail(fmt.Errorf("poison queue: %w", err))
	}
	projectors := []projections.Projector{invoicelist.New(), aging.New()}
	if sys.runner, err = projections.NewRunner(projections.RunnerConfig{
		Store: sys.reads, Migrator: sys.reads, Registry: sys.registry, Source: sys.source, Projectors: projectors,
		Poison: poison, Logger: log,
	}); err != nil {
		return fail(fmt.Errorf("projections: %w", err))
	}
	sys.closers = append(sys.closers, sys.runner.Close)

	if sys.catalog, err = loadCatalog(ctx, sys.store); err != nil {
		return fail(err)
	}
	for _, t := range sys.catalog.list() {
		if err := sys.openTenant(ctx, t, projectors); err != nil {
			return fail(err)
		}
	}

	sys.invoices = invoicecmd.NewHandler(sys.store, sys.registry, fixedSettings{}, time.Now)
	if fresh && s.Demo {
		if err := seedDemo(ctx, sys, projectors, log); err != nil {
			return fail(fmt.Errorf("demo seed: %w", err))
		}
	}

	app, err := newHTTP(s, sys, log)
	if err != nil {
		return fail(err)
	}
	sys.http = app
	return sys, nil
}

func isEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	return len(entries) == 0, nil
}
