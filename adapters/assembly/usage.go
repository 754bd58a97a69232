package assembly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/erp/webhook"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/erpsync"
	"github.com/atrium-platform/atrium/projections/memberlist"
	usagereads "github.com/atrium-platform/atrium/projections/usage"
	"github.com/atrium-platform/atrium/streams"
)

// UsageConfig configures usage metering and billing.
type UsageConfig struct {
	// BillingURL receives each tenant's record of each day once the day is
	// closed: a POST signed with BillingSecret (Standard Webhooks, as ERP
	// webhooks), whose webhook-id is the record's id. Empty: days are
	// closed and kept, and sent nowhere (ATRIUM_BILLING_URL).
	BillingURL string
	// BillingSecret is "whsec_" and the base64 of 24 to 64 bytes
	// (ATRIUM_BILLING_SECRET).
	BillingSecret string
	// FlushEvery is how often the API requests counted are written to the
	// tenants' logs; default 30 s. What is counted since the last write is
	// lost when the process is killed (a normal stop writes it).
	FlushEvery time.Duration
	// SweepEvery is how often days to close and records to send are
	// looked for; default 1 minute.
	SweepEvery time.Duration
	// Grace is how long after a day's end (UTC) it is closed, so the
	// requests counted on it by every instance are written first; default
	// 3 FlushEvery.
	Grace time.Duration
}

