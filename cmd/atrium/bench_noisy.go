package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/commands"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
)

// noisyResult is the noisy-neighbour measure: the quiet tenant's latencies
// alone, beside a noisy tenant that honours Retry-After, and beside one that
// ignores it.
type noisyResult struct {
	Alone, Beside, BesideRude latencies
	// NoisyServed and NoisyRefused count the noisy tenant's requests beside
	// the quiet one, for clients honouring Retry-After and ignoring it.
	NoisyServed, NoisyRefused, RudeServed, RudeRefused int
}

type latencies struct {
	CommandP50, CommandP99, ReadP50, ReadP99 time.Duration
	Requests                                 int
}

// ratio is how much the noisy tenant raised the quiet one's p99: the worst
// of commands and reads, beside noisy clients that honour Retry-After and
// beside clients that ignore it.
func (r noisyResult) ratio() float64 {
	return max(r.Beside.over(r.Alone), r.BesideRude.over(r.Alone))
}

func (l latencies) over(base latencies) float64 {
	return max(float64(l.CommandP99)/float64(base.CommandP99), float64(l.ReadP99)/float64(base.ReadP99))
}

// noisyFigure is the noisy-neighbour measure as `atrium bench --json`
// prints it, latencies in milliseconds.
type noisyFigure struct {
	Ratio      float64        `json:"ratio"`
	Alone      latencyFigure  `json:"alone"`
	Beside     latencyFigure  `json:"beside_honouring_retry_after"`
	BesideRude latencyFigure  `json:"beside_ignoring_retry_after"`
	Noisy      map[string]int `json:"noisy_tenant"`
	QuietRate  int            `json:"quiet_requests_per_s"`
	Clients    int            `json:"noisy_clients"`
}

type latencyFigure struct {
	Command  lagFigure `json:"command"`
	Read     lagFigure `json:"read"`
	Requests int       `json:"requests"`
}

func (l latencies) figure() latencyFigure {
	return latencyFigure{Command: lag(l.CommandP50, l.CommandP99), Read: lag(l.ReadP50, l.ReadP99), Requests: l.Requests}
}

func (r noisyResult) figure() noisyFigure {
	return noisyFigure{Ratio: finite(r.ratio()), Alone: r.Alone.figure(), Beside: r.Beside.figure(), BesideRude: r.BesideRude.figure(),
		Noisy: map[string]int{"honouring_served": r.NoisyServed, "honouring_refused": r.NoisyRefused,
			"ignoring_served": r.RudeServed, "ignoring_refused": r.RudeRefused},
		QuietRate: quietRate, Clients: noisyClients}
}

const (
	quietRate    = 40 // the quiet tenant's requests a second, within its limits on any machine
	noisyClients = 32
)

// benchNoisy serves two tenants over loopback HTTP with the product's
// default admission limits. The quiet tenant sends a steady 40 requests a
// second (commands and reads in turn) for d, first alone (after a warm-up),
// then while the noisy tenant's 32 clients send commands as fast as they
// are answered.
func benchNoisy(ctx context.Context, dir string, d time.Duration) (noisyResult, error) {
	var res noisyResult
	st, err := assembly.Open(ctx, assembly.Config{DataDir: filepath.Join(dir, "noisy"), BaseDomain: "bench.test", Modules: modules.All()})
	if err != nil {
		return res, err
	}
	defer st.Close()
	admin := user.With(ctx, user.Principal{ID: "bench", Roles: []user.Role{user.PlatformAdmin}})
	for _, tn := range []string{"quiet", "noisy"} {
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{Request: commands.Request{CommandID: newCommandID()},
			Slug: tn, Name: tn, Admin: tenancycmd.FirstAdmin{Email: "admin@" + tn + ".example", Name: "Admin", Password: "bench admin password"}}); err != nil {
			return res, fmt.Errorf("provision %s: %w", tn, err)
		}
	}
	app := st.HTTP
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * noisyClients}, Timeout: 30 * time.Second}
	quiet, err := benchLogin(client, base, "quiet")
	if err != nil {
		return res, err
	}
	noisy, err := benchLogin(client, base, "noisy")
	if err != nil {
		return res, err
	}

	if _, err = quietLoad(client, base, quiet, 2*time.Second); err != nil { // warm-up
		return res, err
	}
	// The three conditions take turns, in rounds, and each one's samples
	// are pooled: a pause of the machine during one round weighs on every
	// condition alike rather than on one.
	const rounds = 5
	var alone, polite, rude samples
	for range rounds {
		l, err := quietLoad(client, base, quiet, d/rounds)
		if err != nil {
			return res, err
		}
		alone.add(l)
		for _, ignoring := range []bool{false, true} {
			l, served, refused, err := beside(client, base, quiet, noisy, ignoring, d/rounds)
			if err != nil {
				return res, err
			}
			if ignoring {
				rude.add(l)
				res.RudeServed += served
				res.RudeRefused += refused
			} else {
				polite.add(l)
				res.NoisyServed += served
				res.NoisyRefused += refused
			}
		}
	}
	res.Alone, res.Beside, res.BesideRude = alone.latencies(), polite.latencies(), rude.latencies()
	return res, nil
}

