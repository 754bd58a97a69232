package serverstore

import (
	"context"
	"database/sql/driver"
	"strconv"
	"strings"
	"sync"
)

// Placeholders rewrites a statement's '?' placeholders into a server's own
// ($1 for PostgreSQL, @p1 for SQL Server). Every statement a read model or
// the runner writes uses '?', whatever the store.
type Placeholders func(query string) string

// Numbered returns the Placeholders that writes the nth '?' as prefix
// followed by n: Numbered("$") for PostgreSQL, Numbered("@p") for SQL
// Server. A '?' inside a quoted string or identifier, or a comment, is
// left alone.
func Numbered(prefix string) Placeholders {
	return func(q string) string {
		if !strings.Contains(q, "?") {
			return q
		}
		var b strings.Builder
		b.Grow(len(q) + 16)
		n := 0
		for i := 0; i < len(q); i++ {
			c := q[i]
			switch {
			case c == '\'' || c == '"' || (c == '[' && prefix == "@p"):
				end := c
				if c == '[' {
					end = ']'
				}
				j := i + 1
				for j < len(q) {
					if q[j] == end {
						if j+1 < len(q) && q[j+1] == end { // a doubled quote is one quote
							j += 2
							continue
						}
						break
					}
					j++
				}
				if j >= len(q) {
					j = len(q) - 1
				}
				b.WriteString(q[i : j+1])
				i = j
			case c == '-' && i+1 < len(q) && q[i+1] == '-':
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					j = len(q) - i - 1
				}
				b.WriteString(q[i : i+j+1])
				i += j
			case c == '/' && i+1 < len(q) && q[i+1] == '*':
				j := strings.Index(q[i+2:], "*/")
				end := len(q) - 1
				if j >= 0 {
					end = i + 2 + j + 1
				}
				b.WriteString(q[i : end+1])
				i = end
			case c == '?':
				n++
				b.WriteString(prefix)
				b.WriteString(strconv.Itoa(n))
			default:
				b.WriteByte(c)
			}
		}
		return b.String()
	}
}

// connector makes connections to one database through a server's
// connector: each takes a unit of the store's budget for as long as it is
// open, and its statements have their placeholders rewritten.
type connector struct {
	inner   driver.Connector
	budget  *Budget
	rewrite Placeholders
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := c.budget.Acquire(ctx); err != nil {
		return nil, err
	}
	inner, err := c.inner.Connect(ctx)
	if err != nil {
		c.budget.Release()
		return nil, err
	}
	return &conn{Conn: inner, rewrite: c.rewrite, release: sync.OnceFunc(c.budget.Release)}, nil
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

// conn is a server connection with its placeholders rewritten; Close
// gives its unit of budget back. It forwards the optional interfaces
// database/sql uses when the server's driver has them.
type conn struct {
	driver.Conn
	rewrite Placeholders
	release func()
}

var (
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
)

func (c *conn) Close() error {
	defer c.release()
	return c.Conn.Close()
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(c.rewrite(query))
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, c.rewrite(query))
	}
	return c.Conn.Prepare(c.rewrite(query))
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, c.rewrite(query), args)
	}
	return nil, driver.ErrSkip
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, c.rewrite(query), args)
	}
	return nil, driver.ErrSkip
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() //nolint:staticcheck // the driver has nothing else
}

func (c *conn) CheckNamedValue(v *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
