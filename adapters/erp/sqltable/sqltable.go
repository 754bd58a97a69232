// Package sqltable is the ERP connector that writes each message as one
// row of a staging table in the ERP's database, PostgreSQL or SQL Server,
// through database/sql. The table is created when missing:
//
//	id            text / nvarchar(64)   primary key: the message id
//	tenant        text / nvarchar(64)
//	type          text / nvarchar(200)  "invoice.issued"
//	aggregate     text / nvarchar(200)  "invoice"
//	aggregate_id  text / nvarchar(200)
//	version       bigint
//	position      bigint
//	occurred_at   timestamptz / datetimeoffset
//	data          text / nvarchar(max)  the event's data, JSON
//	received_at   timestamptz / datetimeoffset, the row's insertion time
//
// A message already in the table writes nothing, however many times and
// from however many connections it is delivered, so the ERP reads each
// message once. Connection failures, time-outs, deadlocks and other
// failures that may pass are retried; what the server refuses for good
// (credentials, a missing database, rights, a table of another shape)
// refuses the message. Errors never quote the DSN's password.
package sqltable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// The drivers, as the tenant's ERP connection names them.
const (
	Postgres  = "postgres"
	SQLServer = "sqlserver"
)

// ErrUnavailable matches an error of New when the database could not be
// reached or was busy: try again later. New's other errors say the
// configuration is wrong.
var ErrUnavailable = errors.New("sqltable: database unavailable")

// Config configures a connector.
type Config struct {
	// Driver is Postgres or SQLServer.
	Driver string
	// DSN is the database's connection string, in any form the driver
	// takes (a URL, PostgreSQL's key=value, SQL Server's ADO or ODBC).
	DSN string
	// Table is the staging table: letters, digits and underscores, not
	// starting with a digit, optionally schema-qualified ("erp.messages");
	// each part at most 63 characters on PostgreSQL, 128 on SQL Server.
	// PostgreSQL folds it to lower case, as it does an unquoted name.
	Table string
	// Timeout bounds one delivery. Default 30 seconds.
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Validate reports every problem of c. Its errors never quote the DSN's
// password.
func (c Config) Validate() error {
	var errs []error
	d, err := dialectOf(c.Driver)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.DSN == "":
		errs = append(errs, errors.New("sqltable: no DSN"))
	case d != nil:
		if err := d.parse(c.DSN); err != nil {
			errs = append(errs, fmt.Errorf("sqltable: DSN does not parse: %s", newRedactor(c.DSN).scrub(err.Error())))
		}
	}
	maxLen := 63
	if d != nil {
		maxLen = d.maxIdentifier()
	}
	if _, err := parseTable(c.Table, maxLen); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("sqltable: Timeout %s: want 0 (the default) or more", c.Timeout))
	}
	return errors.Join(errs...)
}

// dialect is what differs between the databases.
type dialect interface {
	maxIdentifier() int
	parse(dsn string) error
	open(dsn string) (*sql.DB, error)
	quote(name string) string
	exists(ctx context.Context, db *sql.DB, t tableName) (bool, error)
	createSQL(t tableName) string
	insertSQL(t tableName) string
	// duplicate: the insert found the message already there.
	duplicate(err error) bool
	// alreadyExists: the create found the table already there.
	alreadyExists(err error) bool
	missingTable(err error) bool
	// serverError reports whether the server said err, and whether what
	// it said may pass.
	serverError(err error) (found, transient bool)
}

func dialectOf(driver string) (dialect, error) {
	switch driver {
	case Postgres:
		return postgres{}, nil
	case SQLServer:
		return sqlserver{}, nil
	}
	return nil, fmt.Errorf("sqltable: Driver %q: want %s or %s", driver, Postgres, SQLServer)
}

func columnList(quote func(string) string) string {
	cols := []string{"id", "tenant", "type", "aggregate", "aggregate_id", "version", "position", "occurred_at", "data"}
	for i, c := range cols {
		cols[i] = quote(c)
	}
	return strings.Join(cols, ", ")
}

// Connector writes messages to one staging table. It is safe for
// concurrent use.
type Connector struct {
	d       dialect
	db      *sql.DB
	table   tableName
	insert  string
	timeout time.Duration
	redact  redactor

	mu sync.Mutex // serializes creating the table
}

var _ erpsync.Connector = (*Connector)(nil)

