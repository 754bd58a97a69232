package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/commands"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

// httpResult is one concurrency's HTTP measure: the in-process command path
// and query, and the same command and read over loopback HTTP, per second,
// with the HTTP requests' latencies.
type httpResult struct {
	Clients                int
	InCommand, HTTPCommand float64
	InRead, HTTPRead       float64
	// Floor is a bare fiber app's answer of an invoice read's body, over
	// the same loopback with the same client: what an HTTP read costs
	// before anything of Atrium's runs.
	Floor                  float64
	CommandP50, CommandP99 time.Duration
	ReadP50, ReadP99       time.Duration
}

// httpFigure is an httpResult as `atrium bench --json` prints it.
type httpFigure struct {
	Clients int       `json:"clients"`
	Command lagFigure `json:"command_latency"`
	Read    lagFigure `json:"read_latency"`
	// Floor is the bare answers per second (httpResult.Floor), and
	// ReadCeiling Floor / (Floor + the in-process reads per second): the
	// read ratio HTTP would reach, if costs add up, were everything HTTP
	// adds around the query free but the bare answer.
	Floor       float64 `json:"floor_per_s"`
	ReadCeiling float64 `json:"read_ratio_ceiling"`
}

// benchHTTPTenant is the tenant the HTTP measures use, with limits raised
// as the platform would for a tenant this busy: the default limits (25
// requests a second per CPU) would measure the limiter.
const benchHTTPTenant = "benchhttp"

// benchHTTP serves a process's API on loopback and measures, at each
// concurrency, POST /api/v1/invoices against the in-process command path
// and GET /api/v1/invoices/{id} against the in-process query, taking turns
// in the same minutes.
func benchHTTP(ctx context.Context, dir string, d time.Duration, concurrency []int, invoices int) ([]httpResult, error) {
	st, err := assembly.Open(ctx, assembly.Config{DataDir: filepath.Join(dir, "http"), BaseDomain: "bench.test", Modules: modules.All()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	admin := user.With(ctx, user.Principal{ID: "bench", Roles: []user.Role{user.PlatformAdmin}})
	if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{Request: commands.Request{CommandID: newCommandID()},
		Slug: benchHTTPTenant, Name: benchHTTPTenant,
		Admin: tenancycmd.FirstAdmin{Email: "admin@" + benchHTTPTenant + ".example", Name: "Admin", Password: "bench admin password"}}); err != nil {
		return nil, fmt.Errorf("provision %s: %w", benchHTTPTenant, err)
	}
	raised := tenancy.Limits{RequestsPerSecond: 100_000, Burst: 1_000_000, ConcurrentRequests: 64}
	if _, err := st.Tenancy.ChangeLimits(admin, commands.Request{CommandID: newCommandID()}, benchHTTPTenant, raised); err != nil {
		return nil, fmt.Errorf("raise the limits of %s: %w", benchHTTPTenant, err)
	}
	for deadline := time.Now().Add(10 * time.Second); st.Limits(benchHTTPTenant) != raised; {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the limits of %s were not applied: %+v", benchHTTPTenant, st.Limits(benchHTTPTenant))
		}
		time.Sleep(10 * time.Millisecond)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = st.HTTP.Listener(ln) }()
	defer func() { _ = st.HTTP.Shutdown() }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second}
	bt, err := benchLogin(client, base, benchHTTPTenant)
	if err != nil {
		return nil, err
	}

	// The in-process paths, on the same tenant of the same process.
	tctx := user.With(tenant.With(ctx, benchHTTPTenant), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	h := invoicecmd.NewHandler(st.Commands, benchSettings{}, benchMembers{}, time.Now)
	q := invoicelist.NewQueries(st.Reads, time.Now)
	// Invoices to read, projected.
	ids := make([]string, 0, max(1, invoices))
	for range cap(ids) {
		r, err := h.Create(tctx, benchInvoice())
		if err != nil {
			return nil, err
		}
		ids = append(ids, r.ID)
	}
	if err := caughtUp(tctx, st); err != nil {
		return nil, err
	}
	// Warm-up: connections, statement caches, the verified-token cache.
	if _, err := httpLoad(base, bt, 1, time.Second, ids, true); err != nil {
		return nil, err
	}
	floor, err := bareServer(base, bt, ids[0])
	if err != nil {
		return nil, err
	}
	defer floor.close()

	var out []httpResult
	for _, n := range concurrency {
		res := httpResult{Clients: n}
		// Each side's commands start from a caught-up projection and are
		// projected live as they are measured: the other side's backlog
		// would take the machine from them.
		if err := caughtUp(tctx, st); err != nil {
			return nil, err
		}
		if res.InCommand, err = perSecond(n, d, func(int) (func() error, error) {
			return func() error {
				_, err := h.Create(tctx, benchInvoice())
				return err
			}, nil
		}); err != nil {
			return nil, fmt.Errorf("in-process commands: %w", err)
		}
		if err := caughtUp(tctx, st); err != nil {
			return nil, err
		}
		cmd, err := httpLoad(base, bt, n, d, ids, true)
		if err != nil {
			return nil, err
		}
		// The reads are measured once the commands are projected: the
		// tenant's projection and its requests take turns (admission), and
		// a backlog would be measured instead of the reads.
		if err := caughtUp(tctx, st); err != nil {
			return nil, err
		}
		if res.InRead, err = perSecond(n, d, func(w int) (func() error, error) {
			i := w
			return func() error {
				i = (i + 7) % len(ids)
				_, err := q.Get(tctx, ids[i])
				return err
			}, nil
		}); err != nil {
			return nil, fmt.Errorf("in-process reads: %w", err)
		}
		read, err := httpLoad(base, bt, n, d, ids, false)
		if err != nil {
			return nil, err
		}
		bare, err := httpLoad(floor.base, bt, n, d, ids, false)
		if err != nil {
			return nil, fmt.Errorf("bare server: %w", err)
		}
		res.Floor = bare.rate
		res.HTTPCommand, res.HTTPRead = cmd.rate, read.rate
		res.CommandP50, res.CommandP99 = p50p99(cmd.lats)
		res.ReadP50, res.ReadP99 = p50p99(read.lats)
		out = append(out, res)
	}
	return out, nil
}

