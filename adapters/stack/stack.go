// Package stack assembles a running Atrium from its adapters: the event
// store, the read store, the projections, the tenant catalog and the
// command handlers. `atrium serve`, the benchmark and the end-to-end tests
// all build the same stack through it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/adapters/admission"
	"github.com/atrium-platform/atrium/adapters/auth"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	objectivecmd "github.com/atrium-platform/atrium/commands/objective"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/catalog"
	"github.com/atrium-platform/atrium/projections/clientrisk"
	"github.com/atrium-platform/atrium/projections/expenselist"
	"github.com/atrium-platform/atrium/projections/invoicelist"
	"github.com/atrium-platform/atrium/projections/memberlist"
	"github.com/atrium-platform/atrium/projections/objectivelist"
	"github.com/atrium-platform/atrium/streams"
)

// Config configures a stack.
type Config struct {
	// DataDir holds the embedded engines' data.
	DataDir string
	// NATSURL names an external NATS server; empty embeds one.
	NATSURL string
	// NATSListen also exposes the embedded server on this address.
	NATSListen string
	// SyncAlways and SyncInterval set the embedded JetStream's fsync policy.
	SyncAlways   bool
	SyncInterval time.Duration
	// BaseDomain is the domain tenants are served under.
	BaseDomain string
	// AccessTTL is an access token's lifetime; default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is a login's lifetime; default 30 days.
	RefreshTTL time.Duration
	// Documents keeps receipts; default the JetStream object store.
	Documents documents.Store
	// Passwords hashes passwords; default argon2id with RFC 9106's
	// parameters. The stack bounds how many run at once (PasswordSlots).
	Passwords identitycmd.Passwords
	// PasswordSlots is how many password hashes or checks run at once;
	// default GOMAXPROCS. Up to 8 per slot wait, served tenant by tenant;
	// beyond, logins answer 503 busy.
	PasswordSlots int
	// NoProjections opens tenants without projecting them (for maintenance
	// commands such as migrate).
	NoProjections bool
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Stack is a running Atrium without its HTTP server.
type Stack struct {
	cfg Config
	log *slog.Logger

	NC         *nats.Conn
	Server     *jetstream.Server
	Store      *jetstream.Store
	Registry   *streams.Registry
	Reads      *sqlite.Store
	Runner     *projections.Runner
	Catalog    *catalog.Catalog
	Invoices   *invoicecmd.Handler
	Tenancy    *tenancycmd.Handler
	Identity   *identitycmd.Handler
	Expenses   *expensecmd.Handler
	Objectives *objectivecmd.Handler
	Documents  documents.Store
	Secrets    *jetstream.Secrets
	Issuer     *auth.Issuer
	Projectors []projections.Projector
	// Work shares the process's work between tenants: their requests and
	// their projections take turns on it, each tenant within its limits.
	Work *admission.Gate
	// Limits are each tenant's limits, the catalog's with this machine's
	// defaults.
	Limits func(tenant.ID) tenancy.Limits

	stopCatalog context.CancelFunc
	catalogDone chan struct{}
	closers     []func() error
	mu          sync.Mutex
}

// Open starts a stack and waits until its catalog has caught up with the
// platform log and every served tenant is being projected.
func Open(ctx context.Context, cfg Config) (s *Stack, err error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseDomain == "" {
		cfg.BaseDomain = "localhost"
	}
	if cfg.Passwords == nil {
		cfg.Passwords = auth.Argon2{}
	}
	// The first check against an unknown email builds the dummy hash; build
	// it now so that first answer is not slower than the others.
	warm := cfg.Passwords
	go func() { _ = warm.Dummy(ctx, "warm up") }()
	if cfg.PasswordSlots == 0 {
		cfg.PasswordSlots = runtime.GOMAXPROCS(0)
	}
	gate, err := admission.New(admission.Config{Slots: cfg.PasswordSlots, QueuePerKey: 8 * cfg.PasswordSlots,
		Queue: 32 * cfg.PasswordSlots, MaxWait: 3 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("password pool: %w", err)
	}
	cfg.Passwords = auth.Pool{Passwords: cfg.Passwords, Gate: gate}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	s = &Stack{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if cfg.NATSURL == "" {
		srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: cfg.DataDir, Listen: cfg.NATSListen, SyncAlways: cfg.SyncAlways, SyncInterval: cfg.SyncInterval})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		s.Server = srv
		s.closers = append(s.closers, func() error { srv.Shutdown(); return nil })
		if s.NC, err = srv.Connect("atrium"); err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
	} else {
		if s.NC, err = nats.Connect(cfg.NATSURL, nats.Name("atrium"), nats.MaxReconnects(-1)); err != nil {
			return nil, fmt.Errorf("nats %s: %w", cfg.NATSURL, err)
		}
	}
	nc := s.NC
	s.closers = append(s.closers, func() error { return drain(nc, 5*time.Second) })

	if s.Store, err = jetstream.NewStore(nc, jetstream.StoreConfig{Now: cfg.Now}); err != nil {
		return nil, fmt.Errorf("event store: %w", err)
	}
	s.Registry = streams.NewRegistry()
	invoicecmd.Register(s.Registry)
	tenancycmd.Register(s.Registry)
	identitycmd.Register(s.Registry)
	expensecmd.Register(s.Registry)
	objectivecmd.Register(s.Registry)

	if s.Reads, err = sqlite.Open(filepath.Join(cfg.DataDir, "read"), sqlite.Config{}); err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	s.closers = append(s.closers, s.Reads.Close)

	wlog := jetstream.QuietLogger(s.log)
	source, err := jetstream.NewSource(nc, wlog)
	if err != nil {
		return nil, fmt.Errorf("event source: %w", err)
	}
	s.closers = append(s.closers, source.Close)
	poison, err := jetstream.NewPoisonPublisher(ctx, nc, wlog)
	if err != nil {
		return nil, fmt.Errorf("poison queue: %w", err)
	}
	defaults := tenancy.DefaultLimits(runtime.GOMAXPROCS(0))
	s.Limits = func(t tenant.ID) tenancy.Limits {
		if s.Catalog == nil {
			return defaults
		}
		st, _ := s.Catalog.Get(t)
		return st.Limits.Or(defaults)
	}
	slots := 16 * runtime.GOMAXPROCS(0)
	if s.Work, err = admission.New(admission.Config{Slots: slots, QueuePerKey: 64, Queue: 64 * slots, MaxWait: 2 * time.Second,
		PerKey: func(key string) int { return s.Limits(tenant.ID(key)).ConcurrentRequests }}); err != nil {
		return nil, fmt.Errorf("work gate: %w", err)
	}
	s.Projectors = []projections.Projector{invoicelist.New(), aging.New(), memberlist.New(), expenselist.New(), objectivelist.New(), clientrisk.New()}
	if s.Runner, err = projections.NewRunner(projections.RunnerConfig{
		Store: s.Reads, Migrator: s.Reads, Registry: s.Registry, Source: source, Projectors: s.Projectors, Scheduler: turns{s.Work},
		Poison: poison, Logger: s.log,
	}); err != nil {
		return nil, fmt.Errorf("projections: %w", err)
	}
	s.closers = append(s.closers, s.Runner.Close)

	// The catalog follows the platform log; each tenant it learns of (here
	// or through another instance) is opened for projection.
	pctx := tenant.With(ctx, tenant.Platform)
	if err := s.Store.Provision(pctx); err != nil {
		return nil, fmt.Errorf("platform stream: %w", err)
	}
	s.Catalog = catalog.New(s.Store, s.Registry)
	s.Catalog.OnChange(s.tenantChanged)
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopCatalog, s.catalogDone = cancel, make(chan struct{})
	go func() {
		defer close(s.catalogDone)
		for cctx.Err() == nil {
			if err := s.Catalog.Run(cctx); err != nil && cctx.Err() == nil {
				s.log.Error("tenant catalog subscription ended; resubscribing", "err", err)
				select {
				case <-time.After(time.Second):
				case <-cctx.Done():
				}
			}
		}
	}()
	head, err := s.Store.Head(pctx)
	if err != nil {
		return nil, fmt.Errorf("platform log: %w", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := s.Catalog.WaitFor(wctx, head); err != nil {
		return nil, fmt.Errorf("tenant catalog: %w", err)
	}

	if s.Secrets, err = jetstream.OpenSecrets(ctx, nc, cfg.RefreshTTL); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	pemKey, err := s.Secrets.SigningKey(ctx, func() ([]byte, error) {
		k, err := auth.NewKey()
		if err != nil {
			return nil, err
		}
		return auth.MarshalKey(k)
	})
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := auth.UnmarshalKey(pemKey)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if s.Issuer, err = auth.NewIssuer(auth.IssuerConfig{Keys: []auth.Key{key}, AccessTTL: cfg.AccessTTL, Now: cfg.Now}); err != nil {
		return nil, err
	}
	if !cfg.NoProjections {
		go s.retryUnprojected(cctx, 30*time.Second)
	}
	s.Identity = identitycmd.NewHandler(s.Store, s.Registry, s.Secrets, s.Secrets, cfg.Passwords, auth.TokenPort{Issuer: s.Issuer}, cfg.Now)
	s.Invoices = invoicecmd.NewHandler(s.Store, s.Registry, settings{s.Catalog}, members{s.Identity}, cfg.Now)
	if s.Documents = cfg.Documents; s.Documents == nil {
		if s.Documents, err = jetstream.NewDocuments(nc); err != nil {
			return nil, fmt.Errorf("documents: %w", err)
		}
	}
	s.Objectives = objectivecmd.NewHandler(s.Store, s.Registry, settings{s.Catalog}, members{s.Identity}, cfg.Now)
	s.Expenses = expensecmd.NewHandler(s.Store, s.Registry, s.Documents, settings{s.Catalog}, cfg.Now)
	s.Tenancy = tenancycmd.NewHandler(s.Store, s.Registry, resources{s}, s.Identity, s.Catalog, cfg.BaseDomain, cfg.Now)
	return s, nil
}

// tenantChanged opens a newly provisioned tenant for projection. Suspended
// tenants keep being projected: suspension stops serving requests, and
// nothing writes to a suspended tenant.
func (s *Stack) tenantChanged(t tenancy.State) {
	if s.cfg.NoProjections {
		return
	}
	ctx := tenant.With(context.Background(), t.ID)
	if err := s.Runner.Start(ctx); err != nil {
		s.log.Error("tenant not projected", "tenant", string(t.ID), "err", err)
	}
}

// Rebuild rebuilds one read model of the ctx tenant from its events: the
// tenant's projections stop, the read model's tables are emptied and its
// checkpoint removed, and projection resumes, replaying every event into
// that read model while the others skip what they have. Other tenants go
// on untouched.
func (s *Stack) Rebuild(ctx context.Context, name string) error {
	var target projections.Projector
	for _, p := range s.Projectors {
		if p.Name() == name {
			target = p
		}
	}
	if target == nil {
		return fmt.Errorf("%w: %q", projections.ErrUnknownReadModel, name)
	}
	if err := s.Runner.Stop(ctx); err != nil {
		return fmt.Errorf("rebuild %s: stop: %w", name, err)
	}
	if err := s.Reads.Reset(ctx, target); err != nil {
		return errors.Join(err, s.Runner.Start(context.WithoutCancel(ctx)))
	}
	return s.Runner.Start(context.WithoutCancel(ctx))
}

// retryUnprojected starts, every interval, the tenants that are not being
// projected: one refused because its read database was behind is picked
// up once `atrium migrate` has run, without a restart.
func (s *Stack) retryUnprojected(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range s.Catalog.List() {
			// Start does nothing for a tenant already projected; it logs a refusal.
			_ = s.Runner.Start(tenant.With(ctx, t.ID))
		}
	}
}

// OpenTenant creates a tenant's resources: its event stream, its read
// database at the latest version of every read model. It is idempotent.
func (s *Stack) OpenTenant(ctx context.Context) error {
	if err := s.Store.Provision(ctx); err != nil {
		return err
	}
	return s.Reads.Migrate(ctx, s.Projectors...)
}

// turns gives projection work its turns on the work gate.
type turns struct{ g *admission.Gate }

func (t turns) Acquire(ctx context.Context, tn tenant.ID) (func(), error) {
	return t.g.Wait(ctx, string(tn))
}

// resources adapts the stack to the provisioning command's port.
type resources struct{ s *Stack }

func (r resources) Provision(ctx context.Context) error { return r.s.OpenTenant(ctx) }

// settings answers the commands' policies from the catalog: for every
// currency the tenant accepts, that currency's policy. A currency without
// a whole policy is left out, so documents in it are refused.
type settings struct{ c *catalog.Catalog }

// InvoicePolicy answers the invoice commands.
func (s settings) InvoicePolicy(ctx context.Context) (invoice.Policy, error) {
	st, err := s.c.Settings(ctx)
	if err != nil {
		return invoice.Policy{}, err
	}
	p := invoice.Policy{Thresholds: map[money.Currency]money.Money{}}
	for _, c := range st.Accepted() {
		if cp, ok := st.PolicyIn(c); ok {
			p.Thresholds[c] = cp.InvoiceValidationThreshold
		}
	}
	return p, nil
}

// ExpensePolicy answers the expense commands.
func (s settings) ExpensePolicy(ctx context.Context) (expense.Policy, error) {
	st, err := s.c.Settings(ctx)
	if err != nil {
		return expense.Policy{}, err
	}
	p := expense.Policy{Categories: st.ExpensePolicy.Categories, MaxReceiptBytes: st.ExpensePolicy.MaxReceiptBytes,
		Limits: map[money.Currency]expense.Limits{}}
	for _, c := range st.Accepted() {
		if cp, ok := st.PolicyIn(c); ok {
			p.Limits[c] = expense.Limits{ReceiptRequiredAbove: cp.ReceiptRequiredAbove, CategoryCeilings: cp.CategoryCeilings}
		}
	}
	return p, nil
}

// Currencies answers the objective commands.
func (s settings) Currencies(ctx context.Context) ([]money.Currency, error) {
	st, err := s.c.Settings(ctx)
	if err != nil {
		return nil, err
	}
	var out []money.Currency
	for _, c := range st.Accepted() {
		if _, ok := st.PolicyIn(c); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// Close stops everything, in reverse order of start.
func (s *Stack) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopCatalog != nil {
		s.stopCatalog()
		<-s.catalogDone
		s.stopCatalog = nil
	}
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// drain flushes what the connection still has to send (acknowledgements,
// unsubscriptions) and waits, at most timeout, until it is closed: Drain
// itself returns at once, and the embedded server shuts down right after.
func drain(nc *nats.Conn, timeout time.Duration) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		if nc.IsClosed() {
			return nil
		}
		return err
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		nc.Close()
	}
	return nil
}
