package jetstream_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// projected records which instance projects which tenant, as the
// instances' runners would, and every moment two of them project one
// tenant at once.
type projected struct {
	mu       sync.Mutex
	by       map[tenant.ID]string
	overlaps []string
}

func (p *projected) of(instance string) jetstream.Projection {
	return projectionOf{p, instance}
}

// died forgets what instance projects: its process is gone.
func (p *projected) died(instance string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, in := range p.by {
		if in == instance {
			delete(p.by, t)
		}
	}
}

func (p *projected) counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, in := range p.by {
		out[in]++
	}
	return out
}

func (p *projected) failures() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.overlaps)
}

type projectionOf struct {
	p        *projected
	instance string
}

func (o projectionOf) Start(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	o.p.mu.Lock()
	defer o.p.mu.Unlock()
	if in, ok := o.p.by[t]; ok && in != o.instance {
		o.p.overlaps = append(o.p.overlaps, fmt.Sprintf("%s started %s, projected by %s", o.instance, t, in))
	}
	o.p.by[t] = o.instance
	return nil
}

func (o projectionOf) Stop(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	o.p.mu.Lock()
	defer o.p.mu.Unlock()
	if o.p.by[t] == o.instance {
		delete(o.p.by, t)
	}
	return nil
}

type leaseWorld struct {
	t       *testing.T
	nc      *nats.Conn
	tenants []tenant.ID
	proj    *projected
	cfg     jetstream.LeaseConfig

	mu   sync.Mutex
	live []*jetstream.Leases
}

func newLeaseWorld(t *testing.T, n int) *leaseWorld {
	t.Helper()
	_, nc := jetstreamtest.Start(t)
	w := &leaseWorld{t: t, nc: nc, proj: &projected{by: map[tenant.ID]string{}},
		cfg: jetstream.LeaseConfig{TTL: 3 * time.Second, Interval: 500 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}}
	for i := range n {
		w.tenants = append(w.tenants, tenant.ID(fmt.Sprintf("t%02d", i)))
	}
	return w
}

func (w *leaseWorld) start(instance string) *jetstream.Leases {
	w.t.Helper()
	cfg := w.cfg
	cfg.Instance = instance
	l, err := jetstream.OpenLeases(context.Background(), w.nc, cfg, func() []tenant.ID { return w.tenants }, w.proj.of(instance))
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.live = append(w.live, l)
	w.mu.Unlock()
	w.t.Cleanup(func() {
		w.mu.Lock()
		alive := slices.Contains(w.live, l)
		w.mu.Unlock()
		if alive {
			_ = l.Close(context.Background())
		}
	})
	return l
}

// crash kills l as kill -9 would: its projections end with the process,
// its leases stay in the bucket until they expire.
func (w *leaseWorld) crash(l *jetstream.Leases) {
	w.mu.Lock()
	w.live = slices.DeleteFunc(w.live, func(x *jetstream.Leases) bool { return x == l })
	w.mu.Unlock()
	l.Crash()
	w.proj.died(l.Instance())
}

// watch checks, until the test ends, that no tenant is ever held by two
// live instances at once.
func (w *leaseWorld) watch() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	w.t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			w.mu.Lock()
			by := map[tenant.ID]string{}
			for _, l := range w.live {
				for _, t := range l.Held() {
					if other, ok := by[t]; ok {
						w.t.Errorf("%s held by %s and %s at once", t, other, l.Instance())
					}
					by[t] = l.Instance()
				}
			}
			w.mu.Unlock()
		}
	}()
}

// settle waits until every tenant is projected and each of the given
// instances projects between lo and hi of them.
func (w *leaseWorld) settle(within time.Duration, lo, hi int, instances ...string) {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		counts := w.proj.counts()
		total, fair := 0, true
		for _, n := range counts {
			total += n
		}
		for _, in := range instances {
			fair = fair && counts[in] >= lo && counts[in] <= hi
		}
		if total == len(w.tenants) && fair && len(counts) == len(instances) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("after %s: tenants projected per instance %v; want all %d, each of %v projecting %d to %d", within, counts, len(w.tenants), instances, lo, hi)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLeasesShareTakeOverAndRebalance(t *testing.T) {
	w := newLeaseWorld(t, 10)
	w.watch()
	a := w.start("a")
	b := w.start("b")
	w.settle(10*time.Second, 5, 5, "a", "b")

	// a dies: b has every tenant within the TTL and an interval or two.
	died := time.Now()
	w.crash(a)
	w.settle(w.cfg.TTL+4*w.cfg.Interval, 10, 10, "b")
	t.Logf("tenants taken over %s after the crash", time.Since(died).Round(10*time.Millisecond))

	// c and d join: b gives tenants back, the newcomers take them.
	w.start("c")
	w.start("d")
	w.settle(10*time.Second, 3, 4, "b", "c", "d") // 4, 3 and 3

	// b leaves cleanly: its tenants are taken at once, not after the TTL.
	left := time.Now()
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.crash(b) // no longer live, for the watch
	w.settle(w.cfg.TTL, 5, 5, "c", "d")
	t.Logf("tenants handed over %s after a clean close", time.Since(left).Round(10*time.Millisecond))

	if f := w.proj.failures(); len(f) > 0 {
		t.Fatalf("tenants projected twice at once:\n%v", f)
	}
}

func TestLeaseLostStopsTheProjection(t *testing.T) {
	w := newLeaseWorld(t, 3)
	a := w.start("a")
	w.settle(10*time.Second, 3, 3, "a")
	// Another writer takes t01's key: a's next renewal is refused.
	kv, err := jetstreamKV(t, w.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "tenant.t01", []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * w.cfg.Interval)
	for slices.Contains(a.Held(), "t01") || w.proj.counts()["a"] != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("a still projects t01 after its lease was taken: held %v, projected %v", a.Held(), w.proj.counts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jetstreamKV(t *testing.T, nc *nats.Conn) (natsjs.KeyValue, error) {
	t.Helper()
	js, err := natsjs.New(nc)
	if err != nil {
		return nil, err
	}
	return js.KeyValue(context.Background(), "ATRIUM_LEASES")
}
