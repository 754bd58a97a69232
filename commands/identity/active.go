package identity

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// ActiveCache configures what Active remembers of the logins it found
// open, so that an authenticated request does not ask the sessions store
// each time: that store is replicated and answers only through its
// leader, while the rest of a read needs nothing but this process and the
// tenant's read database. Only open logins are remembered, each for the
// tenant it belongs to.
type ActiveCache struct {
	// TTL is how long a login found open is taken as open without asking
	// the store again, never past the login's expiry; default 30s. A login
	// revoked through this handler (Logout, a reused refresh token) is
	// forgotten at once; one revoked through another process is refused
	// here after at most TTL.
	TTL time.Duration
	// Size bounds how many logins are remembered, the least recently used
	// forgotten first; default 100,000 (some 20 MB).
	Size int
}

func (c *ActiveCache) setDefaults() {
	if c.TTL == 0 {
		c.TTL = 30 * time.Second
	}
	if c.Size == 0 {
		c.Size = 100_000
	}
}

// Validate reports every problem of c.
func (c ActiveCache) Validate() error {
	var errs []error
	if c.TTL < 0 {
		errs = append(errs, errors.New("identity: ActiveCache.TTL is negative"))
	}
	if c.Size < 0 {
		errs = append(errs, errors.New("identity: ActiveCache.Size is negative"))
	}
	return errors.Join(errs...)
}

// CacheActive sets what Active remembers (see ActiveCache), forgetting
// what it remembered; zero fields take their defaults. Call it before the
// handler serves.
func (h *Handler) CacheActive(c ActiveCache) error {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	h.active = newActiveCache(c)
	return nil
}

// Active reports whether a login is still open, for the ctx tenant (the
// platform without one). A login found open and belonging to that tenant
// is remembered for a while (see ActiveCache); nothing else is.
func (h *Handler) Active(ctx context.Context, sessionID string) (bool, error) {
	scope := tenant.Platform
	if t, err := tenant.From(ctx); err == nil {
		scope = t
	}
	key := activeKey{tenant: scope, session: sessionID}
	now := h.now()
	if h.active.open(key, now) {
		return true, nil
	}
	s, _, err := h.sessions.Get(ctx, sessionID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	open := !s.Revoked && now.Before(s.ExpiresAt)
	if open && s.Tenant == scope {
		h.active.remember(key, s.ExpiresAt, now)
	}
	return open, nil
}

// forgetSession makes Active ask the store again about s, at once, on
// this process. Called before s is revoked: a check that read the store
// before the revocation cannot remember s afterwards.
func (h *Handler) forgetSession(s Session) {
	h.active.forget(activeKey{tenant: s.Tenant, session: s.ID}, h.now())
}

// activeKey is a login as presented to a tenant.
type activeKey struct {
	tenant  tenant.ID
	session string
}

// activeEntry is a login remembered open until until, or, forgotten, one
// not to be remembered again until then.
type activeEntry struct {
	key       activeKey
	until     time.Time
	forgotten bool
}

// activeCache is a bounded map of logins found open, least recently used
// evicted first. It is safe for concurrent use.
type activeCache struct {
	ttl  time.Duration
	size int

	mu    sync.Mutex
	lru   *list.List // of *activeEntry, the most recently used first
	byKey map[activeKey]*list.Element
}

func newActiveCache(c ActiveCache) *activeCache {
	return &activeCache{ttl: c.TTL, size: c.Size, lru: list.New(), byKey: map[activeKey]*list.Element{}}
}

// open reports whether k is remembered open at now.
func (c *activeCache) open(k activeKey, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return false
	}
	e := el.Value.(*activeEntry)
	if !now.Before(e.until) {
		c.remove(el)
		return false
	}
	if e.forgotten {
		return false
	}
	c.lru.MoveToFront(el)
	return true
}

// remember records k open from now for the TTL, or until expires if
// sooner, unless it was forgotten less than a TTL ago.
func (c *activeCache) remember(k activeKey, expires, now time.Time) {
	until := now.Add(c.ttl)
	if expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[k]; ok {
		e := el.Value.(*activeEntry)
		if e.forgotten && now.Before(e.until) {
			return
		}
		e.until, e.forgotten = until, false
		c.lru.MoveToFront(el)
		return
	}
	c.add(&activeEntry{key: k, until: until})
}

// forget drops k and keeps it from being remembered for a TTL.
func (c *activeCache) forget(k activeKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[k]; ok {
		e := el.Value.(*activeEntry)
		e.until, e.forgotten = now.Add(c.ttl), true
		c.lru.MoveToFront(el)
		return
	}
	c.add(&activeEntry{key: k, until: now.Add(c.ttl), forgotten: true})
}

// add adds e, evicting the least recently used entries beyond the size.
// Called with c.mu held.
func (c *activeCache) add(e *activeEntry) {
	c.byKey[e.key] = c.lru.PushFront(e)
	for c.lru.Len() > c.size {
		c.remove(c.lru.Back())
	}
}

// remove drops el. Called with c.mu held.
func (c *activeCache) remove(el *list.Element) {
	c.lru.Remove(el)
	delete(c.byKey, el.Value.(*activeEntry).key)
}

// len is how many entries are held, forgotten ones included.
func (c *activeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
