// Package assembly builds a running Atrium: it chooses the adapters from
// configuration (event store, read store, documents), starts the platform
// (tenant catalog, identity, tenancy, projections, admission) and mounts
// every business module given, without knowing any of them, then the HTTP
// API over all of it. `atrium serve`, `atrium migrate`, the benchmark and
// the end-to-end tests all build the process here, and nowhere else.
package assembly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/atrium-platform/atrium/adapters/admission"
	"github.com/atrium-platform/atrium/adapters/auth"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/minio"
	"github.com/atrium-platform/atrium/adapters/secretbox"
	"github.com/atrium-platform/atrium/commands"
	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/audit"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/modules/module"
	platformaudit "github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/platform/catalog"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/projections/erpsync"
	"github.com/atrium-platform/atrium/projections/memberlist"
	usagereads "github.com/atrium-platform/atrium/projections/usage"
	"github.com/atrium-platform/atrium/streams"
)

// The adapters a Config may choose.
const (
	StoreJetStream = "jetstream"
	StoreSQLite    = "sqlite"
	StorePostgres  = "postgres"
	StoreSQLServer = "sqlserver"
	StoreMinIO     = "minio"
	StoreKurrentDB = "kurrentdb"
)

// Config configures a process.
type Config struct {
	// DataDir holds the embedded engines' data.
	DataDir string
	// EventStore chooses the event store: "jetstream" (the default) or
	// "kurrentdb", the server KurrentDBURL names (NATS still carries the
	// catalog, sessions, leases and ERP messages).
	EventStore string
	// KurrentDBURL is the KurrentDB connection string (ATRIUM_KURRENTDB_URL).
	KurrentDBURL string
	// KurrentDBNamespace prefixes every stream name in KurrentDB; empty by
	// default (ATRIUM_KURRENTDB_NAMESPACE).
	KurrentDBNamespace string
	// ReadStore chooses the read store: "sqlite" (the default), a file per
	// tenant under DataDir, or "postgres" or "sqlserver", a database per
	// tenant on the server ReadServerURL names.
	ReadStore string
	// ReadServerURL reaches the read store's server as an account that may
	// create databases and logins (ATRIUM_POSTGRES_URL or
	// ATRIUM_SQLSERVER_URL).
	ReadServerURL string
	// ReadPrefix starts the names of the tenants' databases and logins on
	// the read store's server; default "atrium_".
	ReadPrefix string
	// ReadMaxConns bounds the connections to the read store's server, all
	// tenants together (ATRIUM_READ_MAX_CONNS); default 50.
	ReadMaxConns int
	// ObjectStore chooses the documents' store: "jetstream" (the default, an
	// object store bucket per tenant) or "minio" (with MinIO).
	ObjectStore string
	MinIO       minio.Config
	// Documents, when set, is the documents' store, whatever ObjectStore
	// says.
	Documents documents.Store
	// NATSURL names an external NATS server, or a cluster's servers
	// (comma-separated URLs); empty embeds one.
	NATSURL string
	// NATSReplicas is how many servers of the NATS cluster keep each
	// JetStream asset (ATRIUM_NATS_REPLICAS): 1 (the default), 3 or 5; more
	// than 1 needs NATSURL. At start the cluster is checked to hold that
	// many, and every existing asset is brought to it (see openEvents and
	// replicate).
	NATSReplicas int
	// NATSListen also exposes the embedded server on this address.
	NATSListen string
	// SyncAlways and SyncInterval set the embedded JetStream's fsync policy.
	SyncAlways   bool
	SyncInterval time.Duration
	// BaseDomain is the domain tenants are served under.
	BaseDomain string
	// ConsoleHosts are host names the operator console answers on besides
	// BaseDomain and loopback.
	ConsoleHosts []string
	// AuditHeadEvery is how many events of a tenant's log go between two
	// recorded heads of its hash chain; default DefaultAuditHeadEvery.
	AuditHeadEvery uint64
	// HTTP configures the API.
	HTTP atriumhttp.Config
	// AccessTTL is an access token's lifetime; default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is a login's lifetime; default 30 days.
	RefreshTTL time.Duration
	// Passwords hashes passwords; default argon2id with RFC 9106's
	// parameters. The process bounds how many run at once (PasswordSlots).
	Passwords identitycmd.Passwords
	// PasswordSlots is how many password hashes or checks run at once;
	// default GOMAXPROCS. Up to 8 per slot wait, served tenant by tenant;
	// beyond, logins answer 503 busy.
	PasswordSlots int
	// SecretKey is the keyring that seals the tenants' integration secrets
	// ("kid:<base64 of 32 bytes>,...", ATRIUM_SECRET_KEY); empty: the key
	// file in DataDir, created on first start.
	SecretKey string
	// ERP configures the ERP sync.
	ERP ERPConfig
	// Usage configures usage metering and billing.
	Usage UsageConfig
	// SSOAllowPrivateIssuers lets tenants' OpenID Connect issuers be on
	// loopback, private and link-local addresses
	// (ATRIUM_SSO_ALLOW_PRIVATE_ISSUERS).
	SSOAllowPrivateIssuers bool
	// NoProjections opens tenants without projecting them (for maintenance
	// commands such as migrate); nothing is sent to ERPs either.
	NoProjections bool
	// SharedReads says the read store is shared by every instance on the
	// NATS (a read server): each tenant is then projected by one instance
	// at a time, under a lease (see lease.go). Off for stores of the
	// instance's own, such as the embedded SQLite files.
	SharedReads bool
	// Ready says when /readyz counts a tenant's projection as failing.
	Ready ReadyConfig
	// Modules are the business domains served, in order (package modules).
	Modules []module.Module
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.EventStore == "" {
		c.EventStore = StoreJetStream
	}
	if c.ReadStore == "" {
		c.ReadStore = StoreSQLite
	}
	if c.ReadStore != StoreSQLite {
		// A server's databases are every instance's: one projects each tenant.
		c.SharedReads = true
	}
	if c.ObjectStore == "" {
		c.ObjectStore = StoreJetStream
	}
	if c.NATSReplicas == 0 {
		c.NATSReplicas = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BaseDomain == "" {
		c.BaseDomain = "localhost"
	}
	if c.Passwords == nil {
		c.Passwords = auth.Argon2{}
	}
	if c.PasswordSlots == 0 {
		c.PasswordSlots = runtime.GOMAXPROCS(0)
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	c.Ready.setDefaults()
}

// Validate reports every problem of c, after defaults.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("assembly: no data directory"))
	}
	switch c.EventStore {
	case StoreJetStream:
	case StoreKurrentDB:
		if c.KurrentDBURL == "" {
			errs = append(errs, errors.New("assembly: event store kurrentdb: no KurrentDB URL"))
		}
	default:
		errs = append(errs, fmt.Errorf("assembly: event store %q: want %s or %s", c.EventStore, StoreJetStream, StoreKurrentDB))
	}
	switch c.ReadStore {
	case StoreSQLite:
	case StorePostgres, StoreSQLServer:
		if c.ReadServerURL == "" {
			errs = append(errs, fmt.Errorf("assembly: read store %s needs ReadServerURL", c.ReadStore))
		}
	default:
		errs = append(errs, fmt.Errorf("assembly: read store %q: want %s, %s or %s", c.ReadStore, StoreSQLite, StorePostgres, StoreSQLServer))
	}
	if c.ReadMaxConns < 0 {
		errs = append(errs, errors.New("assembly: ReadMaxConns is negative"))
	}
	if c.ObjectStore != StoreJetStream && c.ObjectStore != StoreMinIO {
		errs = append(errs, fmt.Errorf("assembly: object store %q: want %s or %s", c.ObjectStore, StoreJetStream, StoreMinIO))
	}
	if c.PasswordSlots < 0 {
		errs = append(errs, errors.New("assembly: PasswordSlots is negative"))
	}
	switch {
	case c.NATSReplicas != 1 && c.NATSReplicas != 3 && c.NATSReplicas != 5:
		errs = append(errs, fmt.Errorf("assembly: NATSReplicas %d: want 1, 3 or 5", c.NATSReplicas))
	case c.NATSReplicas > 1 && c.NATSURL == "":
		errs = append(errs, fmt.Errorf("assembly: NATSReplicas %d needs a NATS cluster (NATSURL); the embedded server keeps 1", c.NATSReplicas))
	}
	names := map[string]bool{}
	for _, m := range c.Modules {
		if err := m.Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[m.Name] {
			errs = append(errs, fmt.Errorf("assembly: module %q listed twice", m.Name))
		}
		names[m.Name] = true
	}
	if err := c.Ready.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Usage.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Process is a running Atrium: its adapters, its platform, its modules
// and its HTTP API (not yet listening: see Serve).
type Process struct {
	cfg Config
	log *slog.Logger

	NC         *nats.Conn
	Server     *jetstream.Server
	Store      streams.Store
	Registry   *streams.Registry
	Reads      ReadStore
	Runner     *projections.Runner
	Catalog    *catalog.Catalog
	Commands   *commands.Executor
	Identity   *identitycmd.Handler
	Tenancy    *tenancycmd.Handler
	ERP        *erpcmd.Handler
	Outbox     *erpsync.Outbox
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
	// Metrics is the registry /metrics serves.
	Metrics *prometheus.Registry
	// HTTP is the API.
	HTTP *fiber.App

	parts       []module.Parts
	box         *secretbox.Box
	vault       vault
	erp         erpParts
	heads       *chainHeads
	meter       *meter
	replay      *replayMetrics
	catalogCtx  context.Context
	stopCatalog context.CancelFunc
	catalogDone chan struct{}
	leases      atomic.Pointer[jetstream.Leases] // set once open; the catalog's goroutine reads it
	gatesMu     sync.Mutex
	seats       sync.Map // tenant.ID → turn: one membership of a tenant counted and written at a time
	docTurns    sync.Map // tenant.ID → turn: one quota-checked document Put of a tenant at a time
	erpTurns    sync.Map // tenant.ID → turn: one quota-checked ERP call back of a tenant at a time
	erpWaiting  sync.Map // tenant.ID → *atomic.Int64: its calls back waiting for their turn
	projLocks   sync.Map // tenant.ID → *sync.Mutex: a rebuild's stop, reset and start against the leases' starts and stops of the tenant
	gates       map[tenant.ID]*openGate
	closers     []func() error
	mu          sync.Mutex
}

// Open starts a process and waits until its catalog has caught up with
// the platform log and every served tenant is being projected. It never
// panics on a failed start: what it started is stopped, and the error says
// what failed.
func Open(ctx context.Context, cfg Config) (_ *Process, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Process{cfg: cfg, log: cfg.Logger, Metrics: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	p.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := p.openEvents(ctx); err != nil {
		return nil, err
	}
	if err := p.openReads(ctx); err != nil {
		return nil, err
	}
	if err := p.openPlatform(ctx); err != nil {
		return nil, err
	}
	if err := p.openModules(); err != nil {
		return nil, err
	}
	p.openERP()
	if p.meter, err = newMeter(p); err != nil {
		return nil, err
	}
	if p.HTTP, err = p.openHTTP(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	if !cfg.NoProjections {
		if err := p.startERP(ctx); err != nil {
			return nil, err
		}
		if err := p.openLeases(ctx); err != nil {
			return nil, err
		}
		go p.retryUnprojected(p.catalogCtx, 30*time.Second)
	}
	// The meter's last flush runs before the stores close.
	p.meter.start(!cfg.NoProjections)
	p.closers = append(p.closers, p.meter.close)
	if err := p.replicate(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// replicate brings every existing JetStream asset to NATSReplicas and
// waits until each has its replicas in place. It runs twice at start:
// before anything is opened, for the assets of earlier starts with
// another setting (every tenant's stream included), so that nothing is
// used while its replicas change; and once everything is open, for those
// opened without a replica count of their own (the poison stream, the
// secrets' buckets), which are created with one. Assets created from then
// on are created with NATSReplicas.
func (p *Process) replicate(ctx context.Context) error {
	p.log.Debug("bringing jetstream assets to their replicas", "replicas", p.cfg.NATSReplicas)
	updated, err := jetstream.ReplicateAssets(ctx, p.NC, p.cfg.NATSReplicas)
	if len(updated) > 0 {
		p.log.Info("jetstream assets given their replicas", "replicas", p.cfg.NATSReplicas, "assets", len(updated))
	}
	if err != nil {
		return fmt.Errorf("ATRIUM_NATS_REPLICAS %d: %w", p.cfg.NATSReplicas, err)
	}
	return nil
}

// checkReplicas refuses a start on a cluster with fewer JetStream servers
// than NATSReplicas, before anything is created.
func (p *Process) checkReplicas(ctx context.Context) error {
	err := jetstream.CheckReplicas(ctx, p.NC, p.cfg.NATSReplicas)
	var few *jetstream.TooFewServersError
	if errors.As(err, &few) {
		return fmt.Errorf("ATRIUM_NATS_REPLICAS %d but the NATS cluster has %d JetStream server(s)", few.Replicas, few.Servers)
	}
	if err != nil {
		return fmt.Errorf("ATRIUM_NATS_REPLICAS %d: %w", p.cfg.NATSReplicas, err)
	}
	return nil
}

// openEvents starts NATS (embedded or external), the event store and the
// registry of every event type.
func (p *Process) openEvents(ctx context.Context) (err error) {
	cfg := p.cfg
	if cfg.NATSURL == "" {
		srv, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: cfg.DataDir, Listen: cfg.NATSListen, SyncAlways: cfg.SyncAlways, SyncInterval: cfg.SyncInterval})
		if err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
		p.Server = srv
		p.closers = append(p.closers, func() error { srv.Shutdown(); return nil })
		if p.NC, err = srv.Connect("atrium"); err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
	} else {
		nc, err := nats.Connect(cfg.NATSURL, nats.Name("atrium"), nats.MaxReconnects(-1), nats.Timeout(5*time.Second))
		if err != nil {
			return fmt.Errorf("nats %s: %w", cfg.NATSURL, err)
		}
		p.NC = nc
	}
	nc := p.NC
	p.closers = append(p.closers, func() error { return drain(nc, 5*time.Second) })
	if err := p.checkReplicas(ctx); err != nil {
		return err
	}
	if err := p.replicate(ctx); err != nil {
		return err
	}
	if err := p.openStore(); err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	p.Registry = streams.NewRegistry()
	streams.Register(p.Registry, commands.Events()...)
	streams.Register(p.Registry, tenancycmd.Events()...)
	streams.Register(p.Registry, identitycmd.Events()...)
	streams.Register(p.Registry, erpcmd.Events()...)
	streams.Register(p.Registry, audit.ChainHeadRecorded{})
	streams.Register(p.Registry, usage.RequestsCounted{}, usage.DayClosed{}, usage.DayReported{})
	for _, m := range cfg.Modules {
		streams.Register(p.Registry, m.Events...)
	}
	p.Commands = &commands.Executor{Store: p.writes(), Registry: p.Registry}
	observer, err := atriumhttp.NewCommandMetrics(p.Metrics)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	p.Commands.Observer = observer
	if p.replay, err = newReplayMetrics(p.Metrics); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// openReads opens the read store and the projections runner with the
// platform's read models and every module's.
func (p *Process) openReads(ctx context.Context) (err error) {
	if p.Reads, err = p.openReadStore(); err != nil {
		return fmt.Errorf("read store: %w", err)
	}
	p.closers = append(p.closers, p.Reads.Close)
	wlog := jetstream.QuietLogger(p.log)
	source, err := p.openSource(wlog)
	if err != nil {
		return fmt.Errorf("event source: %w", err)
	}
	poison, err := jetstream.NewPoisonPublisher(ctx, p.NC, wlog)
	if err != nil {
		return fmt.Errorf("poison queue: %w", err)
	}
	defaults := tenancy.DefaultLimits(runtime.GOMAXPROCS(0))
	p.Limits = func(t tenant.ID) tenancy.Limits {
		if p.Catalog == nil {
			return defaults
		}
		st, _ := p.Catalog.Get(t)
		plan, _ := p.Catalog.PlanOf(t)
		return st.Limits.WithPlan(plan.Limits).Or(defaults)
	}
	slots := 16 * runtime.GOMAXPROCS(0)
	if p.Work, err = admission.New(admission.Config{Slots: slots, QueuePerKey: 64, Queue: 64 * slots, MaxWait: 2 * time.Second,
		PerKey: func(key string) int { return p.Limits(tenant.ID(key)).ConcurrentRequests }}); err != nil {
		return fmt.Errorf("work gate: %w", err)
	}
	p.heads = newChainHeads(p)
	every := p.cfg.AuditHeadEvery
	if every == 0 {
		every = DefaultAuditHeadEvery
	}
	p.Projectors = []projections.Projector{memberlist.New(), erpsync.New(p.Store.ReadTenant, p.erp.notify), auditchain.New(every, p.heads.ask), usagereads.New()}
	for _, m := range p.cfg.Modules {
		p.Projectors = append(p.Projectors, m.Projectors...)
	}
	if p.Runner, err = projections.NewRunner(projections.RunnerConfig{
		Store: p.Reads, Migrator: p.Reads, Registry: p.Registry, Source: source, Projectors: p.Projectors, Scheduler: turns{p.Work},
		Poison: poison, Logger: p.log,
	}); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	p.closers = append(p.closers, p.Runner.Close)
	p.closers = append(p.closers, func() error { p.heads.close(); return nil }) // before the runner and the stores
	return nil
}

// openPlatform starts the tenant catalog (and waits until it has caught up
// with the platform log), the secrets, the token issuer, identity,
// documents and tenancy.
func (p *Process) openPlatform(ctx context.Context) (err error) {
	cfg := p.cfg
	pctx := tenant.With(ctx, tenant.Platform)
	if err := p.Store.Provision(pctx); err != nil {
		return fmt.Errorf("platform stream: %w", err)
	}
	// The secrets first: opening a tenant the catalog reports may need
	// them (a server read store's login).
	if p.Secrets, err = jetstream.OpenSecrets(ctx, p.NC, cfg.RefreshTTL); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	pemKey, err := p.Secrets.SigningKey(ctx, func() ([]byte, error) {
		k, err := auth.NewKey()
		if err != nil {
			return nil, err
		}
		return auth.MarshalKey(k)
	})
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	key, err := auth.UnmarshalKey(pemKey)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if err := p.openBox(); err != nil {
		return err
	}
	head, err := p.Store.Head(pctx)
	if err != nil {
		return fmt.Errorf("platform log: %w", err)
	}
	p.Catalog = catalog.New(p.Store, p.Registry)
	p.Catalog.OnChange(p.tenantChanged)
	// Tenants are opened as the whole log leaves them, not record by
	// record: one deleted further on is never opened (its read database
	// would be created again), and its leftovers here are dropped.
	p.Catalog.NotifyFrom(head)
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.catalogCtx, p.stopCatalog, p.catalogDone = cctx, cancel, make(chan struct{})
	go func() {
		defer close(p.catalogDone)
		for cctx.Err() == nil {
			if err := p.Catalog.Run(cctx); err != nil && cctx.Err() == nil {
				p.log.Error("tenant catalog subscription ended; resubscribing", "err", err)
				select {
				case <-time.After(time.Second):
				case <-cctx.Done():
				}
			}
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := p.Catalog.WaitFor(wctx, head); err != nil {
		return fmt.Errorf("tenant catalog: %w", err)
	}

	if p.Issuer, err = auth.NewIssuer(auth.IssuerConfig{Keys: []auth.Key{key}, AccessTTL: cfg.AccessTTL, Now: cfg.Now}); err != nil {
		return err
	}

	// The first check against an unknown email builds the dummy hash; build
	// it now so that first answer is not slower than the others.
	warm := cfg.Passwords
	go func() { _ = warm.Dummy(ctx, "warm up") }()
	gate, err := admission.New(admission.Config{Slots: cfg.PasswordSlots, QueuePerKey: 8 * cfg.PasswordSlots,
		Queue: 32 * cfg.PasswordSlots, MaxWait: 3 * time.Second})
	if err != nil {
		return fmt.Errorf("password pool: %w", err)
	}
	passwords := auth.Pool{Passwords: cfg.Passwords, Gate: gate}
	p.Identity = identitycmd.NewHandler(p.Commands, p.Secrets, p.Secrets, passwords, auth.TokenPort{Issuer: p.Issuer}, cfg.Now)
	p.Identity.CheckSeats(p.checkSeats)
	p.Identity.CheckWritable(p.writable)
	if p.Documents, err = p.openDocuments(); err != nil {
		return fmt.Errorf("documents: %w", err)
	}
	p.Documents = quotaDocuments{Store: p.Documents, p: p}
	p.Tenancy = tenancycmd.NewHandler(p.Commands, resources{p}, p.Identity, p.Catalog, cfg.BaseDomain, cfg.Now)
	return nil
}

func (p *Process) openDocuments() (documents.Store, error) {
	switch {
	case p.cfg.Documents != nil:
		return p.cfg.Documents, nil
	case p.cfg.ObjectStore == StoreMinIO:
		return minio.New(p.cfg.MinIO)
	}
	return jetstream.NewDocuments(p.NC, jetstream.DocumentsConfig{Replicas: p.cfg.NATSReplicas})
}

// openModules opens every module over the process's ports.
func (p *Process) openModules() error {
	env := module.Env{Commands: p.Commands, Store: p.Store, Reads: p.Reads, Documents: p.Documents,
		Settings: settings{p.Catalog}, Members: members{p.Identity}, Now: p.cfg.Now, Logger: p.log}
	for _, m := range p.cfg.Modules {
		parts, err := m.Open(env)
		if err != nil {
			return fmt.Errorf("module %s: %w", m.Name, err)
		}
		p.parts = append(p.parts, parts)
	}
	return nil
}

// openHTTP builds the API: the platform's resources, then every module's.
func (p *Process) openHTTP() (*fiber.App, error) {
	hc := p.cfg.HTTP
	if hc.Now == nil {
		hc.Now = p.cfg.Now
	}
	hc.Admission = atriumhttp.Admission{Gate: p.Work, Limits: p.Limits, Served: p.meter.served}
	tenancyRes := atriumhttp.Tenancy{Handler: p.Tenancy, Catalog: p.Catalog, Rebuild: p.Rebuild, Progress: p.Progress, Health: p.Health, Archive: p.Archive}
	if _, ok := p.Store.(streams.Deprovisioner); ok {
		tenancyRes.Delete = p.DeleteTenant
	}
	resources := []atriumhttp.Resource{
		atriumhttp.Identity{Handler: p.Identity, Issuer: p.Issuer, Members: memberlist.NewQueries(p.Reads)},
		tenancyRes,
		atriumhttp.Console{Hosts: append([]string{p.cfg.BaseDomain}, p.cfg.ConsoleHosts...), Identity: p.Identity, Tenancy: tenancyRes, ERP: p.Outbox, Usage: p.Usage},
		atriumhttp.Audit{Reader: platformaudit.NewReader(p.Store), Verifier: platformaudit.NewVerifier(p.Store, auditchain.NewQueries(p.Reads), p.Issuer.SignDocument), Replay: p.Replay},
		p.erpResource(),
		p.analytics(),
		atriumhttp.Usage{Days: p.Usage},
		p.openSSO(),
	}
	for _, parts := range p.parts {
		if parts.Routes != nil {
			resources = append(resources, atriumhttp.ResourceFunc(parts.Routes))
		}
	}
	return atriumhttp.New(hc, atriumhttp.Infra{
		Tenants:  openTenants{atriumhttp.HostTenants{BaseDomain: p.cfg.BaseDomain, Catalog: p.Catalog}, p},
		Auth:     atriumhttp.BearerAuth{Issuer: p.Issuer, Identity: p.Identity},
		Progress: p.Runner,
		Catalog:  p.Catalog,
		Security: p.Identity,
		Logger:   p.log,
		Metrics:  p.Metrics,
		Ready:    p.readyChecks(),
	}, resources...)
}

// Seed writes every module's demo data into a demo tenant, in the
// modules' order.
func (p *Process) Seed(ctx context.Context, demo module.Demo) error {
	for i, parts := range p.parts {
		if parts.Seed == nil {
			continue
		}
		if err := parts.Seed(ctx, demo); err != nil {
			return fmt.Errorf("%s: %s: %w", demo.Tenant, p.cfg.Modules[i].Name, err)
		}
	}
	return nil
}

// tenantChanged opens a newly provisioned tenant for projection. Suspended
// tenants keep being projected: suspension stops serving requests, and
// nothing writes to a suspended tenant.
func (p *Process) tenantChanged(t tenancy.State) {
	if t.Deleted {
		// Deleted on another instance too: nothing of it is read here
		// again, and this instance's own read database goes. A shared
		// one, and the documents' bucket, the instance that deleted the
		// tenant deleted: here the stores only stop creating them (this
		// runs for every tombstone at each start, with no server call).
		ctx := tenant.With(context.Background(), t.ID)
		p.forget(ctx, t.ID)
		if !p.cfg.SharedReads {
			if err := p.dropReads(ctx); err != nil {
				p.log.Error("deleting a deleted tenant's read database", "tenant", string(t.ID), "err", err)
			}
		} else {
			forgetIn(ctx, p.Reads)
		}
		forgetIn(ctx, p.Documents)
		return
	}
	if p.cfg.NoProjections || p.Runner == nil {
		p.markOpen(t.ID)
		return
	}
	p.openTenant(t.ID)
}

// retryUnprojected starts, every interval, the tenants that are not being
// projected: one refused because its read database was behind is picked
// up once `atrium migrate` has run, without a restart.
func (p *Process) retryUnprojected(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range p.Catalog.List() {
			if p.cfg.SharedReads {
				break // the leases start their tenants, and retry
			}
			// Start does nothing for a tenant already projected; it logs a refusal.
			_ = p.Runner.Start(tenant.With(ctx, t.ID))
		}
	}
}

// OpenTenant creates a tenant's resources: its event stream, its read
// database at the latest version of every read model. It is idempotent.
func (p *Process) OpenTenant(ctx context.Context) error {
	if err := p.Store.Provision(ctx); err != nil {
		return err
	}
	return p.Reads.Migrate(ctx, p.Projectors...)
}

// turns gives projection work its turns on the work gate.
type turns struct{ g *admission.Gate }

func (t turns) Acquire(ctx context.Context, tn tenant.ID) (func(), error) {
	return t.g.Wait(ctx, string(tn))
}

// resources adapts the process to the provisioning command's port.
type resources struct{ p *Process }

func (r resources) Provision(ctx context.Context) error { return r.p.OpenTenant(ctx) }

func (r resources) Settle(ctx context.Context) error {
	if r.p.meter == nil {
		return nil
	}
	return r.p.meter.final(ctx)
}

func (r resources) Head(ctx context.Context) (uint64, error) {
	h, err := r.p.Store.Head(ctx)
	return uint64(h), err
}

// settings answers the modules' settings port from the catalog.
type settings struct{ c *catalog.Catalog }

func (s settings) Settings(ctx context.Context) (tenancy.Settings, error) { return s.c.Settings(ctx) }

// Close stops everything, in reverse order of start; it may be called on a
// process whose start failed half way, and more than once.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopCatalog != nil {
		p.stopCatalog()
		<-p.catalogDone
		p.stopCatalog = nil
	}
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
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
