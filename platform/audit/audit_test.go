package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/streams"
)

// fixture is an event store on the embedded JetStream server with acme and
// globex provisioned.
type fixture struct {
	store streams.Store
	ctx   context.Context
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	s := jetstreamtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := s.Provision(tenant.With(ctx, tn)); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{store: s, ctx: ctx}
}

// as is the fixture's context for a member of tn holding roles.
func (f fixture) as(tn tenant.ID, roles ...user.Role) context.Context {
	return user.With(tenant.With(f.ctx, tn), user.Principal{ID: user.ID("u-" + string(tn)), Roles: roles})
}

// append writes n events to a new invoice stream of tn and returns its name.
func (f fixture) append(t *testing.T, tn tenant.ID, n int) streams.Name {
	t.Helper()
	name, err := streams.NewName(tn, "invoice", uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]streams.EventData, n)
	for i := range evs {
		evs[i] = streams.EventData{
			ID: uuid.New(), Type: "invoice.noted.v1", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Metadata: streams.Metadata{Tenant: tn, UserID: "u-" + string(tn), CorrelationID: "corr-" + string(tn), CausationID: "cause"},
		}
	}
	if _, err := f.store.Append(tenant.With(f.ctx, tn), name, streams.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestEventsInOrderWithMetadata(t *testing.T) {
	f := newFixture(t)
	first := f.append(t, "acme", 2)
	f.append(t, "globex", 3)
	second := f.append(t, "acme", 1)
	r := audit.NewReader(f.store)

	evs, err := r.Events(f.as("acme", user.Auditor), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want acme's 3", len(evs))
	}
	for i, e := range evs {
		if e.Position != uint64(i+1) {
			t.Fatalf("event %d at position %d", i, e.Position)
		}
		if e.Metadata != (audit.Metadata{UserID: "u-acme", CorrelationID: "corr-acme", CausationID: "cause"}) {
			t.Fatalf("metadata %+v", e.Metadata)
		}
		if e.RecordedAt.IsZero() {
			t.Fatal("no recorded_at")
		}
	}
	if evs[0].Stream != string(first) || evs[1].Version != 2 || evs[2].Stream != string(second) || evs[2].Version != 1 {
		t.Fatalf("events %+v", evs)
	}

	page, err := r.Events(f.as("acme", user.Admin), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Position != 2 {
		t.Fatalf("page after 1: %+v", page)
	}

	// The wire form auditors read.
	b, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"position", "stream", "type", "version", "recorded_at", "data", "metadata"} {
		if _, ok := wire[k]; !ok {
			t.Fatalf("no %q in %s", k, b)
		}
	}
	if wire["data"].(map[string]any)["n"] != float64(0) {
		t.Fatalf("data %s", b)
	}
	md := wire["metadata"].(map[string]any)
	if md["user_id"] != "u-acme" || md["correlation_id"] != "corr-acme" || md["causation_id"] != "cause" {
		t.Fatalf("metadata %s", b)
	}
}

func TestAccess(t *testing.T) {
	f := newFixture(t)
	name := f.append(t, "acme", 1)
	r := audit.NewReader(f.store)
	readers := []user.Role{user.Finance, user.Manager}

	tests := []struct {
		name      string
		ctx       context.Context
		events    error
		history   error
		forbidden bool
	}{
		{name: "auditor and finance", ctx: f.as("acme", user.Auditor, user.Finance)},
		{name: "finance reads the aggregate, not the log", ctx: f.as("acme", user.Finance), forbidden: true},
		{name: "employee", ctx: f.as("acme", user.Employee), forbidden: true},
		{name: "no principal", ctx: tenant.With(f.ctx, "acme"), events: user.ErrNoPrincipal, history: user.ErrNoPrincipal},
		{name: "no tenant", ctx: user.With(f.ctx, user.Principal{ID: "u", Roles: []user.Role{user.Auditor, user.Finance}}), events: tenant.ErrNoTenant, history: tenant.ErrNoTenant},
		{name: "another tenant's stream", ctx: f.as("globex", user.Auditor, user.Finance), history: streams.ErrTenantMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, evErr := r.Events(tc.ctx, 0, 10)
			_, hiErr := r.History(tc.ctx, name, readers)
			_, upErr := r.UpTo(tc.ctx, name, time.Now().Add(time.Hour), readers)
			stErr := r.Stream(tc.ctx, 0, func(audit.Event) error { return nil })
			if tc.forbidden {
				var de *domain.Error
				if !errors.As(evErr, &de) || de.Kind != domain.Forbidden || !errors.As(stErr, &de) || de.Kind != domain.Forbidden {
					t.Fatalf("log read: %v / %v, want forbidden", evErr, stErr)
				}
				return
			}
			if !errors.Is(evErr, tc.events) || !errors.Is(stErr, tc.events) {
				t.Fatalf("log read: %v / %v, want %v", evErr, stErr, tc.events)
			}
			if !errors.Is(hiErr, tc.history) || !errors.Is(upErr, tc.history) {
				t.Fatalf("history: %v / %v, want %v", hiErr, upErr, tc.history)
			}
		})
	}

	// The roles given to History decide, not the audit roles.
	if _, err := r.History(f.as("acme", user.Finance), name, readers); err != nil {
		t.Fatalf("finance reading an invoice's history: %v", err)
	}
	var de *domain.Error
	if _, err := r.History(f.as("acme", user.Auditor), name, readers); !errors.As(err, &de) || de.Kind != domain.Forbidden {
		t.Fatalf("auditor outside the given roles: %v", err)
	}
}

