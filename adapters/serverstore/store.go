package serverstore

import (
	"container/list"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/atrium-platform/atrium/adapters/snapshot"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
)

// Config configures a server read store.
type Config struct {
	// URL reaches the server as an account that may create databases and
	// logins; the store uses it to provision tenants and analysts' logins,
	// never to read a tenant's tables.
	URL string
	// Credentials keeps the tenants' logins' passwords.
	Credentials Credentials
	// MaxConns bounds the connections the process holds to the server,
	// every tenant's and the store's own. Default 50.
	MaxConns int
	// MaxConnsPerTenant bounds one tenant's pool. Default 4.
	MaxConnsPerTenant int
	// MaxIdleConnsPerTenant is how many connections an open pool keeps
	// idle while no other tenant waits for one. Default 1.
	MaxIdleConnsPerTenant int
	// ConnMaxIdleTime closes connections idle for this long. Default 1m.
	ConnMaxIdleTime time.Duration
	// MaxOpen bounds the tenants' pools kept open (a closed pool costs a
	// connection's setup when next used). Default 1024.
	MaxOpen int
	// Prefix starts every database and login the store creates. Default
	// "atrium_".
	Prefix string
	// MaxAnalysts bounds a tenant's unexpired analysts' logins. Default 16.
	MaxAnalysts int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.MaxConns == 0 {
		c.MaxConns = 50
	}
	if c.MaxConnsPerTenant == 0 {
		c.MaxConnsPerTenant = 4
	}
	if c.MaxIdleConnsPerTenant == 0 {
		c.MaxIdleConnsPerTenant = 1
	}
	if c.ConnMaxIdleTime == 0 {
		c.ConnMaxIdleTime = time.Minute
	}
	if c.MaxOpen == 0 {
		c.MaxOpen = 1024
	}
	if c.Prefix == "" {
		c.Prefix = "atrium_"
	}
	if c.MaxAnalysts == 0 {
		c.MaxAnalysts = 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("serverstore: no server URL"))
	}
	if c.Credentials == nil {
		errs = append(errs, errors.New("serverstore: no Credentials"))
	}
	if c.MaxConns < 2 {
		errs = append(errs, fmt.Errorf("serverstore: MaxConns %d: want at least 2", c.MaxConns))
	}
	if c.MaxConnsPerTenant < 1 || c.MaxConnsPerTenant > c.MaxConns {
		errs = append(errs, fmt.Errorf("serverstore: MaxConnsPerTenant %d: want 1 to MaxConns", c.MaxConnsPerTenant))
	}
	if c.MaxIdleConnsPerTenant < 0 || c.MaxOpen < 1 || c.MaxAnalysts < 1 || c.ConnMaxIdleTime < 0 {
		errs = append(errs, errors.New("serverstore: negative MaxIdleConnsPerTenant or ConnMaxIdleTime, or MaxOpen or MaxAnalysts below 1"))
	}
	if !validPrefix(c.Prefix) {
		errs = append(errs, fmt.Errorf("serverstore: Prefix %q: want lower-case letters, digits and '_', starting with a letter, at most 24", c.Prefix))
	}
	return errors.Join(errs...)
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 24 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for _, c := range []byte(p) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Store is a server read store. It is safe for concurrent use.
type Store struct {
	eng    Engine
	cfg    Config
	budget *Budget
	admin  *sql.DB

	mu        sync.Mutex
	pools     map[tenant.ID]*pool
	lru       *list.List // of *pool; front: most recently used
	closed    bool
	pressed   bool
	stopped   bool
	poke      chan struct{}
	idlerDone chan struct{}
	ensured   map[tenant.ID]bool // provisioned by this process
	dropped   map[tenant.ID]bool // dropped by this process: never opened again
	migrates  map[tenant.ID]*sync.Mutex
}

type pool struct {
	t     tenant.ID
	db    *sql.DB
	stmts *projections.Statements
	refs  int
	el    *list.Element
}

