package tenancy_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/commands"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

type res struct {
	head    uint64
	settled atomic.Int32
}

func (r *res) Provision(context.Context) error      { return nil }
func (r *res) Head(context.Context) (uint64, error) { return r.head, nil }
func (r *res) Settle(context.Context) error         { r.settled.Add(1); return nil }

type cat struct{}

func (cat) Get(tenant.ID) (tenancy.State, bool)             { return tenancy.State{}, false }
func (cat) ByDomain(string) (tenant.ID, bool)               { return "", false }
func (cat) WaitFor(context.Context, streams.Position) error { return nil }

// hooked runs before, once, ahead of the n-th read of stream.
type hooked struct {
	streams.Store
	stream streams.Name
	n      int
	reads  int
	mu     sync.Mutex
	before func()
}

func (h *hooked) ReadStream(ctx context.Context, s streams.Name) ([]streams.Record, error) {
	if s == h.stream {
		h.mu.Lock()
		h.reads++
		fire := h.reads == h.n
		h.mu.Unlock()
		if fire {
			h.before()
		}
	}
	return h.Store.ReadStream(ctx, s)
}

// An archive recorded between the billing step (settle) and the decision
// lets no deletion through unbilled: it is refused, and asked again it
// bills, then deletes.
func TestDeletionIsNeverRecordedUnbilled(t *testing.T) {
	js := jetstreamtest.NewStore(t)
	reg := streams.NewRegistry()
	streams.Register(reg, tenancycmd.Events()...)
	streams.Register(reg, commands.Events()...)
	ctx := context.Background()
	pctx := tenant.With(ctx, tenant.Platform)
	if err := js.Provision(pctx); err != nil {
		t.Fatal(err)
	}
	stream, err := streams.NewName(tenant.Platform, tenancy.Category, "acme")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	write := func(e domain.Event) {
		typ, data, err := reg.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Append(pctx, stream, streams.Any, streams.EventData{ID: uuid.New(), Type: typ, Data: data,
			Metadata: streams.Metadata{Tenant: tenant.Platform, UserID: "root"}}); err != nil {
			t.Fatal(err)
		}
	}
	write(tenancy.Provisioned{Tenant: "acme", Name: "Acme", Settings: tenancy.DefaultSettings("EUR"), At: at})
	write(tenancy.OffboardingStarted{Tenant: "acme", At: at})
	// No archive when settle reads the record; another request's lands
	// before the decision reads it.
	store := &hooked{Store: js, stream: stream, n: 2, before: func() { write(tenancy.Archived{Tenant: "acme", Head: 7, At: at}) }}
	r := &res{head: 7}
	h := tenancycmd.NewHandler(&commands.Executor{Store: store, Registry: reg}, r, nil, cat{}, "example.com", func() time.Time { return at })
	actx := user.With(ctx, user.Principal{ID: "root", Roles: []user.Role{user.PlatformAdmin}})
	deleted := func() bool {
		evs, _, err := (&commands.Executor{Store: js, Registry: reg}).Load(pctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		var s tenancy.State
		for _, e := range evs {
			s = tenancy.Evolve(s, e)
		}
		return s.Deleted
	}
	_, err = h.Delete(actx, commands.Request{CommandID: uuid.NewString()}, "acme", "acme")
	if !errors.Is(err, &domain.Error{Code: "concurrent_modification"}) || deleted() || r.settled.Load() != 0 {
		t.Fatalf("the archive recorded meanwhile: %v, deleted %v, billed %d times; want concurrent_modification, nothing", err, deleted(), r.settled.Load())
	}
	if _, err := h.Delete(actx, commands.Request{CommandID: uuid.NewString()}, "acme", "acme"); err != nil || !deleted() || r.settled.Load() != 1 {
		t.Fatalf("asked again: %v, deleted %v, billed %d times; want deleted, billed once", err, deleted(), r.settled.Load())
	}
}
