package http

import (
	"bytes"
	"context"
	"crypto/subtle"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sync/singleflight"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

type metrics struct {
	requests           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	securitySuppressed *prometheus.CounterVec
	refused            *prometheus.CounterVec

	gather prometheus.Gatherer
	mu     sync.Mutex
	body   []byte
	at     time.Time
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_http_requests_total", Help: "HTTP requests by route, method, status and tenant.",
		}, []string{"route", "method", "status", "tenant"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "atrium_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		securitySuppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_security_events_suppressed_total",
			Help: "Cross-tenant attempts not written to the security logs because their login was over the rate recorded, by the tenant asked.",
		}, []string{"tenant"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_admission_refused_total", Help: "Requests refused by admission control, by tenant and reason (the problem code).",
		}, []string{"tenant", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.securitySuppressed, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.gather = reg
	return m, nil
}

// page is the Prometheus text of every metric, gathered at most once a
// second however often it is asked for: scrapes and floods alike cost one
// gathering a second. A collector that fails does not fail the page: what
// could be gathered is served.
func (m *metrics) page() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.body != nil && time.Since(m.at) < time.Second {
		return m.body
	}
	mfs, _ := m.gather.Gather()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
	m.body, m.at = buf.Bytes(), time.Now()
	return m.body
}

// metricsPage answers /metrics: to anyone, or, when the operator set a
// token, to a bearer of it (the page names every tenant and its traffic).
func (a *api) metricsPage(c *fiber.Ctx) error {
	if !a.opsDetails(c) {
		return user.ErrNoPrincipal
	}
	c.Set(fiber.HeaderContentType, string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	return c.Send(a.metrics.page())
}

// metricMethod is a method as a label: one of the methods the API serves,
// else OTHER, so a client cannot mint label values.
func metricMethod(m string) string {
	switch m {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete, fiber.MethodOptions:
		return m
	}
	return "OTHER"
}

func (m *metrics) observe(route, method string, status int, tenant string, d time.Duration) {
	method = metricMethod(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status), tenant).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

func (a *api) healthz(c *fiber.Ctx) error {
	return WriteJSON(c, fiber.StatusOK, map[string]string{"status": "ok"})
}

// readyz asks every dependency at once, each within its own time budget,
// so that one slow dependency cannot make another look failed, and
// answers once each has answered or spent its budget. Requests arriving
// together share one round of checks, and a round's answer serves for
// readyReuse after it started, so a flood of /readyz costs the
// dependencies one round at a time. When the operator set a metrics token,
// why a check fails (it may name tenants) is told only to its bearer;
// others read "failing".
func (a *api) readyz(c *fiber.Ctx) error {
	ctx := context.WithoutCancel(c.UserContext())
	res := a.ready.get(func() readyResult { return a.checkReady(ctx) })
	checks := res.checks
	if !a.opsDetails(c) {
		checks = make(map[string]string, len(res.checks))
		for name, status := range res.checks {
			if status != "ok" {
				status = "failing"
			}
			checks[name] = status
		}
	}
	return WriteJSON(c, res.status, map[string]any{"checks": checks})
}

// readyReuse is how long a round of readiness checks answers /readyz.
const readyReuse = 250 * time.Millisecond

// readyResult is one round of readiness checks.
type readyResult struct {
	status int
	checks map[string]string
}

// readiness shares rounds of readiness checks between requests. Its zero
// value is ready to use.
type readiness struct {
	group singleflight.Group
	mu    sync.Mutex
	at    time.Time
	last  readyResult
}

// get answers the last round when it started less than readyReuse ago,
// else the round in progress, else a new one.
func (r *readiness) get(run func() readyResult) readyResult {
	r.mu.Lock()
	if !r.at.IsZero() && time.Since(r.at) < readyReuse {
		res := r.last
		r.mu.Unlock()
		return res
	}
	r.mu.Unlock()
	v, _, _ := r.group.Do("ready", func() (any, error) {
		start := time.Now()
		res := run()
		r.mu.Lock()
		r.at, r.last = start, res
		r.mu.Unlock()
		return res, nil
	})
	return v.(readyResult)
}

// checkReady runs one round of the checks.
func (a *api) checkReady(ctx context.Context) readyResult {
	type result struct {
		name, status string
	}
	results := make(chan result, len(a.deps.Ready))
	for _, rc := range a.deps.Ready {
		go func() {
			results <- result{rc.Name, rc.run(ctx)}
		}()
	}
	checks := make(map[string]string, len(a.deps.Ready))
	status := fiber.StatusOK
	for range a.deps.Ready {
		r := <-results
		checks[r.name] = r.status
		if r.status != "ok" {
			status = fiber.StatusServiceUnavailable
		}
	}
	return readyResult{status, checks}
}

// opsDetails reports whether the request may read the operations pages'
// details: anyone when no metrics token is set, else its bearer.
func (a *api) opsDetails(c *fiber.Ctx) bool {
	if a.cfg.MetricsToken == "" {
		return true
	}
	got, _ := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	return subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.MetricsToken)) == 1
}

// DefaultReadyTimeout is a ReadyCheck's time budget when it sets none.
const DefaultReadyTimeout = 2 * time.Second

// readyGrace is how long after its budget a check that ignores its
// context is waited for.
const readyGrace = 50 * time.Millisecond

// run runs the check within its budget and returns "ok" or why not; it
// returns by the end of the budget (and a grace) whatever the check does
// with its context.
func (rc ReadyCheck) run(ctx context.Context) string {
	budget := rc.Timeout
	if budget <= 0 {
		budget = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rc.Check(ctx) }()
	late := time.NewTimer(budget + readyGrace)
	defer late.Stop()
	select {
	case err := <-done:
		if err != nil {
			return err.Error()
		}
		return "ok"
	case <-late.C:
		return "timed out after " + budget.String()
	}
}

func parsePosition(s string) (streams.Position, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	return streams.Position(n), err
}

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }

func parsePos(n uint64) streams.Position { return streams.Position(n) }

// CommandMetrics counts commands by tenant, name and outcome ("ok" or the
// code of the problem a client gets), as commands.Observer.
type CommandMetrics struct{ total *prometheus.CounterVec }

// NewCommandMetrics registers the commands' counter in reg.
func NewCommandMetrics(reg prometheus.Registerer) (*CommandMetrics, error) {
	m := &CommandMetrics{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "atrium_commands_total", Help: "Commands by tenant, name and outcome (ok or the problem code).",
	}, []string{"tenant", "command", "outcome"})}
	if err := reg.Register(m.total); err != nil {
		return nil, err
	}
	return m, nil
}

// Observed implements commands.Observer.
func (m *CommandMetrics) Observed(ctx context.Context, name string, err error, _ time.Duration) {
	outcome := "ok"
	if err != nil {
		p, _ := problemOf(err)
		outcome = p.Code
	}
	t, _ := tenant.From(ctx)
	m.total.WithLabelValues(string(t), name, outcome).Inc()
}
