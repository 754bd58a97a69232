package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// sessionStore is identity.Sessions in memory, counting the lookups, and
// unavailable on demand.
type sessionStore struct {
	mu   sync.Mutex
	m    map[string]identity.Session
	rev  map[string]uint64
	gets int
	down bool
}

var errUnavailable = errors.New("sessions store unavailable")

func newSessionStore() *sessionStore {
	return &sessionStore{m: map[string]identity.Session{}, rev: map[string]uint64{}}
}

func (s *sessionStore) Create(_ context.Context, sess identity.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[sess.ID] = sess
	s.rev[sess.ID]++
	return nil
}

func (s *sessionStore) Get(_ context.Context, id string) (identity.Session, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.down {
		return identity.Session{}, 0, errUnavailable
	}
	sess, ok := s.m[id]
	if !ok {
		return identity.Session{}, 0, identity.ErrNotFound
	}
	return sess, s.rev[id], nil
}

func (s *sessionStore) Update(_ context.Context, sess identity.Session, revision uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errUnavailable
	}
	if s.rev[sess.ID] != revision {
		return identity.ErrStale
	}
	s.m[sess.ID] = sess
	s.rev[sess.ID]++
	return nil
}

func (s *sessionStore) lookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

func (s *sessionStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// clock is a time that tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type activeFixture struct {
	t     *testing.T
	store *sessionStore
	clock *clock
	h     *identity.Handler
}

func newActiveFixture(t *testing.T) *activeFixture {
	t.Helper()
	f := &activeFixture{t: t, store: newSessionStore(), clock: &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}}
	f.h = identity.NewHandler(nil, nil, f.store, nil, nil, f.clock.now)
	return f
}

// login stores an open login of tn, expiring in a day.
func (f *activeFixture) login(id string, tn tenant.ID, change ...func(*identity.Session)) {
	f.t.Helper()
	s := identity.Session{ID: id, UserID: "u-" + id, Tenant: tn, Current: "current", ExpiresAt: f.clock.now().Add(24 * time.Hour)}
	for _, c := range change {
		c(&s)
	}
	if err := f.store.Create(context.Background(), s); err != nil {
		f.t.Fatal(err)
	}
}

// active asks whether session id is open, presented to tn ("" for none).
func (f *activeFixture) active(tn tenant.ID, id string) (bool, error) {
	ctx := context.Background()
	if tn != "" {
		ctx = tenant.With(ctx, tn)
	}
	return f.h.Active(ctx, id)
}

func (f *activeFixture) want(tn tenant.ID, id string, open bool, err error) {
	f.t.Helper()
	got, gotErr := f.active(tn, id)
	if got != open || !errors.Is(gotErr, err) {
		f.t.Fatalf("Active(%s, %s) = %v, %v; want %v, %v", tn, id, got, gotErr, open, err)
	}
}

func TestActiveRemembersOpenLoginsOnly(t *testing.T) {
	f := newActiveFixture(t)
	f.login("open", "acme")
	f.login("revoked", "acme", func(s *identity.Session) { s.Revoked = true })
	f.login("expired", "acme", func(s *identity.Session) { s.ExpiresAt = f.clock.now().Add(-time.Minute) })
	f.login("root", tenant.Platform)

	for range 3 {
		f.want("acme", "open", true, nil)
		f.want("", "root", true, nil)
	}
	if n := f.store.lookups(); n != 2 {
		t.Fatalf("%d lookups for two open logins checked three times each", n)
	}
	for _, id := range []string{"revoked", "expired", "unknown"} {
		f.want("acme", id, false, nil)
		f.want("acme", id, false, nil)
	}
	if n := f.store.lookups(); n != 2+6 {
		t.Fatalf("%d lookups: refusals must not be remembered", n-2)
	}

	// The store unavailable: remembered logins still pass, the rest fail.
	f.store.setDown(true)
	f.want("acme", "open", true, nil)
	f.want("", "root", true, nil)
	f.want("acme", "revoked", false, errUnavailable)

	// Until the TTL is over.
	f.clock.advance(29 * time.Second)
	f.want("acme", "open", true, nil)
	f.clock.advance(time.Second)
	f.want("acme", "open", false, errUnavailable)
}

func TestActiveIsRememberedPerTenant(t *testing.T) {
	f := newActiveFixture(t)
	f.login("a", "acme")
	f.want("acme", "a", true, nil)
	// Presented on globex, acme's login is looked up again (the caller
	// refuses a token of another tenant), and not remembered for globex.
	f.want("globex", "a", true, nil)
	f.store.setDown(true)
	f.want("globex", "a", false, errUnavailable)
	f.want("", "a", false, errUnavailable)
	f.want("acme", "a", true, nil)
}

func TestRevokedLoginsAreForgottenAtOnce(t *testing.T) {
	f := newActiveFixture(t)
	f.login("out", "acme")
	secret := "old refresh secret"
	sum := sha256.Sum256([]byte(secret))
	f.login("reused", "acme", func(s *identity.Session) { s.Retired = []string{hex.EncodeToString(sum[:])} })
	f.want("acme", "out", true, nil)
	f.want("acme", "reused", true, nil)

	ctx := user.With(tenant.With(context.Background(), "acme"), user.Principal{ID: "u-out", SessionID: "out"})
	if err := f.h.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	f.want("acme", "out", false, nil)

	if _, err := f.h.Refresh(tenant.With(context.Background(), "acme"), "reused."+secret); !errors.Is(err, identity.ErrRefreshReused) {
		t.Fatalf("refresh with a retired token: %v", err)
	}
	f.want("acme", "reused", false, nil)
}

func TestCacheActiveConfig(t *testing.T) {
	f := newActiveFixture(t)
	if err := f.h.CacheActive(identity.ActiveCache{TTL: -time.Second, Size: -1}); err == nil {
		t.Fatal("negative TTL and size accepted")
	}
	if err := f.h.CacheActive(identity.ActiveCache{TTL: time.Second, Size: 1}); err != nil {
		t.Fatal(err)
	}
	f.login("a", "acme")
	f.login("b", "acme")
	f.want("acme", "a", true, nil)
	f.want("acme", "b", true, nil)
	f.store.setDown(true)
	f.want("acme", "b", true, nil)
	f.want("acme", "a", false, errUnavailable) // one login remembered at most
	f.clock.advance(time.Second)
	f.want("acme", "b", false, errUnavailable)
}
