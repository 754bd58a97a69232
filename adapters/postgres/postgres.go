// Package postgres is the read store on PostgreSQL: serverstore's Engine
// for it, through pgx's database/sql driver. Each tenant has a database
// (atrium_<slug>, created from template0 with the C collation, so text
// sorts as on the other stores), owned by a role of its own that logs in
// with a generated password; CONNECT and TEMPORARY on it are revoked from
// PUBLIC, so no other tenant's role can open it. A NOLOGIN role
// <database>_read may read its tables (granted by default privileges on
// the public schema), and analysts' logins are members of it.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/projections"
)

// Open returns a read store on the PostgreSQL server cfg.URL names (a
// postgres:// URL of an account with CREATEDB and CREATEROLE).
func Open(cfg serverstore.Config) (*serverstore.Store, error) {
	return serverstore.Open(Engine{}, cfg)
}

// Engine is PostgreSQL's serverstore.Engine.
type Engine struct{}

var _ serverstore.Engine = Engine{}

// Dialect implements serverstore.Engine.
func (Engine) Dialect() projections.Dialect { return projections.Postgres }

// SQL implements serverstore.Engine.
func (Engine) SQL() projections.SQL { return SQL{} }

// Goose implements serverstore.Engine.
func (Engine) Goose() goose.Dialect { return goose.DialectPostgres }

var dollars = serverstore.Numbered("$")

// Placeholders implements serverstore.Engine: $1, $2, ...
func (Engine) Placeholders() serverstore.Placeholders { return dollars }

func config(u string) (*pgx.ConnConfig, error) {
	c, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", redactErr(err, u))
	}
	return c, nil
}

// redactErr keeps a URL's password out of an error.
func redactErr(err error, u string) error {
	p, perr := url.Parse(u)
	if perr != nil {
		return errors.New("unparsable url")
	}
	if pw, ok := p.User.Password(); ok && pw != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// AdminConnector implements serverstore.Engine.
func (Engine) AdminConnector(u string) (driver.Connector, error) {
	c, err := config(u)
	if err != nil {
		return nil, err
	}
	c.RuntimeParams["application_name"] = "atrium"
	return stdlib.GetConnector(*c), nil
}

// Connector implements serverstore.Engine.
func (Engine) Connector(u, db, login, password string) (driver.Connector, error) {
	c, err := config(u)
	if err != nil {
		return nil, err
	}
	c.Database, c.User, c.Password = db, login, password
	c.RuntimeParams["application_name"] = "atrium"
	// A commit returns before its WAL is flushed (at most about three
	// times wal_writer_delay later): a crash of the server may lose the
	// last batches committed, never half of one, and the projections apply
	// them again from the event store, because each batch's checkpoint
	// commits with its rows. A crash of Atrium loses nothing. The same
	// trade as the embedded store's synchronous=NORMAL.
	c.RuntimeParams["synchronous_commit"] = "off"
	return stdlib.GetConnector(*c), nil
}

// DSN implements serverstore.Engine: the server's URL with login,
// password and database in place of the store's.
func (Engine) DSN(u, db, login, password string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", errors.New("postgres url: unparsable")
	}
	p.User = url.UserPassword(login, password)
	p.Path = "/" + db
	return p.String(), nil
}

// Quote implements serverstore.Engine.
func (Engine) Quote(ident string) string { return pgx.Identifier{ident}.Sanitize() }

// literal quotes a string literal; passwords are hex, names are checked,
// so this never meets a quote, but quotes all the same.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// lockKey is the advisory lock key of a name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64()) //nolint:gosec // any 64 bits will do
}

// Lock implements serverstore.Engine with a session advisory lock.
func (Engine) Lock(ctx context.Context, conn *sql.Conn, name string) (func() error, error) {
	k := lockKey(name)
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, k); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, k)
		return err
	}, nil
}

// Provision implements serverstore.Engine, under an advisory lock on the
// database's name, so two processes provisioning one tenant take turns.
func (e Engine) Provision(ctx context.Context, conn *sql.Conn, n serverstore.Names, password string, newPassword bool) error {
	unlock, err := e.Lock(ctx, conn, "atrium.provision."+n.Database)
	if err != nil {
		return err
	}
	err = provision(ctx, conn, e.Quote, n, password, newPassword)
	return errors.Join(err, unlock())
}