// beside runs the quiet tenant's load for d while noisyClients clients of
// the noisy tenant send commands as fast as they are answered, honouring
// Retry-After unless ignoring.
func beside(client *http.Client, base string, quiet, noisy benchTenant, ignoring bool, d time.Duration) (samples, int, int, error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	served, refused := 0, 0
	for range noisyClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, hdr, _, err := benchDo(client, base, noisy, "POST", "/api/v1/invoices", benchInvoiceBody)
				mu.Lock()
				if status == http.StatusCreated {
					served++
				} else {
					refused++
				}
				mu.Unlock()
				if err == nil && status == http.StatusTooManyRequests && !ignoring {
					wait, _ := strconv.Atoi(hdr.Get("Retry-After"))
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(max(wait, 1)) * time.Second):
					}
				}
			}
		}()
	}
	time.Sleep(time.Second) // the noisy tenant reaches saturation
	l, err := quietLoad(client, base, quiet, d)
	close(stop)
	wg.Wait()
	return l, served, refused, err
}

// samples are the quiet tenant's request latencies.
type samples struct{ cmds, reads []time.Duration }

func (s *samples) add(o samples) {
	s.cmds = append(s.cmds, o.cmds...)
	s.reads = append(s.reads, o.reads...)
}

func (s samples) latencies() latencies {
	l := latencies{Requests: len(s.cmds) + len(s.reads)}
	l.CommandP50, l.CommandP99 = p50p99(s.cmds)
	l.ReadP50, l.ReadP99 = p50p99(s.reads)
	return l
}

// benchInvoiceBody is benchInvoice as the API takes it.
const benchInvoiceBody = `{"client":{"id":"C-1","name":"Northwind"},"currency":"EUR","due_date":"2026-12-31",
	"lines":[{"description":"Consulting","quantity":1,"unit_price":{"amount":100000,"currency":"EUR"}}]}`

type benchTenant struct{ slug, token string }

func benchLogin(client *http.Client, base, slug string) (benchTenant, error) {
	t := benchTenant{slug: slug}
	status, _, body, err := benchDo(client, base, t, "POST", "/api/v1/auth/login",
		fmt.Sprintf(`{"email":"admin@%s.example","password":"bench admin password"}`, slug))
	if err != nil || status != http.StatusOK {
		return t, fmt.Errorf("login on %s: %d %s: %w", slug, status, body, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return t, err
	}
	t.token = tok.AccessToken
	return t, nil
}

func benchDo(client *http.Client, base string, t benchTenant, method, path, body string, hdr ...string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Header.Set("X-Tenant", t.slug)
	req.Header.Set("Content-Type", "application/json")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// quietLoad sends, for d, quietRate requests a second on the quiet tenant,
// a command and a read of what it created in turn, and returns their
// latencies. Every request must succeed.
func quietLoad(client *http.Client, base string, t benchTenant, d time.Duration) (samples, error) {
	var cmds, reads []time.Duration
	tick := time.NewTicker(time.Second / quietRate)
	defer tick.Stop()
	end := time.Now().Add(d)
	last, pos := "", uint64(0)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		start := time.Now()
		if i%2 == 0 || last == "" {
			status, _, body, err := benchDo(client, base, t, "POST", "/api/v1/invoices", benchInvoiceBody)
			if err != nil || status != http.StatusCreated {
				return samples{}, fmt.Errorf("quiet command: %d %s: %w", status, body, err)
			}
			cmds = append(cmds, time.Since(start))
			var a struct {
				ID       string `json:"id"`
				Position uint64 `json:"position"`
			}
			_ = json.Unmarshal(body, &a)
			last, pos = a.ID, a.Position
			continue
		}
		// Read your writes, as an SPA does: the read waits until the
		// tenant's projections have the invoice.
		status, _, body, err := benchDo(client, base, t, "GET", "/api/v1/invoices/"+last, "", "X-Read-After", strconv.FormatUint(pos, 10))
		if err != nil || status != http.StatusOK {
			return samples{}, fmt.Errorf("quiet read: %d %s: %w", status, body, err)
		}
		reads = append(reads, time.Since(start))
	}
	return samples{cmds: cmds, reads: reads}, nil
}

func (l latencies) String() string {
	return fmt.Sprintf("commands p50 %s p99 %s, reads p50 %s p99 %s (%d requests)", l.CommandP50.Round(10*time.Microsecond),
		l.CommandP99.Round(10*time.Microsecond), l.ReadP50.Round(10*time.Microsecond), l.ReadP99.Round(10*time.Microsecond), l.Requests)
}
