// Package sqlite is the embedded read store: one SQLite file per tenant,
// opened lazily through a bounded registry of pools, migrated per read model
// with goose.
package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
)

// Config configures the read store.
type Config struct {
	// MaxOpen bounds how many tenants' pools stay open at once. When a pool
	// must be opened beyond it, the least recently used pools that nobody
	// leases are closed; a pool in use (a transaction or a query running) is
	// closed only once its last lease is released. Default 256.
	MaxOpen int
	// MaxConnsPerTenant bounds each tenant's pool: SQLite has one writer, so
	// this is one connection for the projections' batch transaction and the
	// rest for concurrent readers (WAL readers never wait for the writer).
	// Default 4.
	MaxConnsPerTenant int
	// MaxIdleConnsPerTenant is how many connections an open pool keeps idle.
	// Default 2.
	MaxIdleConnsPerTenant int
	// ConnMaxIdleTime closes connections idle for this long, so an open but
	// quiet tenant holds no file handles. Default 5 minutes.
	ConnMaxIdleTime time.Duration
	// Synchronous is SQLite's synchronous setting: "NORMAL" (default) or
	// "FULL". See Store for what each means on power loss.
	Synchronous string
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection before failing with SQLITE_BUSY. Default 10 seconds.
	BusyTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxOpen == 0 {
		c.MaxOpen = 256
	}
	if c.MaxConnsPerTenant == 0 {
		c.MaxConnsPerTenant = 4
	}
	if c.MaxIdleConnsPerTenant == 0 {
		c.MaxIdleConnsPerTenant = 2
	}
	if c.ConnMaxIdleTime == 0 {
		c.ConnMaxIdleTime = 5 * time.Minute
	}
	if c.Synchronous == "" {
		c.Synchronous = "NORMAL"
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 10 * time.Second
	}
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	if c.MaxOpen < 1 {
		errs = append(errs, fmt.Errorf("sqlite: MaxOpen %d: want at least 1", c.MaxOpen))
	}
	if c.MaxConnsPerTenant < 1 {
		errs = append(errs, fmt.Errorf("sqlite: MaxConnsPerTenant %d: want at least 1", c.MaxConnsPerTenant))
	}
	if c.MaxIdleConnsPerTenant < 0 {
		errs = append(errs, fmt.Errorf("sqlite: MaxIdleConnsPerTenant %d: want 0 or more", c.MaxIdleConnsPerTenant))
	}
	if c.ConnMaxIdleTime < 0 || c.BusyTimeout < 0 {
		errs = append(errs, errors.New("sqlite: negative ConnMaxIdleTime or BusyTimeout"))
	}
	if s := strings.ToUpper(c.Synchronous); s != "NORMAL" && s != "FULL" {
		errs = append(errs, fmt.Errorf("sqlite: Synchronous %q: want NORMAL or FULL", c.Synchronous))
	}
	return errors.Join(errs...)
}

// Store opens tenants' read databases: <dir>/tenants/<tenant>/read.db. It is
// safe for concurrent use.
//
// Each database runs in WAL mode with foreign keys on, a busy timeout, and
// transactions that take the write lock when they begin (BEGIN IMMEDIATE),
// so two writers queue on the busy timeout instead of failing on a lock
// upgrade.
//
// Durability: with synchronous=NORMAL (the default) a commit is written to
// the WAL but not synced to disk at once. A killed process (kill -9) loses
// nothing committed: the WAL is in the operating system's cache and is
// replayed on the next open. A power loss or an operating-system crash may
// lose the last transactions committed before it, never corrupting the
// database; the projections then re-apply the lost events from the event
// store, because each batch's checkpoint commits with its rows (both are lost
// or kept together). Config.Synchronous "FULL" syncs the WAL on every commit
// and loses nothing committed on power loss, at the price of one fsync per
// batch.
type Store struct {
	dir string
	cfg Config

	mu       sync.Mutex
	pools    map[tenant.ID]*pool
	lru      *list.List // of *pool; front: most recently used
	closed   bool
	migrates map[tenant.ID]*sync.Mutex
	// dropped are the tenants whose database Drop removed: a deleted
	// tenant's slug is never given again, so nothing opens (and creates)
	// theirs anew, whatever was still under way when it was dropped.
	dropped map[tenant.ID]bool
}