// bare is a fiber app with nothing of Atrium's: its one route answers
// every GET of an invoice with the same bytes, as Atrium answers them.
type bare struct {
	app  *fiber.App
	ln   net.Listener
	base string
}

// close stops the bare app and closes its listener, which Shutdown leaves
// open when the app has not begun serving on it yet.
func (b *bare) close() {
	_ = b.app.Shutdown()
	_ = b.ln.Close()
}

// bareServer starts the bare app on a loopback listener of its own, with
// the body and content type Atrium's server gives for invoice id.
func bareServer(base string, t benchTenant, id string) (*bare, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.Set("X-Tenant", t.slug)
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.SetRequestURI(base + "/api/v1/invoices/" + id)
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", req.URI(), resp.StatusCode(), resp.Body())
	}
	body, ctype := bytes.Clone(resp.Body()), string(resp.Header.ContentType())
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/invoices/:id", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, ctype)
		return c.Send(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = app.Listener(ln) }()
	return &bare{app: app, ln: ln, base: "http://" + ln.Addr().String()}, nil
}

// caughtUp waits until the ctx tenant's projections have every event
// appended so far.
func caughtUp(ctx context.Context, st *assembly.Process) error {
	head, err := st.Store.Head(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := st.Runner.WaitFor(wctx, head); err != nil {
		return fmt.Errorf("projecting the commands: %w", err)
	}
	return nil
}

// loadResult is what httpLoad measured: requests answered per second and
// each one's latency.
type loadResult struct {
	rate float64
	lats []time.Duration
}

// httpLoad runs clients goroutines sending, for d, POST /api/v1/invoices
// (commands) or GET /api/v1/invoices/{id} of ids, each as soon as the last
// one was answered. Every request must succeed. The load generator shares
// the machine with the server: it is fasthttp's client, reusing each
// client's request and response, which costs a fraction of net/http's.
func httpLoad(base string, t benchTenant, clients int, d time.Duration, ids []string, commands bool) (loadResult, error) {
	hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), MaxConns: 2 * clients,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	lats := make([][]time.Duration, clients) // each client's own: perSecond waits for them
	rate, err := perSecond(clients, d, func(w int) (func() error, error) {
		i := w
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.Header.Set("X-Tenant", t.slug)
		req.Header.Set("Authorization", "Bearer "+t.token)
		if commands {
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			req.SetRequestURI(base + "/api/v1/invoices")
		} else {
			req.Header.SetMethod(fasthttp.MethodGet)
		}
		return func() error {
			start := time.Now()
			if commands {
				req.SetBodyString(benchInvoiceBody)
			} else {
				i = (i + 7) % len(ids)
				req.SetRequestURI(base + "/api/v1/invoices/" + ids[i])
			}
			if err := hc.Do(req, resp); err != nil {
				return fmt.Errorf("%s %s: %w", req.Header.Method(), req.URI(), err)
			}
			want := fasthttp.StatusOK
			if commands {
				want = fasthttp.StatusCreated
			}
			if resp.StatusCode() != want {
				return fmt.Errorf("%s %s: %d %s", req.Header.Method(), req.URI(), resp.StatusCode(), resp.Body())
			}
			if commands && !bytes.Contains(resp.Body(), []byte(`"id":"`)) {
				return fmt.Errorf("POST /api/v1/invoices answered %s", resp.Body())
			}
			lats[w] = append(lats[w], time.Since(start))
			return nil
		}, nil
	})
	if err != nil {
		return loadResult{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return loadResult{rate: rate, lats: all}, nil
}

// quantile is the q-th percentile of xs (0 when there are none).

// reportHTTP prints the HTTP measures and records them: http_command_<n>
// and http_read_<n> per concurrency, and http_command and http_read, the
// worse of them.
func reportHTTP(rep *benchReport, rs []httpResult) {
	rep.printf("\nHTTP over loopback (POST /api/v1/invoices, GET /api/v1/invoices/{id}, bearer token, the load generator in this process)\n")
	rep.printf("vs the in-process command path and query, on the same tenant of the same process (its limits raised):\n")
	worstCmd, worstRead := 0.0, 0.0
	for i, r := range rs {
		c := rep.rate(fmt.Sprintf("http_command_%d", r.Clients), r.InCommand, r.HTTPCommand)
		rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", fmt.Sprintf("commands, %d client(s) (in-process vs HTTP)", r.Clients), r.InCommand, r.HTTPCommand, c)
		rep.printf("%-44s %14s %14s\n", "  HTTP command latency p50 / p99", r.CommandP50.Round(time.Microsecond), r.CommandP99.Round(time.Microsecond))
		rd := rep.rate(fmt.Sprintf("http_read_%d", r.Clients), r.InRead, r.HTTPRead)
		rep.printf("%-44s %12.0f/s %12.0f/s %8.2f\n", fmt.Sprintf("reads, %d client(s) (in-process vs HTTP)", r.Clients), r.InRead, r.HTTPRead, rd)
		rep.printf("%-44s %14s %14s\n", "  HTTP read latency p50 / p99", r.ReadP50.Round(time.Microsecond), r.ReadP99.Round(time.Microsecond))
		// A read over HTTP is at best the query plus the bare answer: the
		// ratio's ceiling on this machine.
		ceiling := finite(r.Floor / (r.Floor + r.InRead))
		rep.printf("%-44s %14s %12.0f/s %8.2f\n", "  bare fiber answer, same body (ceiling)", "", r.Floor, ceiling)
		rep.figure(fmt.Sprintf("http_latency_%d", r.Clients), httpFigure{Clients: r.Clients, Command: lag(r.CommandP50, r.CommandP99), Read: lag(r.ReadP50, r.ReadP99),
			Floor: r.Floor, ReadCeiling: ceiling})
		if i == 0 || c < worstCmd {
			worstCmd = c
		}
		if i == 0 || rd < worstRead {
			worstRead = rd
		}
	}
	if len(rs) > 0 {
		rep.ratio("http_command", worstCmd)
		rep.ratio("http_read", worstRead)
	}
}