var (
	_ projections.ReadStore     = (*Store)(nil)
	_ projections.Migrator      = (*Store)(nil)
	_ projections.Snapshotter   = (*Store)(nil)
	_ projections.AnalystLogins = (*Store)(nil)
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("serverstore: read store closed")

// ErrNotProvisioned is returned by Open for a tenant whose database was
// never created: Migrate creates it.
var ErrNotProvisioned = errors.New("serverstore: tenant's read database not provisioned")

// Open returns a store on eng's server; it connects when first used.
func Open(eng Engine, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	budget, err := NewBudget(cfg.MaxConns)
	if err != nil {
		return nil, err
	}
	ac, err := eng.AdminConnector(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("serverstore: %w", err)
	}
	s := &Store{eng: eng, cfg: cfg, budget: budget, pools: map[tenant.ID]*pool{}, lru: list.New(),
		ensured: map[tenant.ID]bool{}, dropped: map[tenant.ID]bool{}, migrates: map[tenant.ID]*sync.Mutex{}}
	s.admin = sql.OpenDB(&connector{inner: ac, budget: budget, rewrite: eng.Placeholders()})
	s.admin.SetMaxOpenConns(2)
	s.admin.SetMaxIdleConns(1)
	s.admin.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
	s.poke, s.idlerDone = make(chan struct{}, 1), make(chan struct{})
	budget.pressure = s.pressure
	go s.idler()
	return s, nil
}

// Budget returns the store's connection budget, for its metrics.
func (s *Store) Budget() *Budget { return s.budget }

// pressure asks the store's idler to look at the budget: called by the
// budget, maybe from a connection's Close inside a pool's own call.
func (s *Store) pressure() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// idler keeps no idle connection in any pool while a connection waits for
// the budget, and restores the pools' idle connections once none waits:
// idle connections of quiet tenants never hold a busy one's turn. It runs
// on its own goroutine, as closing idle connections releases units of the
// budget, which calls pressure again.
func (s *Store) idler() {
	defer close(s.idlerDone)
	for range s.poke {
		for {
			_, _, waiting := s.budget.Stats()
			on := waiting > 0
			s.mu.Lock()
			if on == s.pressed || s.closed {
				s.mu.Unlock()
				break
			}
			s.pressed = on
			dbs := make([]*sql.DB, 0, len(s.pools)+1)
			for _, p := range s.pools {
				dbs = append(dbs, p.db)
			}
			s.mu.Unlock()
			idle := s.cfg.MaxIdleConnsPerTenant
			if on {
				idle = 0
			}
			for _, db := range dbs {
				db.SetMaxIdleConns(idle)
			}
			s.admin.SetMaxIdleConns(min(idle, 1))
		}
	}
}

// Names returns what tenant t's resources are called.
func (s *Store) Names(t tenant.ID) Names {
	db := s.cfg.Prefix + string(t)
	return Names{Database: db, Login: db, ReadRole: db + "_read"}
}

// Open implements projections.ReadStore: it leases the ctx tenant's pool,
// opening it when needed; the tenant must have been provisioned (Migrate).
func (s *Store) Open(ctx context.Context) (projections.DB, error) {
	t, err := tenantOf(ctx)
	if err != nil {
		return projections.DB{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return projections.DB{}, ErrClosed
	}
	if s.dropped[t] {
		s.mu.Unlock()
		return projections.DB{}, fmt.Errorf("%w: %s", projections.ErrDropped, t)
	}
	p, ok := s.pools[t]
	if ok {
		p.refs++
		s.lru.MoveToFront(p.el)
		s.mu.Unlock()
		return s.lease(p), nil
	}
	s.mu.Unlock()

	// Open the pool without holding the registry: the password comes from
	// the credentials' store.
	password, err := s.cfg.Credentials.Password(ctx, string(t))
	if errors.Is(err, ErrNoCredentials) {
		return projections.DB{}, fmt.Errorf("%w: %s", ErrNotProvisioned, t)
	}
	if err != nil {
		return projections.DB{}, fmt.Errorf("read store %s: credentials: %w", t, err)
	}
	db, err := s.openPool(t, password)
	if err != nil {
		return projections.DB{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = db.Close()
		return projections.DB{}, ErrClosed
	}
	if s.dropped[t] { // dropped meanwhile
		s.mu.Unlock()
		_ = db.Close()
		return projections.DB{}, fmt.Errorf("%w: %s", projections.ErrDropped, t)
	}
	if q, ok := s.pools[t]; ok { // opened meanwhile by another caller
		p = q
		_ = db.Close()
	} else {
		p = &pool{t: t, db: db, stmts: projections.NewStatements(db)}
		p.el = s.lru.PushFront(p)
		s.pools[t] = p
		if s.pressed {
			db.SetMaxIdleConns(0)
		}
	}
	p.refs++
	s.lru.MoveToFront(p.el)
	victims := s.evictLocked()
	s.mu.Unlock()
	closeAll(victims)
	return s.lease(p), nil
}

func (s *Store) lease(p *pool) projections.DB {
	return projections.NewDB(p.db, s.eng.Dialect(), s.eng.SQL(), func() { s.release(p) }).WithStatements(p.stmts)
}

func (s *Store) openPool(t tenant.ID, password string) (*sql.DB, error) {
	n := s.Names(t)
	c, err := s.eng.Connector(s.cfg.URL, n.Database, n.Login, password)
	if err != nil {
		return nil, fmt.Errorf("read store %s: %w", t, err)
	}
	db := sql.OpenDB(&connector{inner: c, budget: s.budget, rewrite: s.eng.Placeholders()})
	db.SetMaxOpenConns(s.cfg.MaxConnsPerTenant)
	db.SetMaxIdleConns(min(s.cfg.MaxIdleConnsPerTenant, s.cfg.MaxConnsPerTenant))
	db.SetConnMaxIdleTime(s.cfg.ConnMaxIdleTime)
	return db, nil
}

func (s *Store) release(p *pool) {
	s.mu.Lock()
	p.refs--
	victims := s.evictLocked()
	s.mu.Unlock()
	closeAll(victims)
}

func (s *Store) evictLocked() []*pool {
	var victims []*pool
	for el := s.lru.Back(); el != nil && s.lru.Len() > s.cfg.MaxOpen; {
		p := el.Value.(*pool)
		prev := el.Prev()
		if p.refs == 0 {
			s.lru.Remove(el)
			delete(s.pools, p.t)
			victims = append(victims, p)
		}
		el = prev
	}
	return victims
}

func closeAll(pools []*pool) {
	for _, p := range pools {
		p.stmts.Close()
		_ = p.db.Close()
	}
}

// forget closes tenant t's pool once nobody leases it, so the next Open
// reads its credentials again.
func (s *Store) forget(t tenant.ID) {
	s.mu.Lock()
	p, ok := s.pools[t]
	if !ok || p.refs > 0 {
		s.mu.Unlock()
		return
	}
	s.lru.Remove(p.el)
	delete(s.pools, t)
	delete(s.ensured, t)
	s.mu.Unlock()
	closeAll([]*pool{p})
}

// OpenCount returns how many tenants' pools are open.
func (s *Store) OpenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Close closes every pool and the store's own connections.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	var pools []*pool
	for el := s.lru.Front(); el != nil; el = el.Next() {
		pools = append(pools, el.Value.(*pool))
	}
	s.lru.Init()
	clear(s.pools)
	first := !s.stopped
	s.stopped = true
	s.mu.Unlock()
	if first {
		close(s.poke)
		<-s.idlerDone
	}
	var errs []error
	for _, p := range pools {
		p.stmts.Close()
		errs = append(errs, p.db.Close())
	}
	errs = append(errs, s.admin.Close())
	return errors.Join(errs...)
}

func tenantOf(ctx context.Context) (tenant.ID, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	if _, err := tenant.Parse(string(t)); err != nil {
		return "", err
	}
	return t, nil
}

func (s *Store) migrateLock(t tenant.ID) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.migrates[t]
	if !ok {
		m = &sync.Mutex{}
		s.migrates[t] = m
	}
	return m
}

// newPassword returns a password of 32 random bytes, hex: letters and
// digits only, so no server's quoting can be escaped by it.
func newPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Provision creates the ctx tenant's database and login when missing:
// its password is generated and kept by the Credentials before the login
// is created, so a process that dies between the two leaves nothing
// another cannot finish. Idempotent; safe with other processes
// provisioning the same tenant.
func (s *Store) Provision(ctx context.Context) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	done, dropped := s.ensured[t], s.dropped[t]
	s.mu.Unlock()
	if dropped {
		return fmt.Errorf("%w: %s", projections.ErrDropped, t)
	}
	if done {
		return nil
	}
	password, err := s.cfg.Credentials.Password(ctx, string(t))
	fresh := false
	if errors.Is(err, ErrNoCredentials) {
		generated, gerr := newPassword()
		if gerr != nil {
			return gerr
		}
		password, err = s.cfg.Credentials.Keep(ctx, string(t), generated)
		fresh = err == nil && password == generated
	}
	if err != nil {
		return fmt.Errorf("provision %s: credentials: %w", t, err)
	}
	conn, err := s.admin.Conn(ctx)
	if err != nil {
		return fmt.Errorf("provision %s: %w", t, err)
	}
	defer conn.Close()
	n := s.Names(t)
	if err := s.eng.Provision(ctx, conn, n, password, fresh); err != nil {
		return fmt.Errorf("provision %s: %w", t, err)
	}
	s.mu.Lock()
	dropped = s.dropped[t]
	s.mu.Unlock()
	if dropped {
		// Dropped while this was creating it: what it created goes too.
		return errors.Join(fmt.Errorf("%w: %s", projections.ErrDropped, t), s.eng.Drop(ctx, s.admin, n))
	}
	if fresh {
		s.forget(t) // a pool opened with an older password
	}
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	if err := s.withLock(ctx, db, func() error { return s.eng.Prepare(ctx, db.DB, n) }); err != nil {
		return fmt.Errorf("provision %s: %w", t, err)
	}
	s.mu.Lock()
	s.ensured[t] = true
	s.mu.Unlock()
	return nil
}

