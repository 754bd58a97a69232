package kurrentdb

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/atrium-platform/atrium/adapters/kurrentdb/kurrentdbtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/sourcetest"
	"github.com/atrium-platform/atrium/streams"
	"github.com/atrium-platform/atrium/streams/storetest"
)

// serverURL is the KurrentDB the suites run against: ATRIUM_TEST_KURRENTDB_URL
// when set (make test-integration), otherwise an in-process stand-in that
// speaks the protocol over real gRPC. Against the stand-in the suites prove
// the adapter's mapping to the client and the wire, not KurrentDB's own
// semantics; those are proven only against a real server.
func serverURL(t *testing.T) string {
	if u := os.Getenv("ATRIUM_TEST_KURRENTDB_URL"); u != "" {
		return u
	}
	return kurrentdbtest.Start(t).URL()
}

// open is a store on url in a namespace of its own: on a real server the
// suites share one $all, and their tenants (acme, globex…) must meet
// neither another subtest's events nor a former run's.
func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(Config{URL: url, Namespace: "run-" + uuid.NewString()[:8] + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStoreConformance(t *testing.T) {
	url := serverURL(t)
	storetest.Run(t, func(t *testing.T) streams.Store { return open(t, url) })
}

func TestSourceConformance(t *testing.T) {
	url := serverURL(t)
	sourcetest.Run(t, func(t *testing.T) (projections.Source, sourcetest.Log) {
		s := open(t, url)
		src := NewSource(s, nil)
		t.Cleanup(func() { _ = src.Close() })
		return src, s
	})
}

func TestStreamState(t *testing.T) {
	for _, c := range []struct {
		in   streams.ExpectedVersion
		want kdb.StreamState
	}{
		{streams.Any, kdb.Any{}},
		{streams.NoStream, kdb.NoStream{}},
		{streams.Exactly(0), kdb.NoStream{}},
		{streams.Exactly(1), kdb.Revision(0)},
		{streams.Exactly(42), kdb.Revision(41)},
	} {
		if got := streamState(c.in); got != c.want {
			t.Errorf("%+v: %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestAllPosition(t *testing.T) {
	if got := allPosition(0); got != (kdb.Start{}) {
		t.Errorf("after 0: %#v, want the start of $all", got)
	}
	if got := allPosition(1234); got != (kdb.Position{Commit: 1234, Prepare: 1234}) {
		t.Errorf("after 1234: %#v", got)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	n, err := streams.NewName("acme", "invoice", uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	ev := streams.EventData{ID: uuid.New(), Type: "invoice.drafted.v1", Data: []byte(`{"a":1}`), Metadata: streams.Metadata{
		UserID: "u", CorrelationID: "c", CausationID: "k", CommandID: "cmd", RequestHash: "h",
	}}
	data, err := eventData("acme", time.Date(2026, 12, 7, 10, 0, 0, 100, time.UTC), []streams.EventData{ev, {ID: uuid.New(), Type: "x.v1", Data: []byte{0xff}}})
	if err != nil {
		t.Fatal(err)
	}
	if data[0].ContentType != kdb.ContentTypeJson || data[1].ContentType != kdb.ContentTypeBinary {
		t.Fatalf("content types %v, %v: want JSON for JSON data only", data[0].ContentType, data[1].ContentType)
	}
	// The process's clock, not the server's "created", is the time it was
	// recorded at, as on every store.
	at := time.Date(2026, 12, 7, 10, 0, 0, 100, time.UTC)
	r, err := recordOf("", &kdb.RecordedEvent{
		EventID: ev.ID, EventType: ev.Type, StreamID: string(n), EventNumber: 4, Position: kdb.Position{Commit: 900, Prepare: 900},
		CreatedDate: at.Add(time.Hour), Data: ev.Data, UserMetadata: data[0].Metadata,
	})
	if err != nil {
		t.Fatal(err)
	}
	md := ev.Metadata
	md.Tenant = "acme"
	want := streams.Record{ID: ev.ID, Stream: n, Type: ev.Type, Version: 5, Position: 900, RecordedAt: at, Data: ev.Data, Metadata: md}
	if r.ID != want.ID || r.Stream != want.Stream || r.Type != want.Type || r.Version != want.Version || r.Position != want.Position ||
		!r.RecordedAt.Equal(want.RecordedAt) || string(r.Data) != string(want.Data) || r.Metadata != want.Metadata {
		t.Fatalf("read back %+v, want %+v", r, want)
	}
}

// An event in a tenant's prefix whose metadata names another tenant, or
// in a stream that is no Atrium name, is refused rather than delivered.
func TestRecordRefusesForeignEvents(t *testing.T) {
	data, err := eventData("globex", time.Now(), []streams.EventData{{ID: uuid.New(), Type: "x.v1", Data: []byte(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	for stream, md := range map[string][]byte{
		"acme.invoice-" + uuid.NewString():      data[0].Metadata,
		"acme.invoice-":                         []byte(`{"tenant":"acme"}`),
		"atrium-tenant-acme":                    []byte(`{"tenant":"acme"}`),
		"acme.invoice":                          []byte(`{"tenant":"acme"}`),
		"acme.invoice-" + uuid.NewString() + "": []byte(`not json`),
	} {
		if _, err := recordOf("", &kdb.RecordedEvent{EventID: uuid.New(), StreamID: stream, EventType: "x.v1", UserMetadata: md}); !errors.Is(err, streams.ErrBadMetadata) {
			t.Errorf("%s with %s: %v, want ErrBadMetadata", stream, md, err)
		}
	}
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		want error
	}{
		{status.Error(codes.Unavailable, "down"), streams.ErrUnavailable},
		{status.Error(codes.DeadlineExceeded, "slow"), streams.ErrUnavailable},
	} {
		if got := translate(ctx, c.err); !errors.Is(got, c.want) {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if got := translate(cancelled, status.Error(codes.Canceled, "x")); !errors.Is(got, context.Canceled) {
		t.Errorf("a call whose ctx ended: %v, want context.Canceled", got)
	}
}

// Without a tenant in ctx nothing is sent; a stream of another tenant is
// refused before anything is sent. The server here is one that does not
// exist: had anything been sent, the error would be ErrUnavailable.
func TestRefusedBeforeSending(t *testing.T) {
	s := open(t, "kurrentdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	other, _ := streams.NewName("globex", "invoice", uuid.NewString())
	ev := streams.EventData{ID: uuid.New(), Type: "x.v1", Data: []byte(`{}`)}
	if _, err := s.Append(ctx, other, streams.NoStream, ev); !errors.Is(err, tenant.ErrNoTenant) {
		t.Errorf("append without a tenant: %v", err)
	}
	acme := tenant.With(ctx, "acme")
	if _, err := s.Append(acme, other, streams.NoStream, ev); !errors.Is(err, streams.ErrTenantMismatch) {
		t.Errorf("append to another tenant's stream: %v", err)
	}
	if _, err := s.ReadStream(acme, other); !errors.Is(err, streams.ErrTenantMismatch) {
		t.Errorf("read of another tenant's stream: %v", err)
	}
	for what, err := range map[string]error{
		"Head":       func() error { _, err := s.Head(ctx); return err }(),
		"ReadTenant": func() error { _, err := s.ReadTenant(ctx, 0, 10); return err }(),
		"Subscribe":  s.Subscribe(ctx, 0, func(context.Context, streams.Record) error { return nil }),
		"Provision":  s.Provision(ctx),
	} {
		if !errors.Is(err, tenant.ErrNoTenant) {
			t.Errorf("%s without a tenant: %v", what, err)
		}
	}
	n, _ := streams.NewName("acme", "invoice", uuid.NewString())
	if _, err := s.Append(acme, n, streams.NoStream, ev); !errors.Is(err, streams.ErrUnavailable) {
		t.Errorf("append with no server: %v, want ErrUnavailable", err)
	}
}

// An append larger than the server takes is refused before it is sent.
func TestTooLarge(t *testing.T) {
	s, err := Open(Config{URL: "kurrentdb://127.0.0.1:1?tls=false", MaxAppendSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	s.provisioned.Store(tenant.ID("acme"), struct{}{})
	n, _ := streams.NewName("acme", "invoice", uuid.NewString())
	big := streams.EventData{ID: uuid.New(), Type: "x.v1", Data: make([]byte, 200)}
	if _, err := s.Append(tenant.With(context.Background(), "acme"), n, streams.NoStream, big); !errors.Is(err, streams.ErrTooLarge) {
		t.Fatalf("append of 200 bytes with a limit of 100: %v, want ErrTooLarge", err)
	}
}

// Namespaces cannot overlap: one is never the start of another's names,
// nor of a tenant's streams in a deployment without one.
func TestNamespaces(t *testing.T) {
	for _, bad := range []string{"x", "a.", "staging", "Staging:", "a:b:", "-a:", "a b:"} {
		if _, err := Open(Config{URL: "kurrentdb://127.0.0.1:1?tls=false", Namespace: bad}); err == nil {
			t.Errorf("namespace %q accepted", bad)
		}
	}
	url := kurrentdbtest.Start(t).URL()
	plain, staging := open(t, url), open(t, url)
	plain.cfg.Namespace = ""
	ctx := tenant.With(context.Background(), "acme")
	if err := plain.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := streams.NewName("acme", "invoice", uuid.NewString())
	if _, err := plain.Append(ctx, n, streams.NoStream, streams.EventData{ID: uuid.New(), Type: "x.v1", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := staging.Head(ctx); !errors.Is(err, streams.ErrUnknownTenant) {
		t.Fatalf("acme of another namespace: %v, want ErrUnknownTenant", err)
	}
	if err := staging.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, err := staging.ReadTenant(ctx, 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("acme of another namespace reads %d events (%v), want none", len(recs), err)
	}
	if recs, err := staging.ReadStream(ctx, n); err != nil || len(recs) != 0 {
		t.Fatalf("acme's stream in another namespace: %d events (%v), want none", len(recs), err)
	}
}

// Ping answers whether the server does, provisioned or not; without one
// it is ErrUnavailable.
func TestPing(t *testing.T) {
	s := open(t, serverURL(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("a server with nothing in it: %v", err)
	}
	if err := s.Provision(tenant.With(ctx, tenant.Platform)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("a provisioned platform: %v", err)
	}
	down := open(t, "kurrentdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1")
	if err := down.Ping(ctx); !errors.Is(err, streams.ErrUnavailable) {
		t.Fatalf("no server: %v, want ErrUnavailable", err)
	}
}

// KurrentDB refuses a read of $all from a position that is no event's:
// ReadTenant answers ErrUnknownPosition for one before the tenant's last
// event (an HTTP 400), and nothing for one past it.
func TestReadTenantFromNoEvent(t *testing.T) {
	s := open(t, serverURL(t))
	ctx := tenant.With(context.Background(), "acme")
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := streams.NewName("acme", "invoice", uuid.NewString())
	r, err := s.Append(ctx, n, streams.NoStream,
		streams.EventData{ID: uuid.New(), Type: "x.v1", Data: []byte(`{}`)}, streams.EventData{ID: uuid.New(), Type: "x.v1", Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadTenant(ctx, 0, 10)
	if err != nil || len(recs) != 2 || recs[1].Position != r.Position {
		t.Fatalf("read: %d events, %v; last at %d", len(recs), err, r.Position)
	}
	if _, err := s.ReadTenant(ctx, recs[0].Position+1, 10); !errors.Is(err, streams.ErrUnknownPosition) {
		t.Fatalf("after no event's position: %v, want ErrUnknownPosition", err)
	}
	for _, after := range []streams.Position{r.Position, r.Position + 1, streams.Position(math.MaxUint64)} {
		if got, err := s.ReadTenant(ctx, after, 10); err != nil || len(got) != 0 {
			t.Fatalf("after %d, at or past the last event: %d events, %v", after, len(got), err)
		}
	}
}
