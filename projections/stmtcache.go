package projections

import (
	"context"
	"database/sql"
	"sync"
)

// Statements prepares each distinct statement once per database: a read
// store keeps one per pool (see DB.Exec), and the runner one per tenant
// for its batch transactions. The same few statements run for every event
// and every ERP delivery; preparing them again each time costs more than
// running them.
type Statements = stmtCache

// NewStatements returns the statement cache of db; Close closes its
// statements.
func NewStatements(db *sql.DB) *Statements { return newStmtCache(db) }

// Close closes the cached statements.
func (c *stmtCache) Close() { c.close() }

// stmtCache is Statements.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

func (c *stmtCache) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, query) //nolint:sqlclosecheck // kept for the tenant's life, closed by close()
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		_ = s.Close()
		delete(c.stmts, q)
	}
}

// cachedTx is the Tx projectors get: *sql.Tx with prepared statements,
// each bound to the transaction once. Only the goroutine that holds the
// tenant's lock uses it.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
	bound map[string]*sql.Stmt
	memo  map[any]any
}

// Recall implements Memo.
func (t *cachedTx) Recall(key any) (any, bool) {
	v, ok := t.memo[key]
	return v, ok
}

// Remember implements Memo.
func (t *cachedTx) Remember(key, v any) {
	if t.memo == nil {
		t.memo = map[any]any{}
	}
	t.memo[key] = v
}

// Forget implements Memo.
func (t *cachedTx) Forget(key any) { delete(t.memo, key) }

// forgetAll empties the memo: the writes it was read from were rolled back.
func (t *cachedTx) forgetAll() { clear(t.memo) }

func newCachedTx(tx *sql.Tx, cache *stmtCache) *cachedTx {
	return &cachedTx{tx: tx, cache: cache, bound: map[string]*sql.Stmt{}}
}

// stmt returns query's statement bound to the transaction; database/sql
// closes it with the transaction.
func (t *cachedTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.bound[query]; ok {
		return s, nil
	}
	s, err := t.cache.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	b := t.tx.StmtContext(ctx, s) //nolint:sqlclosecheck // closed with the transaction
	t.bound[query] = b
	return b, nil
}

func (t *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := t.stmt(ctx, query) //nolint:sqlclosecheck // closed with the transaction
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (t *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(ctx, query) //nolint:sqlclosecheck // closed with the transaction
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (t *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := t.stmt(ctx, query) //nolint:sqlclosecheck // closed with the transaction
	if err != nil {
		// Let the error surface through Row.Scan, as database/sql does.
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}