func (c *UsageConfig) setDefaults() {
	if c.FlushEvery <= 0 {
		c.FlushEvery = 30 * time.Second
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	if c.Grace <= 0 {
		c.Grace = 3 * c.FlushEvery
	}
}

func (c UsageConfig) validate() error {
	if c.BillingURL == "" {
		if c.BillingSecret != "" {
			return errors.New("assembly: a billing secret without a billing URL")
		}
		return nil
	}
	if c.BillingSecret == "" {
		return errors.New("assembly: a billing URL without a billing secret (ATRIUM_BILLING_SECRET: whsec_ and the base64 of 24 to 64 bytes)")
	}
	if err := (webhook.Config{URL: c.BillingURL, Secret: c.BillingSecret}).Validate(); err != nil {
		return fmt.Errorf("assembly: billing: %w", err)
	}
	return nil
}

// usageID derives the events of a tenant's usage from what they record,
// so that one written again (a retry, another instance) is the same.
var usageID = uuid.MustParse("7d0c6b2e-3f0f-4d51-9a39-43c8f7b7a0e1")

// meter counts each tenant's admitted API requests by day, writes them
// to the tenant's log, closes each tenant's days and sends their records
// to billing.
type meter struct {
	p        *Process
	cfg      UsageConfig
	instance string
	billing  *webhook.Connector // nil: records are not sent

	flushing sync.Mutex // one flush at a time
	mu       sync.Mutex
	counts   map[dayOf]int64
	pending  map[dayOf]flush // written, not known to have landed: written again as they were
	swept    string          // the day closed last
	todo     map[tenant.ID]bool

	stop func()
	done chan struct{}
}

type dayOf struct {
	t   tenant.ID
	day string
}

type flush struct {
	id    uuid.UUID
	n     int64
	tried bool // written before, with no answer that it landed
}

func newMeter(p *Process) (*meter, error) {
	cfg := p.cfg.Usage
	cfg.setDefaults()
	m := &meter{p: p, cfg: cfg, instance: uuid.NewString(), counts: map[dayOf]int64{}, pending: map[dayOf]flush{}}
	if cfg.BillingURL != "" {
		var err error
		// The operator's own endpoint: private addresses are allowed.
		if m.billing, err = webhook.New(webhook.Config{URL: cfg.BillingURL, Secret: cfg.BillingSecret, AllowPrivate: true}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// served counts an admitted API request of t.
func (m *meter) served(t tenant.ID) {
	k := dayOf{t, usage.Day(m.p.cfg.Now())}
	m.mu.Lock()
	m.counts[k]++
	m.mu.Unlock()
}

// start runs the meter until close: the flushes, and (when sweep) the
// closing and sending of days, each on a goroutine of its own, so that a
// slow billing endpoint or a lagging tenant never delays the flushes.
func (m *meter) start(sweep bool) {
	ctx, cancel := context.WithCancel(context.Background())
	m.stop, m.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	every := func(d time.Duration, now bool, fn func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(d)
			defer tick.Stop()
			if now {
				fn(ctx)
			}
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					fn(ctx)
				}
			}
		}()
	}
	every(m.cfg.FlushEvery, false, m.flush)
	if sweep {
		every(m.cfg.SweepEvery, true, m.sweep)
	}
	go func() {
		wg.Wait()
		close(m.done)
	}()
}

// close stops the meter and writes what it counted.
func (m *meter) close() error {
	if m.stop == nil {
		return nil
	}
	m.stop()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.flush(ctx)
	return nil
}

// flush writes the requests counted to each tenant's log, as a
// RequestsCounted of the day in "<tenant>.usage-<day>". A write that
// failed is written again, with its id, before any count after it, unless
// the stream shows it landed after all (a write whose answer was lost):
// so each count is in the log once.
func (m *meter) flush(ctx context.Context) {
	m.flushing.Lock() // the last flush at close, after the loop's
	defer m.flushing.Unlock()
	m.mu.Lock()
	for k, n := range m.counts {
		if _, busy := m.pending[k]; !busy {
			m.pending[k] = flush{id: uuid.New(), n: n}
			delete(m.counts, k)
		}
	}
	todo := make(map[dayOf]flush, len(m.pending))
	for k, f := range m.pending {
		todo[k] = f
	}
	m.mu.Unlock()
	for k, f := range todo {
		if st, ok := m.p.Catalog.Get(k.t); !ok || st.ReadOnly {
			// Deleted (or never provisioned), or offboarding: its log
			// ended when it was made read-only (its archive is the whole
			// of it), and the counts since go with it.
			m.mu.Lock()
			delete(m.pending, k)
			delete(m.counts, k)
			m.mu.Unlock()
			continue
		}
		tctx := tenant.With(ctx, k.t)
		err := m.flushOne(tctx, k.day, f)
		if err != nil {
			if ctx.Err() == nil {
				m.p.log.Warn("writing a tenant's API requests counted; trying again", "tenant", string(k.t), "day", k.day, "err", err)
			}
			m.mu.Lock()
			f.tried = true
			m.pending[k] = f
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		delete(m.pending, k)
		m.mu.Unlock()
	}
}

// flushOne writes f, the count of the ctx tenant's day, once.
func (m *meter) flushOne(ctx context.Context, day string, f flush) error {
	if f.tried {
		landed, err := m.landed(ctx, day, f.id)
		if err != nil || landed {
			return err
		}
	}
	err := m.write(ctx, usage.Category, day, streams.Any, f.id, usage.RequestsCounted{Day: day, Requests: f.n, Instance: m.instance})
	if errors.Is(err, streams.ErrConflict) {
		// Appended with any version, a conflict is the store telling it
		// has this event already.
		return nil
	}
	return err
}

// landed reports whether the ctx tenant's day stream holds event id.
func (m *meter) landed(ctx context.Context, day string, id uuid.UUID) (bool, error) {
	t, _ := tenant.From(ctx)
	n, err := streams.NewName(t, usage.Category, day)
	if err != nil {
		return false, err
	}
	recs, err := m.p.Store.ReadStream(ctx, n)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(recs, func(r streams.Record) bool { return r.ID == id }), nil
}

// write appends e to the ctx tenant's stream category-day.
func (m *meter) write(ctx context.Context, category, day string, v streams.ExpectedVersion, id uuid.UUID, e domain.Event) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	n, err := streams.NewName(t, category, day)
	if err != nil {
		return err
	}
	typ, data, err := m.p.Registry.Encode(e)
	if err != nil {
		return err
	}
	_, err = m.p.writes().Append(ctx, n, v, streams.EventData{ID: id, Type: typ, Data: data,
		Metadata: streams.Metadata{Tenant: t, UserID: "atrium"}})
	return err
}

// sweep closes, for every tenant, the days that ended at least Grace ago
// and sends billing the records it has not taken. Every tenant is looked
// at once a day and at start; one that failed, at every sweep until it
// does not.
func (m *meter) sweep(ctx context.Context) {
	before := usage.Day(m.p.cfg.Now().Add(-m.cfg.Grace))
	m.mu.Lock()
	if before != m.swept {
		m.swept = before
		m.todo = map[tenant.ID]bool{}
		for _, s := range m.p.Catalog.List() {
			m.todo[s.ID] = true
		}
	}
	todo := make([]tenant.ID, 0, len(m.todo))
	for t := range m.todo {
		todo = append(todo, t)
	}
	m.mu.Unlock()
	for _, t := range todo {
		if !m.p.isOpen(t) {
			continue // its read database is not ready here yet
		}
		if st, ok := m.p.Catalog.Get(t); !ok || st.ReadOnly {
			// Deleted, or offboarding: its log ended when it was made
			// read-only; no day of it is closed after.
			m.mu.Lock()
			delete(m.todo, t)
			m.mu.Unlock()
			continue
		}
		err := m.settle(tenant.With(ctx, t), before)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.p.log.Warn("closing a tenant's usage; trying again", "tenant", string(t), "err", err)
			continue
		}
		m.mu.Lock()
		delete(m.todo, t)
		m.mu.Unlock()
	}
}