func (s *Store) provider(db *sql.DB, name string, fsys fs.FS) (*goose.Provider, error) {
	return goose.NewProvider(s.eng.Goose(), db, fsys,
		goose.WithTableName("goose_"+name), goose.WithDisableGlobalRegistry(true))
}

// withLock runs fn holding the ctx tenant's migration lock: the process's
// and the server's, so two processes never migrate one database at once.
func (s *Store) withLock(ctx context.Context, db projections.DB, fn func() error) error {
	t, _ := tenant.From(ctx)
	lock := s.migrateLock(t)
	lock.Lock()
	defer lock.Unlock()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	unlock, err := s.eng.Lock(ctx, conn, "atrium.migrate")
	if err != nil {
		return err
	}
	err = fn()
	return errors.Join(err, unlock())
}

// Migrate provisions the ctx tenant's database when needed, then brings
// it to the latest version of the checkpoint table and of every
// projector's read model, each with its own goose version table.
func (s *Store) Migrate(ctx context.Context, projectors ...projections.Projector) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	if err := s.Provision(ctx); err != nil {
		return err
	}
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	return s.withLock(ctx, db, func() error {
		for _, p := range append([]projections.Projector{projections.Checkpoints()}, projectors...) {
			f, err := p.Migrations(s.eng.Dialect())
			if err != nil {
				return fmt.Errorf("migrate %s of %s: %w", p.Name(), t, err)
			}
			prov, err := s.provider(db.DB, p.Name(), f)
			if err != nil {
				return fmt.Errorf("migrate %s of %s: %w", p.Name(), t, err)
			}
			if _, err := prov.Up(ctx); err != nil {
				return fmt.Errorf("migrate %s of %s: %w", p.Name(), t, err)
			}
		}
		return nil
	})
}

