package sqlserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
	"github.com/pressly/goose/v3"

	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/projections"
)

// Open returns a read store on the SQL Server cfg.URL names (a
// sqlserver:// URL of an account that may create databases and logins:
// dbcreator and securityadmin, or sysadmin).
func Open(cfg serverstore.Config) (*serverstore.Store, error) {
	return serverstore.Open(Engine{}, cfg)
}

// Engine is SQL Server's serverstore.Engine.
type Engine struct{}

var _ serverstore.Engine = Engine{}

// Collation is every tenant database's collation: binary, in code point
// order and case-sensitive, so keys compare and text sorts as on the
// other stores (SQLite's BINARY, PostgreSQL's C).
const Collation = "Latin1_General_100_BIN2"

// expiresProperty is the extended property of an analyst's database user
// that holds when the login expires (RFC 3339, UTC): SQL Server logins
// have no expiry of their own.
const expiresProperty = "atrium_expires"

// Dialect implements serverstore.Engine.
func (Engine) Dialect() projections.Dialect { return projections.SQLServer }

// SQL implements serverstore.Engine.
func (Engine) SQL() projections.SQL { return SQL{} }

// Goose implements serverstore.Engine.
func (Engine) Goose() goose.Dialect { return goose.DialectMSSQL }

var atP = serverstore.Numbered("@p")

// Placeholders implements serverstore.Engine: @p1, @p2, ...
func (Engine) Placeholders() serverstore.Placeholders { return atP }

func config(u string) (msdsn.Config, error) {
	c, err := msdsn.Parse(u)
	if err != nil {
		return msdsn.Config{}, fmt.Errorf("sqlserver url: %w", redactErr(err, u))
	}
	c.AppName = "atrium"
	return c, nil
}

// redactErr keeps a URL's password out of an error.
func redactErr(err error, u string) error {
	p, perr := url.Parse(u)
	if perr != nil {
		return errors.New("unparsable url")
	}
	msg := err.Error()
	if pw, ok := p.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	for k, v := range p.Query() {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "pwd") {
			for _, s := range v {
				if s != "" {
					msg = strings.ReplaceAll(msg, s, "xxxxx")
				}
			}
		}
	}
	return errors.New(msg)
}

// AdminConnector implements serverstore.Engine.
func (Engine) AdminConnector(u string) (driver.Connector, error) {
	c, err := config(u)
	if err != nil {
		return nil, err
	}
	return mssql.NewConnectorConfig(c), nil
}

// Connector implements serverstore.Engine.
func (Engine) Connector(u, db, login, password string) (driver.Connector, error) {
	c, err := config(u)
	if err != nil {
		return nil, err
	}
	c.Database, c.User, c.Password = db, login, password
	return mssql.NewConnectorConfig(c), nil
}

// DSN implements serverstore.Engine: the server's URL with login and
// password in place of the store's, and database db.
func (Engine) DSN(u, db, login, password string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", errors.New("sqlserver url: unparsable")
	}
	p.User = url.UserPassword(login, password)
	q := p.Query()
	for k := range q {
		switch strings.ToLower(k) {
		case "database", "initial catalog", "user id", "password", "pwd", "app name":
			q.Del(k)
		}
	}
	q.Set("database", db)
	p.RawQuery = q.Encode()
	return p.String(), nil
}

// Quote implements serverstore.Engine: QUOTENAME's brackets, a ']'
// doubled.
func (Engine) Quote(ident string) string { return "[" + strings.ReplaceAll(ident, "]", "]]") + "]" }

// literal quotes a Unicode string literal; passwords are hex and names
// are checked, so this never meets a quote, but quotes all the same.
func literal(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Lock implements serverstore.Engine with an application lock owned by
// the session (sp_getapplock) in the database conn is on.
func (Engine) Lock(ctx context.Context, conn *sql.Conn, name string) (func() error, error) {
	var r int
	err := conn.QueryRowContext(ctx, `DECLARE @r INT;
EXEC @r = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = -1;
SELECT @r`, name).Scan(&r)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if r < 0 {
		return nil, fmt.Errorf("lock %s: sp_getapplock returned %d", name, r)
	}
	return func() error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx),
			`EXEC sp_releaseapplock @Resource = ?, @LockOwner = 'Session'`, name)
		return err
	}, nil
}