// settle closes the ctx tenant's days before before, once its read models
// have counted its whole log, and sends billing what it has not taken.
func (m *meter) settle(ctx context.Context, before string) error {
	t, _ := tenant.From(ctx)
	if err := m.caughtUp(ctx); err != nil {
		return err
	}
	days, err := m.closing(ctx, before)
	if err != nil {
		return err
	}
	for _, r := range days {
		err = m.write(ctx, usage.BillingCategory, r.Day, streams.NoStream, uuid.NewSHA1(usageID, []byte("closed/"+string(t)+"/"+r.Day)), usage.DayClosed{Record: r})
		if err != nil && !errors.Is(err, streams.ErrConflict) { // closed by another instance: its record holds
			return err
		}
	}
	if m.billing == nil {
		return nil
	}
	if len(days) > 0 {
		if err := m.caughtUp(ctx); err != nil {
			return err
		}
	}
	closed, err := usagereads.NewQueries(m.p.Reads).Unreported(ctx)
	if err != nil {
		return err
	}
	for _, d := range closed {
		if err := m.report(ctx, *d.Closed); err != nil {
			return err
		}
	}
	return nil
}

// caughtUp waits, at most 30 s, until the ctx tenant's read models have
// projected its log as far as it reaches now.
func (m *meter) caughtUp(ctx context.Context) error {
	_, err := m.p.projectedToHead(ctx, 30*time.Second)
	return err
}

// projectedToHead waits, at most d, until the ctx tenant's read models
// have projected its log as far as it reaches now: that head.
func (p *Process) projectedToHead(ctx context.Context, d time.Duration) (streams.Position, error) {
	head, err := p.Store.Head(ctx)
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return head, p.Runner.WaitFor(wctx, head)
}

// closing are the records of the ctx tenant's days before before that are
// not closed, closed now: what it stores measured once for all of them.
func (m *meter) closing(ctx context.Context, before string) ([]usage.Record, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	days, err := m.p.unclosed(ctx, before)
	if err != nil || len(days) == 0 {
		return nil, err
	}
	now, err := m.p.storedNow(ctx)
	if err != nil {
		return nil, err
	}
	at := m.p.cfg.Now().UTC()
	out := make([]usage.Record, 0, len(days))
	for _, d := range days {
		r := record(t, d, now)
		r.Closed = at
		out = append(out, r)
	}
	return out, nil
}

// final sends billing, before the ctx tenant is deleted, every day of its
// usage billing has not taken: the closed days not reported, and the days
// not closed, today's too, closed now as they stand (the tenant is
// read-only: nothing of it is counted any more). Nothing is recorded in
// its log, which is deleted next; billing takes a day once, by its
// record's id, however often it is sent.
func (m *meter) final(ctx context.Context) error {
	if m.billing == nil {
		return nil
	}
	if _, err := tenant.From(ctx); err != nil {
		return err
	}
	if err := m.caughtUp(ctx); err != nil {
		return err
	}
	closed, err := usagereads.NewQueries(m.p.Reads).Unreported(ctx)
	if err != nil {
		return err
	}
	open, err := m.closing(ctx, usage.Day(m.p.cfg.Now().Add(24*time.Hour)))
	if err != nil {
		return err
	}
	records := make([]usage.Record, 0, len(closed)+len(open))
	for _, d := range closed {
		records = append(records, *d.Closed)
	}
	for _, r := range append(records, open...) {
		err := m.deliver(ctx, r)
		switch {
		case errors.Is(err, errBillingRefused):
			return fmt.Errorf("%w: %s: %w", tenancycmd.ErrBillingRefused, r.Day, err)
		case err != nil:
			return fmt.Errorf("%w: %s: %w", tenancycmd.ErrBillingUnreachable, r.Day, err)
		}
	}
	return nil
}

// errBillingRefused: billing refused a record for good (a 4xx answer).
var errBillingRefused = errors.New("billing refused the record")

