// Package pgtest gives tests a real PostgreSQL server: the one
// ATRIUM_TEST_POSTGRES_URL names (a superuser's URL), or a throwaway one
// started from the PostgreSQL binaries on the machine (initdb and pg_ctl,
// found under /usr/lib/postgresql/<version>/bin or on PATH) in a temporary
// directory, as an unprivileged user when the tests run as root (initdb
// refuses root). Passwords are checked on TCP (scram-sha-256), so a role's
// privileges are what they would be in production. One server serves a
// test binary; each test takes databases of its own.
//
// When neither is available the test is skipped, unless
// ATRIUM_REQUIRE_POSTGRES is set (make test sets it), when it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// Server is a PostgreSQL server tests may use.
type Server struct {
	// URL is a superuser's URL, for the "postgres" database.
	URL string
	// Admin is a pool on URL.
	Admin *sql.DB

	// watchdog is the write end of a started server's watchdog pipe, held
	// (so never finalized) for the life of the process.
	watchdog io.WriteCloser
}

var (
	once   sync.Once
	shared *Server
	setErr error
)

// Start returns the test binary's server, starting it on first use. Its
// data directory is removed when the process exits normally; a server
// left by a killed test binary lives in a temporary directory.
func Start(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, setErr = start() })
	if setErr != nil {
		if os.Getenv("ATRIUM_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (ATRIUM_REQUIRE_POSTGRES) and could not start: %v", setErr)
		}
		t.Skipf("no PostgreSQL: %v (set ATRIUM_TEST_POSTGRES_URL, or install PostgreSQL's server binaries)", setErr)
	}
	return shared
}

// Database creates a fresh database for t, dropped when t ends, and
// returns a superuser's URL for it.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(8)
	ctx := context.Background()
	if _, err := s.Admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = s.Admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return WithDatabase(s.URL, name)
}

// WithDatabase returns u naming database db instead.
func WithDatabase(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func start() (*Server, error) {
	if u := os.Getenv("ATRIUM_TEST_POSTGRES_URL"); u != "" {
		return connect(u)
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	return startLocal(bin)
}

func connect(u string) (*Server, error) {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err = db.PingContext(ctx)
		if err == nil {
			return &Server{URL: u, Admin: db}, nil
		}
		select {
		case <-ctx.Done():
			_ = db.Close()
			return nil, fmt.Errorf("postgres %s: %w", redact(u), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable url)"
	}
	return p.Redacted()
}

// binDir finds initdb and pg_ctl: the newest version under
// /usr/lib/postgresql, else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no initdb under /usr/lib/postgresql/*/bin or on PATH")
	}
	return filepath.Dir(p), nil
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// startLocal runs initdb and pg_ctl in a temporary directory, as the
// "postgres" or "nobody" user when running as root.
func startLocal(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "atrium-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := runAs(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	password := randomHex(16)
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := chownAll(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C")
	if out, err := run(initdb, cred); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// The server runs under a shell that waits on its standard input: when
	// the test binary ends, however it ends, the pipe closes and the shell
	// stops the server and removes its directory.
	script := `"$PGBIN/postgres" -D "$PGDATA" -c listen_addresses=127.0.0.1 -c port="$PGPORT" -c unix_socket_directories="$PGDIR" \
	  -c fsync=off -c max_connections=200 >"$PGDIR/log" 2>&1 &
pid=$!
read _
kill -INT $pid 2>/dev/null
wait $pid
rm -rf "$PGDIR"`
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGBIN="+bin, "PGDATA="+data, "PGDIR="+dir, "PGPORT="+strconv.Itoa(port))
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	u := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", password, port)
	s, err := connect(u)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("%w; server log: %s", err, log)
	}
	s.watchdog = stdin // never closed: the process's end closes it
	return s, nil
}

// runAs is who the server runs as: nil (the current user) unless that is
// root, then "postgres" when the system has that user, else "nobody".
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The server needs to reach its directory: open the way to it.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				if d == dir {
					continue
				}
				return nil, fmt.Errorf("%s is not reachable by %s", d, name)
			}
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")
}

func chownAll(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}

func run(cmd *exec.Cmd, cred *syscall.Credential) (string, error) {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
