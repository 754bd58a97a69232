package http

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
)

// Analytics is the analysts' resource (CONTRACT.md section 8): a
// consistent SQLite copy of the tenant's read tables, and read-only logins
// to its own read database where the store has logins.
type Analytics struct {
	Snapshots projections.Snapshotter
	// Logins makes read-only logins; nil for a store without (the embedded
	// SQLite files).
	Logins projections.AnalystLogins
	// TempDir holds snapshots while they are sent; default the system's.
	TempDir string
}

type analyticsRoutes struct {
	*api
	res Analytics
	// busy bounds the snapshots being written at once, all tenants: each
	// reads a whole read database.
	busy chan struct{}
}

// Mount implements Resource.
func (res Analytics) Mount(r Routes) {
	a := analyticsRoutes{api: r.a, res: res, busy: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	v1 := r.Tenant()
	v1.Post("/analytics/credentials", a.credentials).Doc(Doc{Summary: "A read-only, expiring login to the tenant's own read database (admin)", Answer: credentialsView{}, Status: 201})
	v1.Download("/analytics/snapshot", "read-tables.sqlite", a.snapshot).Doc(Doc{Summary: "A consistent SQLite copy of the tenant's read tables (admin, auditor)", Media: "application/vnd.sqlite3"})
}

// MaxAnalystLoginHours bounds how long an analyst's login lasts.
const MaxAnalystLoginHours = 24 * 7

type credentialsView struct {
	DSN       string    `json:"dsn"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a analyticsRoutes) credentials(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := requireRole(ctx, user.Admin); err != nil {
		return err
	}
	var b struct {
		Hours *int `json:"hours"`
	}
	if err := Decode(c, &b, true); err != nil {
		return err
	}
	hours := 24
	if b.Hours != nil {
		hours = *b.Hours
	}
	if hours < 1 || hours > MaxAnalystLoginHours {
		return FieldProblem("hours", "hours must be from 1 to 168")
	}
	if a.res.Logins == nil {
		return NewProblem(fiber.StatusConflict, "analytics_logins_unavailable",
			"the embedded read store has no logins: download GET /api/v1/analytics/snapshot instead")
	}
	dsn, expires, err := a.res.Logins.AnalystLogin(ctx, time.Duration(hours)*time.Hour)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return WriteJSON(c, fiber.StatusCreated, credentialsView{DSN: dsn, ExpiresAt: expires.UTC()})
}

// snapshot writes the tenant's copy into a directory of its own, then
// streams it; the directory goes when the answer is sent or abandoned.
func (a analyticsRoutes) snapshot(c *fiber.Ctx) (io.ReadCloser, documents.Object, error) {
	ctx := c.UserContext()
	if err := requireRole(ctx, user.Admin, user.Auditor); err != nil {
		return nil, documents.Object{}, err
	}
	if err := a.turn(ctx); err != nil {
		return nil, documents.Object{}, err
	}
	defer func() { <-a.busy }()
	return sqliteFile(a.res.TempDir, "atrium-snapshot-", func(path string) error { return a.res.Snapshots.Snapshot(ctx, path) })
}

// sqliteFile has write create a SQLite database file in a directory of its
// own under tempDir, and answers it open, to be sent: closing it removes
// the directory. The directory is removed at once when write fails.
func sqliteFile(tempDir, prefix string, write func(path string) error) (io.ReadCloser, documents.Object, error) {
	return tempFile(tempDir, prefix, "application/vnd.sqlite3", write)
}

// tempFile is sqliteFile for a file of any type.
func tempFile(tempDir, prefix, contentType string, write func(path string) error) (io.ReadCloser, documents.Object, error) {
	dir, err := os.MkdirTemp(tempDir, prefix)
	if err != nil {
		return nil, documents.Object{}, err
	}
	path := filepath.Join(dir, "data.sqlite")
	if err := write(path); err != nil {
		_ = os.RemoveAll(dir)
		return nil, documents.Object{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, documents.Object{}, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		_ = os.RemoveAll(dir)
		return nil, documents.Object{}, err
	}
	return removing{File: f, dir: dir}, documents.Object{ContentType: contentType, Size: st.Size(), Modified: st.ModTime()}, nil
}

// turn waits, at most 2 s, for one of the process's snapshot turns.
func (a analyticsRoutes) turn(ctx context.Context) error {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case a.busy <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		p := NewProblem(fiber.StatusServiceUnavailable, "busy", "snapshots are being written for other tenants; try again shortly")
		p.RetryAfter = 5
		return p
	}
}

// removing is a snapshot file that takes its directory with it when
// closed.
type removing struct {
	*os.File
	dir string
}

func (r removing) Close() error {
	err := r.File.Close()
	if rerr := os.RemoveAll(r.dir); err == nil {
		err = rerr
	}
	return err
}