// SchemaStatus implements projections.Migrator: 0 for a tenant not
// provisioned yet.
func (s *Store) SchemaStatus(ctx context.Context, p projections.Projector) (current, latest int64, err error) {
	t, err := tenantOf(ctx)
	if err != nil {
		return 0, 0, err
	}
	f, err := p.Migrations(s.eng.Dialect())
	if err != nil {
		return 0, 0, fmt.Errorf("schema of %s: %w", p.Name(), err)
	}
	if latest, err = latestVersion(f); err != nil {
		return 0, 0, fmt.Errorf("schema of %s: %w", p.Name(), err)
	}
	db, err := s.Open(ctx)
	if errors.Is(err, ErrNotProvisioned) {
		return 0, latest, nil
	}
	if err != nil {
		return 0, latest, err
	}
	defer db.Release()
	ok, err := s.eng.TableExists(ctx, db.DB, "goose_"+p.Name())
	if err != nil {
		return 0, latest, fmt.Errorf("schema version of %s in %s: %w", p.Name(), t, err)
	}
	if !ok {
		return 0, latest, nil
	}
	vp, err := s.provider(db.DB, p.Name(), f)
	if err != nil {
		return 0, latest, err
	}
	current, err = vp.GetDBVersion(ctx)
	if err != nil {
		return 0, latest, fmt.Errorf("schema version of %s in %s: %w", p.Name(), t, err)
	}
	return current, latest, nil
}

