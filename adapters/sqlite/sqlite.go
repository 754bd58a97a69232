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
	"sync"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
)

// Config configures the read store.
type Config struct {
	// MaxOpen bounds how many tenants' databases are open at once; the least
	// recently used is closed first. Default 256.
	MaxOpen int
	// MaxConnsPerTenant bounds each tenant's pool. Default 4.
	MaxConnsPerTenant int
}

func (c *Config) setDefaults() {
	if c.MaxOpen == 0 {
		c.MaxOpen = 256
	}
	if c.MaxConnsPerTenant == 0 {
		c.MaxConnsPerTenant = 4
	}
}

// Store opens tenants' read databases: <dir>/tenants/<tenant>/read.db. It is
// safe for concurrent use.
//
// Each database runs in WAL mode with synchronous=NORMAL: a killed process
// loses nothing committed; a power loss may lose the last transactions,
// which the projections then re-apply from the event store (the checkpoint
// commits with the rows, so both are lost or kept together).
type Store struct {
	dir string
	cfg Config

	mu     sync.Mutex
	open   map[tenant.ID]*list.Element // of *entry
	lru    *list.List                  // front: most recently used
	closed bool
}

type entry struct {
	t  tenant.ID
	db *sql.DB
}

var _ projections.ReadStore = (*Store)(nil)

// Open returns a read store rooted at dir.
func Open(dir string, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o750); err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	return &Store{dir: dir, cfg: cfg, open: map[tenant.ID]*list.Element{}, lru: list.New()}, nil
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("sqlite: read store closed")

// Open implements projections.ReadStore. Pools evicted from the registry
// are closed gracefully: database/sql lets in-flight queries and
// transactions finish first.
func (s *Store) Open(ctx context.Context) (projections.DB, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return projections.DB{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return projections.DB{}, ErrClosed
	}
	if el, ok := s.open[t]; ok {
		s.lru.MoveToFront(el)
		return projections.DB{DB: el.Value.(*entry).db, Dialect: projections.SQLite}, nil
	}
	db, err := s.openFile(t)
	if err != nil {
		return projections.DB{}, err
	}
	s.open[t] = s.lru.PushFront(&entry{t: t, db: db})
	for s.lru.Len() > s.cfg.MaxOpen {
		old := s.lru.Back()
		e := old.Value.(*entry)
		s.lru.Remove(old)
		delete(s.open, e.t)
		go e.db.Close() // waits for queries in flight
	}
	return projections.DB{DB: db, Dialect: projections.SQLite}, nil
}

// Path returns the file of tenant t's read database.
func (s *Store) Path(t tenant.ID) string {
	return filepath.Join(s.dir, "tenants", string(t), "read.db")
}

func (s *Store) openFile(t tenant.ID) (*sql.DB, error) {
	if _, err := tenant.Parse(string(t)); err != nil {
		return nil, err
	}
	path := s.Path(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("read store %s: %w", t, err)
	}
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("read store %s: %w", t, err)
	}
	db.SetMaxOpenConns(s.cfg.MaxConnsPerTenant)
	db.SetMaxIdleConns(1)
	return db, nil
}

// OpenCount returns how many tenants' pools are open.
func (s *Store) OpenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Close closes every pool.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for el := s.lru.Front(); el != nil; el = el.Next() {
		errs = append(errs, el.Value.(*entry).db.Close())
	}
	s.lru.Init()
	clear(s.open)
	return errors.Join(errs...)
}

type migrationSet struct {
	name string
	fsys fs.FS
}

func (s *Store) sets(projectors []projections.Projector) ([]migrationSet, error) {
	cp, err := projections.CheckpointMigrations(projections.SQLite)
	if err != nil {
		return nil, err
	}
	sets := []migrationSet{{projections.CheckpointName, cp}}
	for _, p := range projectors {
		f, err := p.Migrations(projections.SQLite)
		if err != nil {
			return nil, fmt.Errorf("migrations of %s: %w", p.Name(), err)
		}
		sets = append(sets, migrationSet{p.Name(), f})
	}
	return sets, nil
}

func (s *Store) provider(db *sql.DB, set migrationSet) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, set.fsys,
		goose.WithTableName("goose_"+set.name), goose.WithDisableGlobalRegistry(true))
}

// Migrate brings the ctx tenant's read database to the latest version of
// the runner's checkpoint table and of every projector's read model.
func (s *Store) Migrate(ctx context.Context, projectors ...projections.Projector) error {
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	sets, err := s.sets(projectors)
	if err != nil {
		return err
	}
	for _, set := range sets {
		p, err := s.provider(db.DB, set)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", set.name, err)
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrate %s: %w", set.name, err)
		}
	}
	return nil
}

// SchemaStatus implements projections.Migrator: the version the ctx
// tenant's database is at for p's read model, and the latest p has.
func (s *Store) SchemaStatus(ctx context.Context, p projections.Projector) (current, latest int64, err error) {
	db, err := s.Open(ctx)
	if err != nil {
		return 0, 0, err
	}
	f, err := p.Migrations(projections.SQLite)
	if err != nil {
		return 0, 0, err
	}
	prov, err := s.provider(db.DB, migrationSet{p.Name(), f})
	if err != nil {
		return 0, 0, err
	}
	srcs := prov.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	current, err = prov.GetDBVersion(ctx)
	if err != nil {
		return 0, latest, fmt.Errorf("schema version of %s: %w", p.Name(), err)
	}
	return current, latest, nil
}
