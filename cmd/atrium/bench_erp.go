package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/adapters/assembly"
	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections/erpsync"
)

// benchSecret signs the benchmark's webhooks.
const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// benchReceiver is a local ERP: it verifies each webhook's signature as a
// receiver does and notes when each aggregate's message arrived. Until
// open is closed, the first message it gets waits (a backlog builds).
type benchReceiver struct {
	wh      *standardwebhooks.Webhook
	count   atomic.Int64
	mu      sync.Mutex
	arrived map[string]time.Time // aggregate id -> first arrival
	last    time.Time
	open    chan struct{}
	bad     atomic.Int64
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || r.wh.Verify(body, req.Header) != nil {
		r.bad.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	open := r.open
	r.mu.Unlock()
	<-open
	var m struct {
		AggregateID string `json:"aggregate_id"`
	}
	_ = json.Unmarshal(body, &m)
	now := time.Now()
	r.mu.Lock()
	if _, ok := r.arrived[m.AggregateID]; !ok && m.AggregateID != "" {
		r.arrived[m.AggregateID] = now
	}
	r.last = now
	r.mu.Unlock()
	r.count.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// erpResult is what the ERP phase measured.
type erpResult struct {
	Raw, Atrium float64
	Messages    int
	// Published is how long the backlog took to be projected and put on
	// the bus after the last command.
	Published time.Duration
	P50, P99  time.Duration
}

// erpFigure is the ERP backlog beside its delivery ratio: its size, and
// how long it took to be on the bus after the last command.
type erpFigure struct {
	Messages    int     `json:"messages"`
	PublishedMs float64 `json:"published_ms"`
}

// benchERP measures delivery to a tenant's webhook: the raw baseline is a
// loop of signed POSTs of a message of the same size to the same receiver,
// one at a time as a tenant's queue goes; Atrium's figure is the rate at
// which a tenant's backlog of messages (commands appended while the
// receiver held the first message) reaches the receiver once it lets go.
// Then it times event-to-delivered lag: from a command's acknowledgement to
// its message's arrival, for commands sent one at a time.
func benchERP(ctx context.Context, p *assembly.Process, d time.Duration, lagN int) (erpResult, error) {
	var res erpResult
	wh, err := standardwebhooks.NewWebhook(benchSecret)
	if err != nil {
		return res, err
	}
	opened := make(chan struct{})
	close(opened)
	rcv := &benchReceiver{wh: wh, arrived: map[string]time.Time{}, open: opened}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/erp"

	// The raw loop: signed POSTs of a typical message, one after another.
	sample, err := json.Marshal(erpsync.Message{ID: uuid.NewString(), Tenant: "bencherp", Type: "invoice.drafted", Aggregate: "invoice",
		AggregateID: uuid.NewString(), Version: 1, Position: 1, OccurredAt: time.Now().UTC(),
		Data: json.RawMessage(`{"invoice_id":"` + uuid.NewString() + `","client":{"id":"C-1","name":"Northwind"},"currency":"EUR","due_date":"2026-12-31","lines":[{"description":"Consulting","quantity":1,"unit_price":{"amount":100000,"currency":"EUR"},"total":{"amount":100000,"currency":"EUR"}}],"total":{"amount":100000,"currency":"EUR"},"created_by":"00000000-0000-4000-8000-000000000002","created_at":"2026-11-23T12:00:00Z"}`)})
	if err != nil {
		return res, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	// The earlier phases' garbage collected, and the connection warm, before
	// the baseline is timed.
	runtime.GC()
	n := 0
	start := time.Now()
	for warm := time.Now(); time.Since(warm) < 200*time.Millisecond; start = time.Now() {
		if err := post(ctx, client, wh, url, sample); err != nil {
			return res, err
		}
	}
	for time.Since(start) < d {
		if err := post(ctx, client, wh, url, sample); err != nil {
			return res, err
		}
		n++
	}
	res.Raw = float64(n) / time.Since(start).Seconds()

	// A tenant with its ERP pointed at the receiver.
	t := tenant.ID("bencherp")
	tctx := tenant.With(ctx, t)
	if err := p.OpenTenant(tctx); err != nil {
		return res, err
	}
	if err := p.Runner.Start(tctx); err != nil {
		return res, err
	}
	admin := user.With(tctx, user.Principal{ID: "00000000-0000-4000-8000-000000000001", Roles: []user.Role{user.Admin}})
	if _, err := p.ERP.Set(admin, erpcmd.SetConnection{Kind: "webhook", URL: url, Secret: benchSecret, Events: []string{"invoice"}}); err != nil {
		return res, fmt.Errorf("connect: %w", err)
	}
	fin := user.With(tctx, user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	h := invoicecmd.NewHandler(p.Commands, benchSettings{}, benchMembers{}, time.Now)

	// The backlog: commands appended for d while the receiver holds the
	// first message; then it lets go.
	hold := make(chan struct{})
	rcv.mu.Lock()
	rcv.open = hold
	rcv.mu.Unlock()
	var wg sync.WaitGroup
	var made atomic.Int64
	errs := make(chan error, 8)
	until := time.Now().Add(d)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				if _, err := h.Create(fin, benchInvoice()); err != nil {
					errs <- err
					return
				}
				made.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	total := int(made.Load())
	// Every message projected and on the bus before the receiver lets go:
	// the projection is measured above; this measures delivery.
	published := time.Now()
	for {
		if err := p.Runner.WaitFor(tctx, 0); err != nil {
			return res, err
		}
		ms, _, err := p.Outbox.Unpublished(tctx, 1)
		if err != nil {
			return res, err
		}
		st, err := p.Outbox.Status(tctx)
		if err != nil {
			return res, err
		}
		if len(ms) == 0 && st.Pending >= int64(total) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling the outbox's progress
	}
	res.Published = time.Since(published)
	released := time.Now()
	close(hold)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		rcv.mu.Lock()
		got, last := len(rcv.arrived), rcv.last
		rcv.mu.Unlock()
		if got >= total {
			res.Atrium = float64(total-1) / last.Sub(released).Seconds()
			res.Messages = total
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d messages delivered", got, total)
		}
		time.Sleep(5 * time.Millisecond) // polling the receiver; not synchronising our own code
	}

	// Lag: one command at a time, its message's arrival after its
	// acknowledgement.
	lags := make([]time.Duration, 0, lagN)
	for range lagN {
		r, err := h.Create(fin, benchInvoice())
		if err != nil {
			return res, err
		}
		acked := time.Now()
		for {
			rcv.mu.Lock()
			at, ok := rcv.arrived[r.ID]
			rcv.mu.Unlock()
			if ok {
				lags = append(lags, max(at.Sub(acked), 0))
				break
			}
			if time.Since(acked) > time.Minute {
				return res, fmt.Errorf("message of %s not delivered in a minute", r.ID)
			}
			time.Sleep(50 * time.Microsecond) // polling the receiver
		}
	}
	res.P50, res.P99 = p50p99(lags)
	if b := rcv.bad.Load(); b > 0 {
		return res, fmt.Errorf("%d deliveries failed signature verification", b)
	}
	return res, nil
}

// post is one signed POST of body to url, as a raw sender does it.
func post(ctx context.Context, client *http.Client, wh *standardwebhooks.Webhook, url string, body []byte) error {
	id := uuid.NewString()
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("raw post: %d", resp.StatusCode)
	}
	return nil
}