func TestStreamReadsTheWholeLogInPages(t *testing.T) {
	f := newFixture(t)
	const total = 1234 // more than two of the reader's pages
	for range total / 200 {
		f.append(t, "acme", 200)
	}
	f.append(t, "acme", total%200)
	f.append(t, "globex", 5)
	r := audit.NewReader(f.store)
	ctx := f.as("acme", user.Auditor)

	var got []uint64
	if err := r.Stream(ctx, 7, func(e audit.Event) error {
		got = append(got, e.Position)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != total-7 {
		t.Fatalf("%d events after position 7, want %d", len(got), total-7)
	}
	for i, p := range got {
		if p != uint64(i+8) {
			t.Fatalf("event %d at position %d", i, p)
		}
	}

	stop := errors.New("enough")
	n := 0
	err := r.Stream(ctx, 0, func(audit.Event) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("stopping: %v after %d", err, n)
	}
}

func TestHistoryAndUpTo(t *testing.T) {
	f := newFixture(t)
	name := f.append(t, "acme", 2)
	f.append(t, "acme", 1) // another invoice
	ctx := tenant.With(f.ctx, "acme")
	if _, err := f.store.Append(ctx, name, streams.Exactly(2), streams.EventData{ID: uuid.New(), Type: "invoice.noted.v1", Data: []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	r := audit.NewReader(f.store)
	reader := f.as("acme", user.Finance)
	roles := []user.Role{user.Finance}

	hist, err := r.History(reader, name, roles)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 {
		t.Fatalf("%d events, want 3", len(hist))
	}
	for i, e := range hist {
		if e.Stream != string(name) || e.Version != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if hist[2].Position != 4 {
		t.Fatalf("third event at position %d, want 4 (after the other invoice)", hist[2].Position)
	}

	none, err := r.History(reader, streams.Name("acme.invoice-"+uuid.NewString()), roles)
	if err != nil || len(none) != 0 {
		t.Fatalf("unknown stream: %v %v", none, err)
	}

	// Up to a time: the events recorded until then, a prefix of the stream.
	recs, err := r.UpTo(reader, name, hist[1].RecordedAt, roles)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 2 || recs[0].Version != 1 || recs[1].Version != 2 {
		t.Fatalf("up to the second event: %d records", len(recs))
	}
	if recs, err := r.UpTo(reader, name, hist[0].RecordedAt.Add(-time.Nanosecond), roles); err != nil || len(recs) != 0 {
		t.Fatalf("before the first event: %d records, %v", len(recs), err)
	}
	if recs, err := r.UpTo(reader, name, time.Now().Add(time.Hour), roles); err != nil || len(recs) != 3 {
		t.Fatalf("up to now: %d records, %v", len(recs), err)
	}
}

func TestDataThatIsNotJSONIsAString(t *testing.T) {
	f := newFixture(t)
	name, err := streams.NewName("acme", "blob", uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Append(tenant.With(f.ctx, "acme"), name, streams.NoStream,
		streams.EventData{ID: uuid.New(), Type: "blob.stored.v1", Data: []byte("not json \x00")}); err != nil {
		t.Fatal(err)
	}
	evs, err := audit.NewReader(f.store).Events(f.as("acme", user.Auditor), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if len(evs) != 1 || json.Unmarshal(evs[0].Data, &s) != nil || s != "not json \x00" {
		t.Fatalf("events %+v", evs)
	}
	if _, err := json.Marshal(evs[0]); err != nil {
		t.Fatal(err)
	}
}