// Reset empties p's read model in the ctx tenant's database for a
// rebuild: its migrations are rolled back and applied again, and its
// checkpoint removed. Stop projecting the tenant first.
func (s *Store) Reset(ctx context.Context, p projections.Projector) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	return s.withLock(ctx, db, func() error {
		f, err := p.Migrations(s.eng.Dialect())
		if err != nil {
			return fmt.Errorf("reset %s of %s: %w", p.Name(), t, err)
		}
		prov, err := s.provider(db.DB, p.Name(), f)
		if err != nil {
			return fmt.Errorf("reset %s of %s: %w", p.Name(), t, err)
		}
		if _, err := prov.DownTo(ctx, 0); err != nil {
			return fmt.Errorf("reset %s of %s: %w", p.Name(), t, err)
		}
		if _, err := prov.Up(ctx); err != nil {
			return fmt.Errorf("reset %s of %s: %w", p.Name(), t, err)
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM projection_checkpoint WHERE projector = ?`, p.Name()); err != nil {
			return fmt.Errorf("reset %s of %s: %w", p.Name(), t, err)
		}
		return nil
	})
}

// Tenants lists the tenants that have a database on the server under the
// store's prefix, for operations across all of them (atrium migrate).
func (s *Store) Tenants(ctx context.Context) ([]tenant.ID, error) {
	names, err := s.eng.Databases(ctx, s.admin, s.cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("read store tenants: %w", err)
	}
	var out []tenant.ID
	for _, n := range names {
		if t, err := tenant.Parse(strings.TrimPrefix(n, s.cfg.Prefix)); err == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// Forget makes the store open and provision the ctx tenant no more
// (projections.ErrDropped), without dropping anything: another instance
// drops the tenant's database on a shared server.
func (s *Store) Forget(ctx context.Context) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.dropped[t] = true
	s.mu.Unlock()
	s.forget(t)
	return nil
}

// Drop removes the ctx tenant's database and logins (offboarding, and
// tests' cleanup). Its credentials stay with the caller. The store opens
// and provisions the tenant no more (projections.ErrDropped).
func (s *Store) Drop(ctx context.Context) error {
	t, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	p, ok := s.pools[t]
	if ok {
		s.lru.Remove(p.el)
		delete(s.pools, t)
	}
	delete(s.ensured, t)
	s.dropped[t] = true
	s.mu.Unlock()
	if ok {
		closeAll([]*pool{p})
	}
	return s.eng.Drop(ctx, s.admin, s.Names(t))
}

// Snapshot implements projections.Snapshotter: every table of the ctx
// tenant's database, read in one transaction that sees one instant,
// copied into a SQLite file.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	tx, err := db.BeginTx(ctx, s.eng.SnapshotTx())
	if err != nil {
		return fmt.Errorf("read store snapshot: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	tables, err := s.eng.Tables(ctx, tx)
	if err != nil {
		return fmt.Errorf("read store snapshot: %w", err)
	}
	return snapshot.Copy(ctx, tx, s.eng.Quote, tables, path)
}

// AnalystLogin implements projections.AnalystLogins: a login that may
// read the ctx tenant's tables, valid for ttl. Expired logins of the
// tenant are dropped first; at most Config.MaxAnalysts stay valid.
func (s *Store) AnalystLogin(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	t, err := tenantOf(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.Provision(ctx); err != nil {
		return "", time.Time{}, err
	}
	n := s.Names(t)
	now := s.cfg.Now()
	active, err := s.eng.DropExpiredAnalysts(ctx, s.admin, n, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("analysts of %s: %w", t, err)
	}
	if active >= s.cfg.MaxAnalysts {
		return "", time.Time{}, fmt.Errorf("%w: %d", projections.ErrTooManyAnalystLogins, active)
	}
	password, err := newPassword()
	if err != nil {
		return "", time.Time{}, err
	}
	suffix, err := newPassword()
	if err != nil {
		return "", time.Time{}, err
	}
	login := n.Login + "_a" + suffix[:12]
	expires := now.Add(ttl).UTC().Truncate(time.Second)
	if err := s.eng.CreateAnalyst(ctx, s.admin, n, login, password, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("analysts of %s: %w", t, err)
	}
	dsn, err := s.eng.DSN(s.cfg.URL, n.Database, login, password)
	if err != nil {
		return "", time.Time{}, err
	}
	return dsn, expires, nil
}

// latestVersion is the highest version of the goose migrations in f.
func latestVersion(f fs.FS) (int64, error) {
	entries, err := fs.ReadDir(f, ".")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return 0, err
		}
		latest = max(latest, v)
	}
	return latest, nil
}
