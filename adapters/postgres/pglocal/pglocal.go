// Package pglocal starts a throwaway PostgreSQL server from the binaries
// on the machine (initdb and pg_ctl, found under
// /usr/lib/postgresql/<version>/bin or on PATH), in a temporary directory,
// as an unprivileged user when run as root (initdb refuses root), or
// connects to a server a URL names. Tests (pgtest) and the benchmarks use
// it. Passwords are checked on TCP (scram-sha-256).
package pglocal

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
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// Server is a PostgreSQL server.
type Server struct {
	// URL is a superuser's URL, for the "postgres" database.
	URL string
	// Admin is a pool on URL.
	Admin *sql.DB

	// watchdog is the write end of a started server's watchdog pipe, held
	// (so never finalized) for the life of the process.
	watchdog io.WriteCloser
}

// keep holds every started server for the life of the process.
var (
	keepMu sync.Mutex
	keep   []*Server
)

// Options shape a started server.
type Options struct {
	// MaxConnections is the server's max_connections; 0 keeps
	// PostgreSQL's default (100).
	MaxConnections int
	// NoFsync turns fsync off (tests: nothing outlives the process).
	NoFsync bool
}

// Start connects to the server url names, when it is not empty, or starts
// one from the machine's binaries. A started server stops, and its
// directory goes, when the process ends, however it ends.
func Start(u string, o Options) (*Server, error) {
	if u != "" {
		return Connect(u)
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	return startLocal(bin, o)
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Connect connects to the server u names, waiting up to 30 s for it.
func Connect(u string) (*Server, error) {
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
func startLocal(bin string, o Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "atrium-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := runAs(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	password := RandomHex(16)
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
	  $PGOPTS >"$PGDIR/log" 2>&1 &
pid=$!
read _
kill -INT $pid 2>/dev/null
wait $pid
rm -rf "$PGDIR"`
	cmd := exec.Command("sh", "-c", script)
	var opts []string
	if o.NoFsync {
		opts = append(opts, "-c fsync=off")
	}
	if o.MaxConnections > 0 {
		opts = append(opts, "-c max_connections="+strconv.Itoa(o.MaxConnections))
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGBIN="+bin, "PGDATA="+data, "PGDIR="+dir, "PGPORT="+strconv.Itoa(port),
		"PGOPTS="+strings.Join(opts, " "))
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
	s, err := Connect(u)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("%w; server log: %s", err, log)
	}
	s.watchdog = stdin // never closed: the process's end closes it
	keepMu.Lock()
	keep = append(keep, s) // never collected, so the pipe is never finalized
	keepMu.Unlock()
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
