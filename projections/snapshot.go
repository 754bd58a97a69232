package projections

import (
	"context"
	"errors"
	"time"
)

// Snapshotter writes a consistent copy of the ctx tenant's read tables, as
// one SQLite database file at path (which must not exist), for analysts'
// own SQL tools: every read model's tables at one instant, whatever the
// store. The copy holds nothing of another tenant.
type Snapshotter interface {
	Snapshot(ctx context.Context, path string) error
}

// AnalystLogins makes read-only logins to the ctx tenant's own read
// database, for analysts' SQL tools (server stores only).
type AnalystLogins interface {
	// AnalystLogin creates a login that may read the ctx tenant's read
	// tables and nothing else, valid for ttl, and returns its DSN.
	AnalystLogin(ctx context.Context, ttl time.Duration) (dsn string, expires time.Time, err error)
}

// ErrTooManyAnalystLogins is returned by AnalystLogin when the tenant has
// as many unexpired analysts' logins as the store allows.
var ErrTooManyAnalystLogins = errors.New("projections: too many analysts' logins")