// New opens a pool of at most two connections on cfg.DSN (idle ones are
// closed after a minute) and creates the table when it is missing. An
// error matching ErrUnavailable says the database could not be reached or
// was busy; any other, that the configuration is wrong.
func New(ctx context.Context, cfg Config) (*Connector, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, _ := dialectOf(cfg.Driver)                    // valid: checked above
	t, _ := parseTable(cfg.Table, d.maxIdentifier()) // likewise
	r := newRedactor(cfg.DSN)
	db, err := d.open(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqltable: open: %s", r.scrub(err.Error()))
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	c := &Connector{d: d, db: db, table: t, insert: d.insertSQL(t), timeout: cfg.Timeout, redact: r}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := c.ensureTable(ctx); err != nil {
		_ = db.Close()
		op := "create table " + t.String() + " when missing"
		if c.retryable(err) {
			return nil, fmt.Errorf("%w: %s: %s", ErrUnavailable, op, c.redact.scrub(err.Error()))
		}
		return nil, c.failure(op, err)
	}
	return c, nil
}

// ensureTable creates the table unless it exists. It looks first, so a
// role that may only insert into a table made for it works.
func (c *Connector) ensureTable(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok, err := c.d.exists(ctx, c.db, c.table)
	if err != nil || ok {
		return err
	}
	if _, err := c.db.ExecContext(ctx, c.d.createSQL(c.table)); err != nil {
		if c.d.alreadyExists(err) {
			return nil
		}
		// Another connection created it meanwhile, and the server said so
		// in other words (PostgreSQL: its row type exists).
		if ok, xerr := c.d.exists(ctx, c.db, c.table); xerr == nil && ok {
			return nil
		}
		return err
	}
	return nil
}

// Deliver inserts m as one row, unless a row with its id is there
// already. It returns when the connector's Timeout passes or ctx ends (a
// Retry): at once on PostgreSQL; on SQL Server the driver first waits a
// few seconds for the server to confirm the cancellation.
func (c *Connector) Deliver(ctx context.Context, m erpsync.Message) erpsync.Outcome {
	args, err := row(m)
	if err != nil {
		return erpsync.Refused(err)
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err = c.db.ExecContext(dctx, c.insert, args...)
	if err != nil && c.d.missingTable(err) {
		// The table was dropped since: make it again.
		if err = c.ensureTable(dctx); err == nil {
			_, err = c.db.ExecContext(dctx, c.insert, args...)
		}
	}
	switch {
	case err == nil, c.d.duplicate(err):
		return erpsync.Delivered()
	case ctx.Err() != nil:
		return erpsync.Retry(fmt.Errorf("sqltable: delivery stopped: %w", ctx.Err()), 0)
	case dctx.Err() != nil:
		return erpsync.Retry(fmt.Errorf("sqltable: insert into %s: no answer within %s", c.table, c.timeout), 0)
	case c.retryable(err):
		return erpsync.Retry(c.failure("insert into "+c.table.String(), err), 0)
	default:
		return erpsync.Refused(c.failure("insert into "+c.table.String(), err))
	}
}

// row is m's column values, in columnList's order.
func row(m erpsync.Message) ([]any, error) {
	if m.ID == "" {
		return nil, errors.New("sqltable: message without an id")
	}
	if m.Version > math.MaxInt64 || m.Position > math.MaxInt64 {
		return nil, fmt.Errorf("sqltable: message %s: version or position beyond a bigint", m.ID)
	}
	data := string(m.Data)
	if data == "" {
		data = "null"
	}
	return []any{m.ID, m.Tenant, m.Type, m.Aggregate, m.AggregateID,
		int64(m.Version), int64(m.Position), m.OccurredAt, data}, nil
}

// retryable says whether err may pass: what the server reports as
// passing, and whatever it did not report (a connection refused, reset
// or broken, a time-out, a name that does not resolve).
func (c *Connector) retryable(err error) bool {
	if found, transient := c.d.serverError(err); found {
		return transient
	}
	return true
}

// failure is err on one line, after what was being done, without the
// DSN's password.
func (c *Connector) failure(op string, err error) error {
	return errors.New("sqltable: " + op + ": " + c.redact.scrub(err.Error()))
}

// Close closes the pool.
func (c *Connector) Close() error { return c.db.Close() }