// deliver sends billing the record r.
func (m *meter) deliver(ctx context.Context, r usage.Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	out := m.billing.Deliver(ctx, erpsync.Message{ID: r.ID, Tenant: r.Tenant, Type: "usage.day_closed", Aggregate: usage.BillingCategory,
		AggregateID: r.Day, OccurredAt: r.Closed, Data: data})
	if !out.Delivered && !out.Retry {
		return fmt.Errorf("%w %s: %w", errBillingRefused, r.ID, out.Err)
	}
	if !out.Delivered {
		return fmt.Errorf("billing: %w", out.Err)
	}
	return nil
}

// report sends billing the record r, then records that it took it.
func (m *meter) report(ctx context.Context, r usage.Record) error {
	if err := m.deliver(ctx, r); err != nil {
		return err
	}
	err := m.write(ctx, usage.BillingCategory, r.Day, streams.Exactly(1), uuid.NewSHA1(usageID, []byte("reported/"+r.ID)),
		usage.DayReported{Day: r.Day, ID: r.ID, At: m.p.cfg.Now().UTC()})
	if errors.Is(err, streams.ErrConflict) {
		return nil // recorded by another instance
	}
	return err
}

// day is a day of a tenant's usage: its row, and the ERP messages
// delivered on it.
type day struct {
	usagereads.Day
	delivered int64
}

// days are the ctx tenant's days from..to it did something on, in order:
// those of its usage rows, and those it only had ERP messages delivered
// on.
func (p *Process) days(ctx context.Context, from, to string) ([]day, error) {
	rows, err := usagereads.NewQueries(p.Reads).Days(ctx, from, to)
	if err != nil {
		return nil, err
	}
	delivered, err := p.Outbox.DeliveredOn(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]day, 0, len(rows)+len(delivered))
	for _, r := range rows {
		out = append(out, day{Day: r, delivered: delivered[r.Day]})
		delete(delivered, r.Day)
	}
	for d, n := range delivered {
		out = append(out, day{Day: usagereads.Day{Day: d}, delivered: n})
	}
	slices.SortFunc(out, func(a, b day) int { return strings.Compare(a.Day.Day, b.Day.Day) })
	return out, nil
}

// unclosedWindow is how far back days are looked for that only had ERP
// messages delivered, at least: older ones were closed by earlier sweeps.
const unclosedWindow = 7 * 24 * time.Hour

// unclosed are the ctx tenant's days before before that are not closed.
func (p *Process) unclosed(ctx context.Context, before string) ([]day, error) {
	rows, err := usagereads.NewQueries(p.Reads).Unclosed(ctx, before)
	if err != nil {
		return nil, err
	}
	end, err := usage.ParseDay(before)
	if err != nil {
		return nil, err
	}
	// Deliveries are looked for from the oldest day not closed (the day
	// after the last closed one): a read-only tenant's days stay open
	// until its deletion, however long after its offboarding that comes,
	// and its outbox keeps delivering meanwhile.
	from := usage.Day(end.Add(-unclosedWindow))
	for _, r := range rows {
		from = min(from, r.Day)
	}
	last, err := usagereads.NewQueries(p.Reads).LastClosed(ctx)
	if err != nil {
		return nil, err
	}
	if last != "" {
		l, err := usage.ParseDay(last)
		if err != nil {
			return nil, err
		}
		from = min(from, usage.Day(l.Add(24*time.Hour)))
	}
	recent, err := p.days(ctx, from, usage.Day(end.Add(-24*time.Hour)))
	if err != nil {
		return nil, err
	}
	out := make([]day, 0, len(rows))
	for _, r := range rows {
		out = append(out, day{Day: r})
	}
	for _, d := range recent {
		switch i := slices.IndexFunc(out, func(o day) bool { return o.Day.Day == d.Day.Day }); {
		case i >= 0:
			out[i].delivered = d.delivered
		case d.Closed == nil && d.delivered > 0 && d.Commands == 0 && d.Events == 0 && d.APIRequests == 0:
			out = append(out, d) // deliveries only, and no row
		}
	}
	return out, nil
}

// stored is what a tenant stores, measured at one moment.
type stored struct{ members, documents, database int64 }

// storedNow measures what the ctx tenant stores now: its members, its
// documents' bytes (listing them) and its read database's size.
func (p *Process) storedNow(ctx context.Context) (stored, error) {
	var s stored
	n, err := memberlist.NewQueries(p.Reads).Seats(ctx)
	if err != nil {
		return s, err
	}
	s.members = int64(n)
	if s.documents, err = documentBytes(ctx, p.Documents, ""); err != nil {
		return s, err
	}
	s.database, err = usagereads.NewQueries(p.Reads).DatabaseBytes(ctx)
	return s, err
}