// pool is one tenant's open database and how many leases hold it.
type pool struct {
	t     tenant.ID
	db    *sql.DB
	stmts *projections.Statements
	refs  int
	el    *list.Element
}

var (
	_ projections.ReadStore = (*Store)(nil)
	_ projections.Migrator  = (*Store)(nil)
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("sqlite: read store closed")

// Open returns a read store rooted at dir; it opens no database yet.
func Open(dir string, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o750); err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	return &Store{dir: dir, cfg: cfg, pools: map[tenant.ID]*pool{}, lru: list.New(), migrates: map[tenant.ID]*sync.Mutex{}}, nil
}

// Open implements projections.ReadStore: it leases the ctx tenant's pool,
// opening it (and creating the file) when needed. Release the lease when
// done; the pool is never closed while leased.
func (s *Store) Open(ctx context.Context) (projections.DB, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return projections.DB{}, err
	}
	if _, err := tenant.Parse(string(t)); err != nil {
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
		s.lru.MoveToFront(p.el)
	} else {
		db, err := s.openFile(t)
		if err != nil {
			s.mu.Unlock()
			return projections.DB{}, err
		}
		p = &pool{t: t, db: db, stmts: projections.NewStatements(db)}
		p.el = s.lru.PushFront(p)
		s.pools[t] = p
	}
	p.refs++
	victims := s.evictLocked()
	s.mu.Unlock()
	closeAll(victims)
	return projections.NewDB(p.db, projections.SQLite, SQL{}, func() { s.release(p) }).WithStatements(p.stmts), nil
}

func (s *Store) release(p *pool) {
	s.mu.Lock()
	p.refs--
	victims := s.evictLocked()
	s.mu.Unlock()
	closeAll(victims)
}

// evictLocked takes out of the registry, least recently used first, the
// pools nobody leases, until the registry is within its bound. The caller
// closes them once s.mu is released.
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
		_ = p.db.Close() // nothing is in flight: the pool had no lease
	}
}

// Drop removes the ctx tenant's read database, its files and directory
// (offboarding). A lease still held sees its queries fail.
func (s *Store) Drop(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	p, ok := s.pools[t]
	if ok {
		s.lru.Remove(p.el)
		delete(s.pools, t)
	}
	if s.dropped == nil {
		s.dropped = map[tenant.ID]bool{}
	}
	s.dropped[t] = true
	s.mu.Unlock()
	if ok {
		p.stmts.Close()
		_ = p.db.Close()
	}
	if err := os.RemoveAll(filepath.Dir(s.Path(t))); err != nil {
		return fmt.Errorf("read store %s: %w", t, err)
	}
	return nil
}

// Path returns the file of tenant t's read database.
func (s *Store) Path(t tenant.ID) string {
	return filepath.Join(s.dir, "tenants", string(t), "read.db")
}

func (s *Store) openFile(t tenant.ID) (*sql.DB, error) {
	path := s.Path(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("read store %s: %w", t, err)
	}
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_busy_timeout=" + strconv.FormatInt(s.cfg.BusyTimeout.Milliseconds(), 10) +
		"&_journal_mode=WAL&_synchronous=" + strings.ToUpper(s.cfg.Synchronous) +
		"&_foreign_keys=1&_pragma=temp_store(MEMORY)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("read store %s: %w", t, err)
	}
	db.SetMaxOpenConns(s.cfg.MaxConnsPerTenant)
	db.SetMaxIdleConns(min(s.cfg.MaxIdleConnsPerTenant, s.cfg.MaxConnsPerTenant))
	db.SetConnMaxIdleTime(s.cfg.ConnMaxIdleTime)
	return db, nil
}