// inDatabase runs fn with conn on database db (USE), then puts conn back
// on the database it was on.
func inDatabase(ctx context.Context, conn *sql.Conn, db string, fn func() error) error {
	var was string
	if err := conn.QueryRowContext(ctx, `SELECT DB_NAME()`).Scan(&was); err != nil {
		return err
	}
	if err := run(ctx, conn, "USE "+Engine{}.Quote(db)); err != nil {
		return err
	}
	err := fn()
	return errors.Join(err, run(context.WithoutCancel(ctx), conn, "USE "+Engine{}.Quote(was)))
}

// execer runs statements and names what failed without the password a
// statement may hold.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func run(ctx context.Context, c execer, stmts ...string) error {
	for _, stmt := range stmts {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			verb, _, _ := strings.Cut(stmt, " PASSWORD")
			verb, _, _ = strings.Cut(verb, "\n")
			return fmt.Errorf("%s: %w", verb, err)
		}
	}
	return nil
}

// Provision implements serverstore.Engine, under an application lock on
// the database's name in the admin connection's database, so two
// processes provisioning one tenant take turns.
func (e Engine) Provision(ctx context.Context, conn *sql.Conn, n serverstore.Names, password string, newPassword bool) error {
	unlock, err := e.Lock(ctx, conn, "atrium.provision."+n.Database)
	if err != nil {
		return err
	}
	err = e.provision(ctx, conn, n, password, newPassword)
	return errors.Join(err, unlock())
}

func (e Engine) provision(ctx context.Context, conn *sql.Conn, n serverstore.Names, password string, newPassword bool) error {
	q := e.Quote
	var login bool
	if err := conn.QueryRowContext(ctx, `SELECT CASE WHEN SUSER_ID(?) IS NULL THEN 0 ELSE 1 END`, n.Login).Scan(&login); err != nil {
		return err
	}
	switch {
	case !login:
		// The password is 64 random hex digits: the policy's complexity
		// rules (three kinds of characters) would refuse it for no gain.
		if err := run(ctx, conn, "CREATE LOGIN "+q(n.Login)+" WITH PASSWORD = "+literal(password)+
			", CHECK_POLICY = OFF, CHECK_EXPIRATION = OFF"); err != nil {
			return err
		}
	case newPassword:
		if err := run(ctx, conn, "ALTER LOGIN "+q(n.Login)+" WITH PASSWORD = "+literal(password)); err != nil {
			return err
		}
	}
	// The tenant's login sees no other database's name (only master,
	// tempdb and its own).
	if err := run(ctx, conn, "DENY VIEW ANY DATABASE TO "+q(n.Login)); err != nil {
		return err
	}
	exists, err := e.exists(ctx, conn, n.Database)
	if err != nil {
		return err
	}
	if !exists {
		// CREATE DATABASE runs in no transaction: on its own.
		if err := run(ctx, conn, "CREATE DATABASE "+q(n.Database)+" COLLATE "+Collation); err != nil {
			return err
		}
	}
	var snapshot, rcsi bool
	if err := conn.QueryRowContext(ctx, `SELECT CASE WHEN snapshot_isolation_state = 1 THEN 1 ELSE 0 END, is_read_committed_snapshot_on
FROM sys.databases WHERE name = ?`, n.Database).Scan(&snapshot, &rcsi); err != nil {
		return err
	}
	if !snapshot {
		// A snapshot (analysts') reads one instant in SNAPSHOT isolation.
		if err := run(ctx, conn, "ALTER DATABASE "+q(n.Database)+" SET ALLOW_SNAPSHOT_ISOLATION ON"); err != nil {
			return err
		}
	}
	if !rcsi {
		// Readers see the last committed rows without waiting on writers,
		// as on PostgreSQL. It needs the database alone: set when it is
		// new, and only ever once.
		if err := run(ctx, conn, "ALTER DATABASE "+q(n.Database)+" SET READ_COMMITTED_SNAPSHOT ON WITH ROLLBACK IMMEDIATE"); err != nil {
			return err
		}
	}
	err = inDatabase(ctx, conn, n.Database, func() error {
		return run(ctx, conn,
			// The login's user, a member of db_owner: it migrates and
			// writes the read models. A user left from an earlier login
			// of the name is mapped to the current one.
			"IF DATABASE_PRINCIPAL_ID("+literal(n.Login)+") IS NULL CREATE USER "+q(n.Login)+" FOR LOGIN "+q(n.Login)+
				" ELSE IF (SELECT sid FROM sys.database_principals WHERE name = "+literal(n.Login)+") <> SUSER_SID("+literal(n.Login)+")"+
				" ALTER USER "+q(n.Login)+" WITH LOGIN = "+q(n.Login),
			"ALTER ROLE db_owner ADD MEMBER "+q(n.Login),
			"IF DATABASE_PRINCIPAL_ID("+literal(n.ReadRole)+") IS NULL CREATE ROLE "+q(n.ReadRole),
			// No login without a user of its own in the database opens it.
			"REVOKE CONNECT FROM guest",
		)
	})
	if err != nil {
		return err
	}
	return run(ctx, conn, "ALTER LOGIN "+q(n.Login)+" WITH DEFAULT_DATABASE = "+q(n.Database))
}