// record is tenant t's usage of day d: its counters, the ERP messages of
// the day, and what the tenant stores (s).
func record(t tenant.ID, d day, s stored) usage.Record {
	return usage.Record{ID: usage.RecordID(string(t), d.Day.Day), Tenant: string(t), Day: d.Day.Day, Commands: d.Commands, Events: d.Events,
		EventBytes: d.EventBytes, APIRequests: d.APIRequests, ERPMessages: d.ERPInbound + d.delivered, ActiveMembers: d.ActiveMembers,
		Members: s.members, DocumentBytes: s.documents, ReadDatabaseBytes: s.database}
}

// Usage is the ctx tenant's usage of the days from..to (YYYY-MM-DD, both
// included) it did something on: a closed day as billing was sent it,
// another as it stands now (what it stores measured once).
func (p *Process) Usage(ctx context.Context, from, to string) ([]usage.Record, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	days, err := p.days(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]usage.Record, 0, len(days))
	var now *stored
	for _, d := range days {
		if d.Closed != nil {
			out = append(out, *d.Closed)
			continue
		}
		if now == nil {
			s, err := p.storedNow(ctx)
			if err != nil {
				return nil, err
			}
			now = &s
		}
		out = append(out, record(t, d, *now))
	}
	return out, nil
}

// erpCallQuota is erpQuota for a call back from the ctx tenant's ERP on a
// plan with a limit: within this process the tenant's calls back are
// counted and run one at a time (the turn is held until release), each
// once the tenant's read models have projected its log as far as it
// reaches then, so the calls before it are counted. A call waits at most
// erpCallWait for its turn and the read models together (then 429
// too_many_requests, or 503 projection_lagging when the read models were
// what it waited for), and at most erpCallsWaiting of a tenant wait at
// once (the others are refused at once, 429). Two instances taking calls
// of one tenant at the same moment may both pass the limit by one.
func (p *Process) erpCallQuota(ctx context.Context) (time.Duration, int64, func(), error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, 0, nil, err
	}
	if plan, ok := p.Catalog.PlanOf(t); !ok || plan.Limits.ERPMessagesPerDay <= 0 {
		return 0, 0, func() {}, nil
	}
	v, _ := p.erpWaiting.LoadOrStore(t, new(atomic.Int64))
	waiting := v.(*atomic.Int64)
	if waiting.Add(1) > erpCallsWaiting {
		waiting.Add(-1)
		return 0, 0, nil, erpCallsBusy()
	}
	wctx, cancel := context.WithTimeout(ctx, erpCallWait)
	release, err := take(wctx, &p.erpTurns, t, func() error {
		if p.Runner == nil {
			return nil
		}
		_, err := p.projectedToHead(wctx, erpCallWait)
		return err
	})
	cancel()
	waiting.Add(-1)
	if err != nil {
		if !errors.Is(err, projections.ErrLagging) && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, 0, nil, erpCallsBusy()
		}
		return 0, 0, nil, err
	}
	wait, limit, err := p.erpQuota(ctx)
	if err != nil {
		release()
		return 0, 0, nil, err
	}
	return wait, limit, release, nil
}

const (
	// erpCallWait bounds how long a call back waits for its tenant's turn
	// and read models.
	erpCallWait = 2 * time.Second
	// erpCallsWaiting bounds the calls back of one tenant waiting at once,
	// as the tenant's requests waiting for their turn are.
	erpCallsWaiting = 64
)

func erpCallsBusy() error {
	p := atriumhttp.NewProblem(http.StatusTooManyRequests, "too_many_requests", "this tenant's ERP has too many calls waiting; retry shortly")
	p.RetryAfter = 1
	return p
}

// erpQuota says how long the ctx tenant's ERP messages must wait for its
// plan's messages a day to have room (0 when they have room now), and
// that limit. Today's are those delivered and its ERP's calls back its
// log has counted.
func (p *Process) erpQuota(ctx context.Context) (time.Duration, int64, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return 0, 0, err
	}
	plan, ok := p.Catalog.PlanOf(t)
	if !ok || plan.Limits.ERPMessagesPerDay <= 0 {
		return 0, 0, nil
	}
	now := p.cfg.Now().UTC()
	today := usage.Day(now)
	days, err := p.days(ctx, today, today)
	if err != nil {
		return 0, 0, err
	}
	var n int64
	for _, d := range days {
		n += d.ERPInbound + d.delivered
	}
	if n < plan.Limits.ERPMessagesPerDay {
		return 0, plan.Limits.ERPMessagesPerDay, nil
	}
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return tomorrow.Sub(now), plan.Limits.ERPMessagesPerDay, nil
}
