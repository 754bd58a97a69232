package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/atrium-platform/atrium/adapters/admission"
	"github.com/atrium-platform/atrium/domain/tenancy"
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
// cause); failures, not successes, are limited per address and per account
// and address, so an attacker's failures from their addresses never lock
// the account's owner out at theirs. Nothing is limited per tenant alone:
// anyone could spend such a budget and lock a whole tenant out. A client
// that signed in to an account before is known: its attempts wait for
// password work in a lane of their own, served in turn with the lane of
// everyone else, so a flood of strangers' guesses does not queue ahead of
// them.
type loginLimits struct {
	attemptsByAddress *keyedLimiter
	failsByAddress    *keyedLimiter
	failsByAccount    *keyedLimiter
	known             *lru.Cache[string, struct{}]
}

func newLoginLimits() *loginLimits {
	known, err := lru.New[string, struct{}](100_000)
	if err != nil {
		panic(err) // a positive constant size
	}
	return &loginLimits{
		attemptsByAddress: newKeyedLimiter(10, 200, 100_000),
		failsByAddress:    newKeyedLimiter(rate.Every(5*time.Second), 10, 100_000),
		failsByAccount:    newKeyedLimiter(rate.Every(12*time.Second), 5, 100_000),
		known:             known,
	}
}

// admit reports how long the client must wait before this attempt may be
// checked: 0 admits it (and counts it as an attempt).
func (l *loginLimits) admit(address, account string) time.Duration {
	if d := max(l.failsByAddress.wait(address), l.failsByAccount.wait(account)); d > 0 {
		return d
	}
	if d := l.attemptsByAddress.wait(address); d > 0 {
		return d
	}
	l.attemptsByAddress.spend(address)
	return 0
}

// failed counts a failed attempt.
func (l *loginLimits) failed(address, account string) {
	l.failsByAddress.spend(address)
	l.failsByAccount.spend(account)
}

// succeeded remembers the client as known to the account.
func (l *loginLimits) succeeded(account string) { l.known.Add(account, struct{}{}) }

// isKnown reports whether the client signed in to the account before.
func (l *loginLimits) isKnown(account string) bool { return l.known.Contains(account) }

// Admission bounds each tenant's requests, so that one tenant at
// saturation cannot starve the others: a request rate and a number of
// requests in flight per tenant, beyond which the tenant's requests are
// answered 429 with Retry-After; and a number of requests served at once
// in all, shared in turn between the tenants waiting for one.
type Admission struct {
	// Gate shares the process's work between tenants: the same gate may
	// serve other work of theirs (projections), so that a tenant's requests
	// and its background work together stay within its Concurrent. Its
	// PerKey must give each tenant's ConcurrentRequests. Default: a gate
	// of the API's own, with 16 × GOMAXPROCS slots, 64 requests waiting
	// per tenant, at most 2 s.
	Gate *admission.Gate
	// Limits returns a tenant's limits, zero fields taking
	// tenancy.DefaultLimits. Default: the limits the catalog records for
	// the tenant (PUT /admin/v1/tenants/{slug}/limits).
	Limits func(tenant.ID) tenancy.Limits
	// Served, when set, is told of each request of a tenant admitted, for
	// its usage.
	Served func(tenant.ID)
}

type admitter struct {
	served func(tenant.ID)
	limits func(tenant.ID) tenancy.Limits
	plans  func(tenant.ID) tenancy.PlanLimits
	gate   *admission.Gate
	// storms counts each tenant's refusals: past a few a second, a
	// tenant's clients are not heeding Retry-After, and each further
	// refusal is answered only after a pause (a tarpit), so that a flood
	// of refused requests costs their clients time rather than the server
	// CPU.
	storms *keyedLimiter

	mu       sync.Mutex
	rates    map[tenant.ID]*rate.Limiter
	commands map[tenant.ID]*rate.Limiter
}

// tarpit is how long a refusal in a storm of refusals is held.
const tarpit = time.Second

// CatalogLimits returns the limits the catalog records for a tenant, with
// the defaults of this machine for the fields it leaves zero.
func CatalogLimits(catalog Catalog) func(tenant.ID) tenancy.Limits {
	def := tenancy.DefaultLimits(runtime.GOMAXPROCS(0))
	plans := catalogPlans(catalog)
	return func(t tenant.ID) tenancy.Limits {
		s, _ := catalog.Get(t)
		return s.Limits.WithPlan(plans(t)).Or(def)
	}
}

// catalogPlans returns the limits of the plan the catalog records for a
// tenant, none when the catalog knows no plans.
func catalogPlans(catalog Catalog) func(tenant.ID) tenancy.PlanLimits {
	pc, ok := catalog.(PlanCatalog)
	return func(t tenant.ID) tenancy.PlanLimits {
		if !ok {
			return tenancy.PlanLimits{}
		}
		p, _ := pc.PlanOf(t)
		return p.Limits
	}
}

func newAdmitter(cfg Admission, catalog Catalog) (*admitter, error) {
	a := &admitter{served: cfg.Served, limits: cfg.Limits, plans: catalogPlans(catalog), gate: cfg.Gate, rates: map[tenant.ID]*rate.Limiter{},
		commands: map[tenant.ID]*rate.Limiter{}, storms: newKeyedLimiter(20, 40, 100_000)}
	if a.limits == nil {
		a.limits = CatalogLimits(catalog)
	}
	if a.served == nil {
		a.served = func(tenant.ID) {}
	}
	if a.gate == nil {
		slots := 16 * runtime.GOMAXPROCS(0)
		g, err := admission.New(admission.Config{Slots: slots, QueuePerKey: 64, Queue: 64 * slots,
			MaxWait: 2 * time.Second, PerKey: func(key string) int { return a.limits(tenant.ID(key)).ConcurrentRequests }})
		if err != nil {
			return nil, err
		}
		a.gate = g
	}
	return a, nil
}