func provision(ctx context.Context, conn *sql.Conn, q func(string) string, n serverstore.Names, password string, newPassword bool) error {
	exec := func(stmt string) error {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			// The statement may hold a password: name what failed without it.
			verb, _, _ := strings.Cut(stmt, " PASSWORD")
			return fmt.Errorf("%s: %w", verb, err)
		}
		return nil
	}
	var super bool
	if err := conn.QueryRowContext(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		return err
	}
	var login bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)`, n.Login).Scan(&login); err != nil {
		return err
	}
	switch {
	case !login:
		if err := exec("CREATE ROLE " + q(n.Login) + " LOGIN PASSWORD " + literal(password)); err != nil {
			return err
		}
	case newPassword:
		if err := exec("ALTER ROLE " + q(n.Login) + " PASSWORD " + literal(password)); err != nil {
			return err
		}
	}
	var read bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)`, n.ReadRole).Scan(&read); err != nil {
		return err
	}
	if !read {
		if err := exec("CREATE ROLE " + q(n.ReadRole) + " NOLOGIN"); err != nil {
			return err
		}
	}
	if !super {
		// An account with CREATEROLE but not superuser must be a member
		// of the role a database it creates is owned by.
		if err := exec("GRANT " + q(n.Login) + " TO CURRENT_USER"); err != nil {
			return err
		}
	}
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?)`, n.Database).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if err := exec("CREATE DATABASE " + q(n.Database) + " OWNER " + q(n.Login) +
			" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
			return err
		}
	}
	for _, stmt := range []string{
		"REVOKE ALL ON DATABASE " + q(n.Database) + " FROM PUBLIC",
		"GRANT CONNECT, TEMPORARY ON DATABASE " + q(n.Database) + " TO " + q(n.Login),
		"GRANT CONNECT ON DATABASE " + q(n.Database) + " TO " + q(n.ReadRole),
	} {
		if err := exec(stmt); err != nil {
			return err
		}
	}
	return nil
}

// Prepare implements serverstore.Engine: run by the database's owner, it
// lets the read role read every table the owner creates in public.
func (e Engine) Prepare(ctx context.Context, db *sql.DB, n serverstore.Names) error {
	for _, stmt := range []string{
		"GRANT USAGE ON SCHEMA public TO " + e.Quote(n.ReadRole),
		"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO " + e.Quote(n.ReadRole),
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + e.Quote(n.ReadRole),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("prepare %s: %w", n.Database, err)
		}
	}
	return nil
}

// Exists implements serverstore.Engine.
func (Engine) Exists(ctx context.Context, admin *sql.DB, db string) (bool, error) {
	var ok bool
	err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?)`, db).Scan(&ok)
	return ok, err
}

// Databases implements serverstore.Engine.
func (Engine) Databases(ctx context.Context, admin *sql.DB, prefix string) ([]string, error) {
	rows, err := admin.QueryContext(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, ?) ORDER BY datname`, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Drop implements serverstore.Engine.
func (e Engine) Drop(ctx context.Context, admin *sql.DB, n serverstore.Names) error {
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+e.Quote(n.Database)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", n.Database, err)
	}
	analysts, err := e.analysts(ctx, admin, n)
	if err != nil {
		return err
	}
	for _, a := range append(analysts, n.ReadRole, n.Login) {
		if _, err := admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+e.Quote(a)); err != nil {
			return fmt.Errorf("drop %s: %w", a, err)
		}
	}
	return nil
}

// TableExists implements serverstore.Engine.
func (Engine) TableExists(ctx context.Context, db *sql.DB, table string) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT to_regclass(?) IS NOT NULL`, "public."+pgx.Identifier{table}.Sanitize()).Scan(&ok)
	return ok, err
}

// Tables implements serverstore.Engine.
func (Engine) Tables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// SnapshotTx implements serverstore.Engine: a read-only repeatable-read
// transaction sees one snapshot for all its statements.
func (Engine) SnapshotTx() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// CreateAnalyst implements serverstore.Engine: a login member of the
// read role, whose password stops working at expires (VALID UNTIL), with
// at most 4 sessions.
func (e Engine) CreateAnalyst(ctx context.Context, admin *sql.DB, n serverstore.Names, login, password string, expires time.Time) error {
	stmt := "CREATE ROLE " + e.Quote(login) + " LOGIN INHERIT CONNECTION LIMIT 4 PASSWORD " + literal(password) +
		" VALID UNTIL " + literal(expires.UTC().Format(time.RFC3339)) + " IN ROLE " + e.Quote(n.ReadRole)
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("CREATE ROLE %s: %w", login, err)
	}
	return nil
}

// analysts lists the analysts' logins of n: the members of its read role.
func (Engine) analysts(ctx context.Context, admin *sql.DB, n serverstore.Names) ([]string, error) {
	rows, err := admin.QueryContext(ctx, `SELECT r.rolname FROM pg_roles r
JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
WHERE g.rolname = ? ORDER BY r.rolname`, n.ReadRole)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

type analyst struct {
	name    string
	expired bool
}

func analystsOf(ctx context.Context, admin *sql.DB, n serverstore.Names, now time.Time) ([]analyst, error) {
	rows, err := admin.QueryContext(ctx, `SELECT r.rolname, r.rolvaliduntil < ? FROM pg_roles r
JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
WHERE g.rolname = ?`, now.UTC(), n.ReadRole)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []analyst
	for rows.Next() {
		var a analyst
		var expired sql.NullBool
		if err := rows.Scan(&a.name, &expired); err != nil {
			return nil, err
		}
		a.expired = expired.Valid && expired.Bool
		all = append(all, a)
	}
	return all, rows.Err()
}

// DropExpiredAnalysts implements serverstore.Engine. A login whose
// sessions are still connected after it expired is dropped once they end.
func (e Engine) DropExpiredAnalysts(ctx context.Context, admin *sql.DB, n serverstore.Names, now time.Time) (int, error) {
	all, err := analystsOf(ctx, admin, n, now)
	if err != nil {
		return 0, err
	}
	active := 0
	for _, a := range all {
		if !a.expired {
			active++
			continue
		}
		if _, err := admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+e.Quote(a.name)); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "2BP01" { // still has sessions or objects: next time
				continue
			}
			return active, fmt.Errorf("drop %s: %w", a.name, err)
		}
	}
	return active, nil
}
