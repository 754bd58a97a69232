package catalog_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/platform/catalog"
	"github.com/atrium-platform/atrium/streams"
)

func TestRunAgainResumesWhereTheCatalogIs(t *testing.T) {
	store := jetstreamtest.NewStore(t)
	reg := streams.NewRegistry()
	streams.Register(reg, tenancy.Provisioned{}, tenancy.Suspended{}, tenancy.Resumed{})
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), tenant.Platform), time.Minute)
	defer cancel()
	if err := store.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	acme, err := streams.NewName(tenant.Platform, tenancy.Category, "acme")
	if err != nil {
		t.Fatal(err)
	}
	record := func(ev domain.Event) streams.Position {
		t.Helper()
		typ, data, err := reg.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		r, err := store.Append(ctx, acme, streams.Any, streams.EventData{ID: uuid.New(), Type: typ, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return r.Position
	}
	record(tenancy.Provisioned{Tenant: "acme", Name: "Acme"})
	suspended := record(tenancy.Suspended{Tenant: "acme"})

	c := catalog.New(store, reg)
	var mu sync.Mutex
	var changes []bool // each change's Suspended
	c.OnChange(func(s tenancy.State) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, s.Suspended)
	})
	run := func() (stop func()) {
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.Run(rctx)
		}()
		return func() { rcancel(); <-done }
	}
	waitFor := func(pos streams.Position) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if err := c.WaitFor(wctx, pos); err != nil {
			t.Fatal(err)
		}
	}
	stop := run()
	waitFor(suspended)
	stop() // as a subscription that failed

	stop = run()
	defer stop()
	resumed := record(tenancy.Resumed{Tenant: "acme"})
	waitFor(resumed)
	mu.Lock()
	defer mu.Unlock()
	// Replaying the log from its start would have shown acme provisioned
	// and not suspended again, and told the listeners so.
	if want := []bool{false, true, false}; !slices.Equal(changes, want) {
		t.Fatalf("changes (suspended?) %v, want %v", changes, want)
	}
	if s, ok := c.Get("acme"); !ok || s.Suspended || s.Name != "Acme" {
		t.Fatalf("acme %+v (%v)", s, ok)
	}
}

// With NotifyFrom(head), the listeners see each tenant once, as the log
// up to head leaves it (a deleted one as its tombstone, never alive), and
// every change after; WaitFor returns once they have acted on it.
func TestNotifyFromTheHead(t *testing.T) {
	store := jetstreamtest.NewStore(t)
	reg := streams.NewRegistry()
	streams.Register(reg, tenancy.Provisioned{}, tenancy.OffboardingStarted{}, tenancy.Deleted{}, tenancy.Suspended{})
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), tenant.Platform), time.Minute)
	defer cancel()
	if err := store.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	record := func(slug tenant.ID, ev domain.Event) streams.Position {
		t.Helper()
		n, err := streams.NewName(tenant.Platform, tenancy.Category, string(slug))
		if err != nil {
			t.Fatal(err)
		}
		typ, data, err := reg.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		r, err := store.Append(ctx, n, streams.Any, streams.EventData{ID: uuid.New(), Type: typ, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return r.Position
	}
	record("acme", tenancy.Provisioned{Tenant: "acme", Name: "Acme"})
	record("globex", tenancy.Provisioned{Tenant: "globex", Name: "Globex"})
	record("acme", tenancy.OffboardingStarted{Tenant: "acme"})
	head := record("acme", tenancy.Deleted{Tenant: "acme"})

	c := catalog.New(store, reg)
	var mu sync.Mutex
	var seen []string
	c.OnChange(func(s tenancy.State) {
		mu.Lock()
		defer mu.Unlock()
		state := "alive"
		if s.Deleted {
			state = "deleted"
		} else if s.Suspended {
			state = "suspended"
		}
		seen = append(seen, string(s.ID)+" "+state)
	})
	c.NotifyFrom(head)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() { _ = c.Run(rctx) }()
	if err := c.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(seen)
	mu.Unlock()
	if want := []string{"acme deleted", "globex alive"}; !slices.Equal(got, want) {
		t.Fatalf("at the head: %v, want %v", got, want)
	}
	if err := c.WaitFor(ctx, record("globex", tenancy.Suspended{Tenant: "globex"})); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"acme deleted", "globex alive", "globex suspended"}; !slices.Equal(seen, want) {
		t.Fatalf("after a change: %v, want %v", seen, want)
	}
}
