package http

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/atrium-platform/atrium/adapters/admission"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// keyedLimiter is a token bucket per key, for keys a client chooses
// (addresses, emails): at most size keys are remembered, the least recently
// seen forgotten first, so no sequence of keys grows it without bound.
type keyedLimiter struct {
	every rate.Limit
	burst int
	mu    sync.Mutex
	cache *lru.Cache[string, *rate.Limiter]
}

func newKeyedLimiter(every rate.Limit, burst, size int) *keyedLimiter {
	c, err := lru.New[string, *rate.Limiter](size)
	if err != nil {
		panic(err) // size is a positive constant
	}
	return &keyedLimiter{every: every, burst: burst, cache: c}
}

func (k *keyedLimiter) get(key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.cache.Get(key)
	if !ok {
		l = rate.NewLimiter(k.every, k.burst)
		k.cache.Add(key, l)
	}
	return l
}

// allow takes a token for key, reporting whether there was one.
func (k *keyedLimiter) allow(key string) bool { return k.get(key).Allow() }

// wait is how long until key has a token: 0 when it has one now. It takes
// nothing.
func (k *keyedLimiter) wait(key string) time.Duration {
	return untilToken(k.get(key))
}

// spend takes a token for key, even when that leaves it in debt.
func (k *keyedLimiter) spend(key string) {
	now := time.Now()
	k.get(key).ReserveN(now, 1)
}

func untilToken(l *rate.Limiter) time.Duration {
	now := time.Now()
	if l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return max(d, time.Millisecond)
}

// retryAfter is a Retry-After value: whole seconds, at least one.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// loginLimits are the sign-in's limits. Password checks are the costliest
// work an anonymous client can ask for, and guessing is what they are for,
// so: attempts are limited per client address (the cost one address can
// cause) and per tenant (its share); failures, not successes, are limited
// per address and per account and address, so an attacker's failures from
// their addresses never lock the account's owner out at theirs.
type loginLimits struct {
	attemptsByAddress *keyedLimiter
	attemptsByTenant  *keyedLimiter
	failsByAddress    *keyedLimiter
	failsByAccount    *keyedLimiter
}

func newLoginLimits() *loginLimits {
	return &loginLimits{
		attemptsByAddress: newKeyedLimiter(10, 200, 100_000),
		attemptsByTenant:  newKeyedLimiter(20, 200, 100_000),
		failsByAddress:    newKeyedLimiter(rate.Every(5*time.Second), 50, 100_000),
		failsByAccount:    newKeyedLimiter(rate.Every(12*time.Second), 5, 100_000),
	}
}

// admit reports how long the client must wait before this attempt may be
// checked: 0 admits it (and counts it as an attempt).
func (l *loginLimits) admit(t tenant.ID, address, account string) time.Duration {
	if d := max(l.failsByAddress.wait(address), l.failsByAccount.wait(account)); d > 0 {
		return d
	}
	if d := l.attemptsByAddress.wait(address); d > 0 {
		return d
	}
	if d := l.attemptsByTenant.wait(string(t)); d > 0 {
		return d
	}
	l.attemptsByAddress.spend(address)
	l.attemptsByTenant.spend(string(t))
	return 0
}

// failed counts a failed attempt.
func (l *loginLimits) failed(address, account string) {
	l.failsByAddress.spend(address)
	l.failsByAccount.spend(account)
}

// Admission bounds each tenant's requests, so that one tenant at
// saturation cannot starve the others: a request rate and a number of
// requests in flight per tenant, beyond which the tenant's requests are
// answered 429 with Retry-After; and a number of requests served at once
// in all, shared in turn between the tenants waiting for one.
type Admission struct {
	// Slots is how many tenant requests are served at once, all tenants
	// together; default 16 × GOMAXPROCS.
	Slots int
	// Queue is how many requests may wait for a slot, per tenant; default
	// the tenant's Concurrent.
	Queue int
	// Limits returns a tenant's limits; zero fields take
	// DefaultTenantLimits. Default: the limits the catalog records for the
	// tenant (PUT /admin/v1/tenants/{slug}/limits).
	Limits func(tenant.ID) TenantLimits
}