// rate returns the tenant's request limiter, following changes of its
// limits.
func (a *admitter) rate(t tenant.ID) *rate.Limiter {
	l := a.limits(t)
	return a.limiter(a.rates, t, rate.Limit(l.RequestsPerSecond), l.Burst)
}

// limiter returns t's limiter of m, made or changed to every and burst.
func (a *admitter) limiter(m map[tenant.ID]*rate.Limiter, t tenant.ID, every rate.Limit, burst int) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := m[t]
	if !ok {
		r = rate.NewLimiter(every, burst)
		m[t] = r
	} else if r.Limit() != every || r.Burst() != burst {
		r.SetLimit(every)
		r.SetBurst(burst)
	}
	return r
}

// command admits a command of t's while its plan's commands a minute
// have room: a 429 quota_exceeded naming the limit, with Retry-After,
// when they have none. A plan without the limit, or no plan, allows any
// number. The command is counted by counted, once it has succeeded: a
// request refused (its caller's role, its body, a conflict) does nothing
// the plan counts, so one member's refused calls do not spend the others'
// minute. Commands admitted at the same moment may pass the limit by as
// many as the tenant has in flight.
func (a *admitter) command(ctx context.Context, t tenant.ID) (counted func(), err error) {
	n := a.plans(t).CommandsPerMinute
	if n <= 0 {
		return func() {}, nil
	}
	r := a.limiter(a.commands, t, rate.Limit(float64(n)/60), n)
	if wait := untilToken(r); wait > 0 {
		p := NewProblem(fiber.StatusTooManyRequests, "quota_exceeded", fmt.Sprintf("this tenant's plan allows %d commands a minute; retry after the time given", n))
		p.Field = "commands_per_minute"
		p.RetryAfter = retryAfter(wait)
		a.refusing(ctx, t)
		return nil, p
	}
	return func() { r.ReserveN(time.Now(), 1) }, nil
}

// ticket is an admitted request's slot. Pause gives it up while the request
// waits for something that needs no CPU (a projection to catch up), Resume
// takes one again.
type ticket struct {
	a       *admitter
	t       tenant.ID
	release func()
}

func (k *ticket) end() {
	if k.release != nil {
		k.release()
		k.release = nil
	}
}

// pause gives the slot up.
func (k *ticket) pause() { k.end() }

// resume takes a slot again, as enter does.
func (k *ticket) resume(ctx context.Context) error {
	if k.release != nil {
		return nil
	}
	release, err := k.a.slot(ctx, k.t)
	if err != nil {
		return err
	}
	k.release = release
	return nil
}

// admit admits a request of t: a ticket to end when the request ends, or a
// 429 problem with Retry-After.
func (a *admitter) admit(ctx context.Context, t tenant.ID) (*ticket, error) {
	if !a.rate(t).Allow() {
		p := NewProblem(fiber.StatusTooManyRequests, "rate_limited", "this tenant is over its request rate; retry after the time given")
		a.refusing(ctx, t)
		p.RetryAfter = retryAfter(untilToken(a.rate(t)))
		return nil, p
	}
	release, err := a.slot(ctx, t)
	if err != nil {
		if errors.As(err, new(*Problem)) {
			a.refusing(ctx, t)
		}
		return nil, err
	}
	return &ticket{a: a, t: t, release: release}, nil
}

// refusing counts a refusal of t's, and holds it for the tarpit's time when
// t's clients keep coming back regardless.
func (a *admitter) refusing(ctx context.Context, t tenant.ID) {
	if a.storms.allow(string(t)) {
		return
	}
	select {
	case <-time.After(tarpit):
	case <-ctx.Done():
	}
}

func (a *admitter) slot(ctx context.Context, t tenant.ID) (func(), error) {
	release, err := a.gate.Acquire(ctx, string(t))
	if errors.Is(err, admission.ErrFull) {
		p := NewProblem(fiber.StatusTooManyRequests, "too_many_requests", "this tenant has too many requests in flight; retry shortly")
		p.RetryAfter = 1
		return nil, p
	}
	if err != nil {
		return nil, err
	}
	return release, nil
}

// streamSlots bound the responses that outlive their handler (NDJSON
// audit streams, receipt downloads): they are written while the client
// reads, at its pace, so they hold memory and a reader on a store for as
// long as the client takes. At most perTenant of one tenant's and total of
// all at once; beyond, 429.
type streamSlots struct {
	perTenant, total int

	mu      sync.Mutex
	open    int
	tenants map[tenant.ID]int
}

func newStreamSlots(perTenant, total int) *streamSlots {
	return &streamSlots{perTenant: perTenant, total: total, tenants: map[tenant.ID]int{}}
}

// take returns the function that frees the slot taken for t, or a 429.
func (s *streamSlots) take(t tenant.ID) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.total || s.tenants[t] >= s.perTenant {
		p := NewProblem(fiber.StatusTooManyRequests, "too_many_streams", "too many downloads or streams are open; retry when one ends")
		p.RetryAfter = 1
		return nil, p
	}
	s.open++
	s.tenants[t]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.open--
			if s.tenants[t]--; s.tenants[t] == 0 {
				delete(s.tenants, t)
			}
		})
	}, nil
}

// releasingReader frees its stream slot when closed.
type releasingReader struct {
	io.ReadCloser
	release func()
}

func (r releasingReader) Close() error {
	defer r.release()
	return r.ReadCloser.Close()
}
