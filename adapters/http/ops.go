package http

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atrium-platform/atrium/streams"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	commands *prometheus.CounterVec
	handler  fiber.Handler
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
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_commands_total", Help: "Commands by tenant, name and outcome (ok or the problem code).",
		}, []string{"tenant", "command", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.commands} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m, nil
}

func (m *metrics) observe(route, method string, status int, tenant string, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status), tenant).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

func (a *api) healthz(c *fiber.Ctx) error {
	return writeJSON(c, fiber.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := fiber.StatusOK
	for _, rc := range a.deps.Ready {
		if err := rc.Check(ctx); err != nil {
			checks[rc.Name] = err.Error()
			status = fiber.StatusServiceUnavailable
		} else {
			checks[rc.Name] = "ok"
		}
	}
	return writeJSON(c, status, map[string]any{"checks": checks})
}

func parsePosition(s string) (streams.Position, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	return streams.Position(n), err
}

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }

func parsePos(n uint64) streams.Position { return streams.Position(n) }