// TenantLimits are one tenant's admission limits.
type TenantLimits struct {
	// RequestsPerSecond is the sustained rate of requests.
	RequestsPerSecond float64
	// Burst is how many requests may come at once above the rate.
	Burst int
	// Concurrent is how many of the tenant's requests are served at once.
	Concurrent int
}

// DefaultTenantLimits are the limits of a tenant that names none.
var DefaultTenantLimits = TenantLimits{RequestsPerSecond: 100, Burst: 200, Concurrent: 8}

func (l TenantLimits) withDefaults() TenantLimits {
	if l.RequestsPerSecond <= 0 {
		l.RequestsPerSecond = DefaultTenantLimits.RequestsPerSecond
	}
	if l.Burst <= 0 {
		l.Burst = DefaultTenantLimits.Burst
	}
	if l.Concurrent <= 0 {
		l.Concurrent = DefaultTenantLimits.Concurrent
	}
	return l
}

func (c *Admission) setDefaults() {
	if c.Slots == 0 {
		c.Slots = 16 * runtime.GOMAXPROCS(0)
	}
}

// Validate reports every value out of range.
func (c Admission) Validate() error {
	if c.Slots < 0 || c.Queue < 0 {
		return errors.New("http: Admission.Slots and Queue must not be negative")
	}
	return nil
}

type admitter struct {
	cfg  Admission
	gate *admission.Gate

	mu    sync.Mutex
	rates map[tenant.ID]*rate.Limiter
}

func newAdmitter(cfg Admission, catalog Catalog) (*admitter, error) {
	if cfg.Limits == nil && catalog != nil {
		cfg.Limits = func(t tenant.ID) TenantLimits {
			s, _ := catalog.Get(t)
			return TenantLimits{RequestsPerSecond: s.Limits.RequestsPerSecond, Burst: s.Limits.Burst, Concurrent: s.Limits.ConcurrentRequests}
		}
	}
	a := &admitter{cfg: cfg, rates: map[tenant.ID]*rate.Limiter{}}
	queue := cfg.Queue
	if queue == 0 {
		queue = DefaultTenantLimits.Concurrent
	}
	g, err := admission.New(admission.Config{Slots: cfg.Slots, QueuePerKey: queue, Queue: 64 * cfg.Slots,
		MaxWait: 2 * time.Second, PerKey: func(key string) int { return a.limits(tenant.ID(key)).Concurrent }})
	if err != nil {
		return nil, err
	}
	a.gate = g
	return a, nil
}

func (a *admitter) limits(t tenant.ID) TenantLimits {
	if a.cfg.Limits == nil {
		return DefaultTenantLimits
	}
	return a.cfg.Limits(t).withDefaults()
}

// rate returns the tenant's limiter, following changes of its limits.
func (a *admitter) rate(t tenant.ID) *rate.Limiter {
	l := a.limits(t)
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.rates[t]
	if !ok {
		r = rate.NewLimiter(rate.Limit(l.RequestsPerSecond), l.Burst)
		a.rates[t] = r
	} else if r.Limit() != rate.Limit(l.RequestsPerSecond) || r.Burst() != l.Burst {
		r.SetLimit(rate.Limit(l.RequestsPerSecond))
		r.SetBurst(l.Burst)
	}
	return r
}

// enter admits a request of t, returning the function that ends it, or a
// 429 problem with Retry-After.
func (a *admitter) enter(ctx context.Context, t tenant.ID) (func(), error) {
	if !a.rate(t).Allow() {
		p := problem(fiber.StatusTooManyRequests, "rate_limited", "this tenant is over its request rate; retry after the time given")
		p.RetryAfter = retryAfter(untilToken(a.rate(t)))
		return nil, p
	}
	release, err := a.gate.Acquire(ctx, string(t))
	if errors.Is(err, admission.ErrFull) {
		p := problem(fiber.StatusTooManyRequests, "too_many_requests", "this tenant has too many requests in flight; retry shortly")
		p.RetryAfter = 1
		return nil, p
	}
	if err != nil {
		return nil, err
	}
	return release, nil
}