// Prepare implements serverstore.Engine: run by the database's owner, it
// lets the read role read every table of dbo, now and later.
func (e Engine) Prepare(ctx context.Context, db *sql.DB, n serverstore.Names) error {
	if err := run(ctx, db, "GRANT SELECT ON SCHEMA::dbo TO "+e.Quote(n.ReadRole)); err != nil {
		return fmt.Errorf("prepare %s: %w", n.Database, err)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (Engine) exists(ctx context.Context, c queryer, db string) (bool, error) {
	var ok bool
	err := c.QueryRowContext(ctx, `SELECT CASE WHEN DB_ID(?) IS NULL THEN 0 ELSE 1 END`, db).Scan(&ok)
	return ok, err
}

// Exists implements serverstore.Engine.
func (e Engine) Exists(ctx context.Context, admin *sql.DB, db string) (bool, error) {
	return e.exists(ctx, admin, db)
}

// Databases implements serverstore.Engine. The prefix is matched here,
// not by LIKE, where '_' is a wildcard, nor by the server's collation,
// which may ignore case.
func (Engine) Databases(ctx context.Context, admin *sql.DB, prefix string) ([]string, error) {
	all, err := strings1(ctx, admin, `SELECT name FROM sys.databases ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

type rowser interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func ints(ctx context.Context, db rowser, query string, args ...any) ([]int, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func strings1(ctx context.Context, db rowser, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
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

// Drop implements serverstore.Engine: the database (its sessions ended
// first), then the tenant's and its analysts' logins.
func (e Engine) Drop(ctx context.Context, admin *sql.DB, n serverstore.Names) error {
	exists, err := e.exists(ctx, admin, n.Database)
	if err != nil {
		return err
	}
	if exists {
		// One batch: no session of the tenant's takes the single user's
		// place between the two.
		if err := run(ctx, admin, "ALTER DATABASE "+e.Quote(n.Database)+" SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n"+
			"DROP DATABASE "+e.Quote(n.Database)); err != nil {
			return fmt.Errorf("drop %s: %w", n.Database, err)
		}
	}
	logins, err := e.analystLogins(ctx, admin, n)
	if err != nil {
		return err
	}
	for _, l := range append(logins, n.Login) {
		if err := e.dropLogin(ctx, admin, l, false); err != nil {
			return fmt.Errorf("drop %s: %w", l, err)
		}
	}
	return nil
}

type admin interface {
	execer
	rowser
	queryer
}

// dropLogin ends login's sessions and drops it, when it exists, and
// first its user in the database c is on when user.
func (e Engine) dropLogin(ctx context.Context, c admin, login string, user bool) error {
	var ok bool
	if err := c.QueryRowContext(ctx, `SELECT CASE WHEN SUSER_ID(?) IS NULL THEN 0 ELSE 1 END`, login).Scan(&ok); err != nil {
		return err
	}
	if ok {
		// A disabled login opens no new session, whatever happens next.
		if err := run(ctx, c, "ALTER LOGIN "+e.Quote(login)+" DISABLE"); err != nil {
			return err
		}
		// Ending its sessions takes ALTER ANY CONNECTION.
		ids, err := ints(ctx, c, `SELECT session_id FROM sys.dm_exec_sessions WHERE login_name = ? AND session_id <> @@SPID`, login)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := run(ctx, c, fmt.Sprintf("KILL %d", id)); err != nil {
				return err
			}
		}
	}
	if user {
		if err := run(ctx, c, "IF DATABASE_PRINCIPAL_ID("+literal(login)+") IS NOT NULL DROP USER "+e.Quote(login)); err != nil {
			return err
		}
	}
	if !ok {
		return nil
	}
	return run(ctx, c, "DROP LOGIN "+e.Quote(login))
}

// TableExists implements serverstore.Engine.
func (e Engine) TableExists(ctx context.Context, db *sql.DB, table string) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT CASE WHEN OBJECT_ID(?, 'U') IS NULL THEN 0 ELSE 1 END`, "dbo."+e.Quote(table)).Scan(&ok)
	return ok, err
}

// Tables implements serverstore.Engine: dbo's tables.
func (Engine) Tables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sys.tables WHERE schema_id = SCHEMA_ID('dbo') ORDER BY name`)
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

// SnapshotTx implements serverstore.Engine: a SNAPSHOT transaction
// (provisioning allows it in every tenant database) sees the database as
// it was when it first read. go-mssqldb has no read-only transactions:
// the snapshot only reads.
func (Engine) SnapshotTx() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelSnapshot}
}

// CreateAnalyst implements serverstore.Engine: a login whose user in the
// tenant's database is a member of the read role. SQL Server logins do
// not expire: expires is kept as an extended property of the user, and
// DropExpiredAnalysts drops the login once it is past. Nor do they have
// a connection limit.
func (e Engine) CreateAnalyst(ctx context.Context, admin *sql.DB, n serverstore.Names, login, password string, expires time.Time) error {
	q := e.Quote
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = run(ctx, conn,
		"CREATE LOGIN "+q(login)+" WITH PASSWORD = "+literal(password)+
			", CHECK_POLICY = OFF, CHECK_EXPIRATION = OFF, DEFAULT_DATABASE = "+q(n.Database),
		"DENY VIEW ANY DATABASE TO "+q(login),
	)
	if err == nil {
		err = inDatabase(ctx, conn, n.Database, func() error {
			return run(ctx, conn,
				"CREATE USER "+q(login)+" FOR LOGIN "+q(login),
				"EXEC sys.sp_addextendedproperty @name = "+literal(expiresProperty)+
					", @value = "+literal(expires.UTC().Format(time.RFC3339))+
					", @level0type = N'USER', @level0name = "+literal(login),
				"ALTER ROLE "+q(n.ReadRole)+" ADD MEMBER "+q(login),
			)
		})
	}
	if err != nil {
		return fmt.Errorf("analyst %s: %w", login, err)
	}
	return nil
}

var analystSuffix = regexp.MustCompile(`^_a[0-9a-f]{12}$`)

// analystLogins lists the server's logins of n's analysts: named
// <login>_a<12 hex digits> (a tenant's slug has no '_', so no other
// tenant's names are of this form).
func (Engine) analystLogins(ctx context.Context, c rowser, n serverstore.Names) ([]string, error) {
	all, err := strings1(ctx, c, `SELECT name FROM sys.server_principals WHERE type = 'S'`)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range all {
		if rest, ok := strings.CutPrefix(l, n.Login); ok && analystSuffix.MatchString(rest) {
			out = append(out, l)
		}
	}
	return out, nil
}

// DropExpiredAnalysts implements serverstore.Engine: the logins of n's
// analysts past their expiry, or with no expiry kept (a CreateAnalyst cut
// short), are dropped with their users, their sessions ended; an expired
// login works until it is dropped here (when its tenant next asks for a
// login).
func (e Engine) DropExpiredAnalysts(ctx context.Context, admin *sql.DB, n serverstore.Names, now time.Time) (int, error) {
	conn, err := admin.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	logins, err := e.analystLogins(ctx, conn, n)
	if err != nil || len(logins) == 0 {
		return 0, err
	}
	active := 0
	err = inDatabase(ctx, conn, n.Database, func() error {
		expiry, err := expiries(ctx, conn)
		if err != nil {
			return err
		}
		for _, l := range logins {
			if t, ok := expiry[l]; ok && now.Before(t) {
				active++
				continue
			}
			if err := e.dropLogin(ctx, conn, l, true); err != nil {
				return fmt.Errorf("drop %s: %w", l, err)
			}
		}
		return nil
	})
	return active, err
}

// expiries reads when the analysts' users of the database c is on
// expire.
func expiries(ctx context.Context, c rowser) (map[string]time.Time, error) {
	rows, err := c.QueryContext(ctx, `SELECT p.name, CAST(x.value AS NVARCHAR(40))
FROM sys.database_principals p
LEFT JOIN sys.extended_properties x ON x.class = 4 AND x.major_id = p.principal_id AND x.name = ?
WHERE p.type = 'S'`, expiresProperty)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	expiry := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at sql.NullString
		if err := rows.Scan(&name, &at); err != nil {
			return nil, err
		}
		if t, err := time.Parse(time.RFC3339, at.String); at.Valid && err == nil {
			expiry[name] = t
		}
	}
	return expiry, rows.Err()
}