// OpenCount returns how many tenants' pools are open.
func (s *Store) OpenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Close closes every pool; leases still held see their queries fail. It is
// for the end of the process, once the projections and the HTTP server have
// stopped.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	var pools []*pool
	for el := s.lru.Front(); el != nil; el = el.Next() {
		pools = append(pools, el.Value.(*pool))
	}
	s.lru.Init()
	clear(s.pools)
	s.mu.Unlock()
	var errs []error
	for _, p := range pools {
		p.stmts.Close()
		errs = append(errs, p.db.Close())
	}
	return errors.Join(errs...)
}

// migrateLock serialises migrations of one tenant's database: goose keeps no
// lock of its own on SQLite.
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

func provider(db *sql.DB, name string, fsys fs.FS) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithTableName("goose_"+name), goose.WithDisableGlobalRegistry(true))
}

// Migrate brings the ctx tenant's read database to the latest version of
// the runner's checkpoint table and of every projector's read model. Each
// read model has its own version table, goose_<name>. Running it again does
// nothing; running it for several tenants at once is safe.
func (s *Store) Migrate(ctx context.Context, projectors ...projections.Projector) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	lock := s.migrateLock(t)
	lock.Lock()
	defer lock.Unlock()
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	for _, p := range append([]projections.Projector{projections.Checkpoints()}, projectors...) {
		f, err := p.Migrations(projections.SQLite)
		if err != nil {
			return fmt.Errorf("migrate %s of %s: %w", p.Name(), t, err)
		}
		prov, err := provider(db.DB, p.Name(), f)
		if err != nil {
			return fmt.Errorf("migrate %s of %s: %w", p.Name(), t, err)
		}
		if _, err := prov.Up(ctx); err != nil {
			return fmt.Errorf("migrate %s of %s: %w", p.Name(), t, err)
		}
	}
	return nil
}

// SchemaStatus implements projections.Migrator: the version the ctx
// tenant's database is at for p's read model (0 when never migrated), and
// the latest version p has.
func (s *Store) SchemaStatus(ctx context.Context, p projections.Projector) (current, latest int64, err error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, 0, err
	}
	f, err := p.Migrations(projections.SQLite)
	if err != nil {
		return 0, 0, fmt.Errorf("schema of %s: %w", p.Name(), err)
	}
	lock := s.migrateLock(t)
	lock.Lock()
	defer lock.Unlock()
	db, err := s.Open(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer db.Release()
	prov, err := provider(db.DB, p.Name(), f)
	if err != nil {
		return 0, 0, fmt.Errorf("schema of %s: %w", p.Name(), err)
	}
	if srcs := prov.ListSources(); len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	// goose creates its version table when asked for the version: a status
	// query must not write, so a database never migrated is answered here.
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, "goose_"+p.Name()).Scan(&tables); err != nil {
		return 0, latest, fmt.Errorf("schema version of %s in %s: %w", p.Name(), t, err)
	}
	if tables == 0 {
		return 0, latest, nil
	}
	current, err = prov.GetDBVersion(ctx)
	if err != nil {
		return 0, latest, fmt.Errorf("schema version of %s in %s: %w", p.Name(), t, err)
	}
	return current, latest, nil
}

// Tenants lists the tenants that have a read database under the store's
// directory, for operations that run across all of them (atrium migrate).
func (s *Store) Tenants() ([]tenant.ID, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "tenants"))
	if err != nil {
		return nil, fmt.Errorf("read store tenants: %w", err)
	}
	var out []tenant.ID
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t, err := tenant.Parse(e.Name())
		if err != nil {
			continue
		}
		if _, err := os.Stat(s.Path(t)); err == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// Reset empties p's read model in the ctx tenant's database, for a rebuild:
// its migrations are rolled back and applied again (dropping and recreating
// its tables) and its checkpoint is removed, in that order, under the
// tenant's migration lock. Stop projecting the tenant first.
func (s *Store) Reset(ctx context.Context, p projections.Projector) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	lock := s.migrateLock(t)
	lock.Lock()
	defer lock.Unlock()
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	f, err := p.Migrations(projections.SQLite)
	if err != nil {
		return fmt.Errorf("reset %s of %s: %w", p.Name(), t, err)
	}
	prov, err := provider(db.DB, p.Name(), f)
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
}
