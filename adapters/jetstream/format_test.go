package jetstream_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/streams"
)

// oldFormat is an event as the store wrote it before streams.MetaEvent:
// one header per metadata key.
func oldFormat(t *testing.T, rec streams.Record, lastSeq uint64) *nats.Msg {
	t.Helper()
	m := nats.NewMsg("ev.acme." + rec.Stream.Aggregate() + "." + rec.Stream.ID())
	m.Data = rec.Data
	for k, v := range map[string]string{
		"Atrium-Tenant":             string(rec.Metadata.Tenant),
		"Atrium-Stream":             string(rec.Stream),
		"Atrium-Type":               rec.Type,
		"Atrium-Version":            strconv.FormatUint(uint64(rec.Version), 10),
		"Atrium-Recorded-At":        rec.RecordedAt.UTC().Format(time.RFC3339Nano),
		"Atrium-User":               rec.Metadata.UserID,
		"Atrium-Correlation":        rec.Metadata.CorrelationID,
		"Atrium-Causation":          rec.Metadata.CausationID,
		"Atrium-Command":            rec.Metadata.CommandID,
		"Atrium-Request-Hash":       rec.Metadata.RequestHash,
		nats.MsgIdHdr:               rec.ID.String(),
		nats.ExpectedStreamHdr:      jetstream.StreamName("acme"),
		nats.ExpectedLastSubjSeqHdr: strconv.FormatUint(lastSeq, 10),
	} {
		if v != "" {
			m.Header.Set(k, v)
		}
	}
	return m
}

// Events stored in the format of one header per metadata key read back
// the same through every reader: streams, the tenant's log, the store's
// subscription, the projections' source, the audit log, and the appends
// that read a stream's last event (an expected version not cached, a
// retried append).
func TestEventsStoredInTheOldFormatStillDecode(t *testing.T) {
	s, nc, ctx := newStore(t, jetstream.StoreConfig{})
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	n, other := newName(t), newName(t)
	old := []streams.Record{
		{ID: uuid.New(), Stream: n, Type: "invoice.drafted.v1", Version: 1, Position: 1, RecordedAt: at, Data: []byte(`{"n":1}`),
			Metadata: streams.Metadata{Tenant: "acme", UserID: "u-1", CorrelationID: "corr 1", CausationID: "cause-1", CommandID: "cmd-1", RequestHash: "hash-1"}},
		{ID: uuid.New(), Stream: n, Type: "invoice.issued.v1", Version: 2, Position: 2, RecordedAt: at.Add(time.Second), Data: []byte(`{"n":2}`),
			Metadata: streams.Metadata{Tenant: "acme", CorrelationID: "corr-2"}},
		{ID: uuid.New(), Stream: other, Type: "invoice.drafted.v1", Version: 1, Position: 3, RecordedAt: at.Add(2 * time.Second), Data: []byte(`{"n":3}`),
			Metadata: streams.Metadata{Tenant: "acme", UserID: "u-3"}},
	}
	for i, rec := range old {
		last := uint64(0)
		if i == 1 {
			last = 1
		}
		if _, err := js.PublishMsg(ctx, oldFormat(t, rec, last)); err != nil {
			t.Fatal(err)
		}
	}

	// A store that has cached nothing reads the old last event's version
	// to append after it, and recognises a retry of the old append.
	fresh, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	next := streams.EventData{ID: uuid.New(), Type: "invoice.paid.v1", Data: []byte(`{"n":4}`), Metadata: streams.Metadata{UserID: "u-4"}}
	if res, err := fresh.Append(ctx, n, streams.Exactly(2), next); err != nil || res.Version != 3 || res.Position != 4 {
		t.Fatalf("append after old events: %+v %v", res, err)
	}
	retry := streams.EventData{ID: old[2].ID, Type: old[2].Type, Data: old[2].Data, Metadata: old[2].Metadata}
	if res, err := fresh.Append(ctx, other, streams.NoStream, retry); err != nil || res.Version != 1 || res.Position != 3 {
		t.Fatalf("retry of an old append: %+v %v", res, err)
	}
	if res, err := fresh.Append(ctx, other, streams.Any, streams.EventData{ID: uuid.New(), Type: "invoice.paid.v1", Data: []byte(`{}`)}); err != nil || res.Version != 2 {
		t.Fatalf("append Any after an old event: %+v %v", res, err)
	}

	same := func(what string, got, want streams.Record) {
		t.Helper()
		if got.ID != want.ID || got.Stream != want.Stream || got.Type != want.Type || got.Version != want.Version ||
			got.Position != want.Position || !got.RecordedAt.Equal(want.RecordedAt) || string(got.Data) != string(want.Data) ||
			got.Metadata != want.Metadata {
			t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	recs, err := s.ReadStream(ctx, n)
	if err != nil || len(recs) != 3 {
		t.Fatalf("read stream: %d records, %v", len(recs), err)
	}
	same("read stream", recs[0], old[0])
	same("read stream", recs[1], old[1])
	if recs[2].ID != next.ID || recs[2].Version != 3 || recs[2].Metadata.UserID != "u-4" || recs[2].Metadata.Tenant != "acme" {
		t.Fatalf("new event after old ones: %+v", recs[2])
	}
	log, err := s.ReadTenant(ctx, 0, 10)
	if err != nil || len(log) != 5 {
		t.Fatalf("read tenant: %d records, %v", len(log), err)
	}
	same("read tenant", log[0], old[0])
	same("read tenant", log[1], old[1])
	same("read tenant", log[2], old[2])

	// The store's subscription.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var sub []streams.Record
	err = s.Subscribe(sctx, 0, func(_ context.Context, r streams.Record) error {
		sub = append(sub, r)
		if len(sub) == len(log) {
			cancel()
		}
		return nil
	})
	if len(sub) != len(log) {
		t.Fatalf("subscription: %d records, %v", len(sub), err)
	}
	for i := range log {
		same("subscription", sub[i], log[i])
	}

	// The projections' source: the same metadata by key as a record of
	// either format.
	ch := subscribeSource(t, nc, ctx, 0)
	deadline := time.After(30 * time.Second)
	for i, want := range log {
		m := receive(t, ch, deadline)
		m.Ack()
		got := maps.Clone(map[string]string(m.Metadata))
		delete(got, streams.MetaPending)
		if w := streams.RecordMetadata(want); m.UUID != want.ID.String() || !maps.Equal(got, w) {
			t.Fatalf("source, event %d: %s %v\nwant %s %v", i, m.UUID, got, want.ID, w)
		}
		rec, err := streams.RecordFromMetadata(m.UUID, m.Payload, m.Metadata.Get, 0)
		if err != nil {
			t.Fatal(err)
		}
		same("source", rec, want)
	}

	// The audit log.
	actx := user.With(ctx, user.Principal{ID: "auditor-1", Roles: []user.Role{user.Auditor}})
	evs, err := audit.NewReader(s).Events(actx, 0, 10)
	if err != nil || len(evs) != 5 {
		t.Fatalf("audit: %d events, %v", len(evs), err)
	}
	if e := evs[0]; e.ID != old[0].ID.String() || e.Stream != string(n) || e.Type != old[0].Type || e.Version != 1 || e.Position != 1 ||
		!e.RecordedAt.Equal(at) || string(e.Data) != `{"n":1}` ||
		e.Metadata != (audit.Metadata{UserID: "u-1", CorrelationID: "corr 1", CausationID: "cause-1"}) {
		t.Fatalf("audit: %+v", e)
	}
}

// The store writes an event's metadata in one header, beside the id and
// the expectations the server checks.
func TestAppendWritesOneMetadataHeader(t *testing.T) {
	s, nc, ctx := newStore(t, jetstream.StoreConfig{})
	n := newName(t)
	ev := streams.EventData{ID: uuid.New(), Type: "invoice.drafted.v1", Data: []byte(`{}`), Metadata: streams.Metadata{UserID: "u 1", CommandID: "c"}}
	if _, err := s.Append(ctx, n, streams.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	st := acmeStream(t, ctx, nc)
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var atrium []string
	for k := range m.Header {
		if len(k) > 7 && k[:7] == "Atrium-" {
			atrium = append(atrium, k)
		}
	}
	if len(atrium) != 1 || atrium[0] != streams.MetaEvent || m.Header.Get(nats.MsgIdHdr) != ev.ID.String() {
		t.Fatalf("headers %v", m.Header)
	}
	meta, err := streams.ParseEventMeta(m.Header.Get(streams.MetaEvent))
	if err != nil || meta.Get(streams.MetaUserID) != "u 1" || meta.Get(streams.MetaStream) != string(n) || meta.Get(streams.MetaTenant) != "acme" {
		t.Fatalf("%s %q: %v", streams.MetaEvent, m.Header.Get(streams.MetaEvent), err)
	}
}

// An event whose metadata header does not parse is an error to the
// store's readers, and reaches the projections' source as an event whose
// metadata does not decode (the runner sets such events aside).
func TestMalformedMetadataHeaderIsUnreadable(t *testing.T) {
	s, nc, ctx := newStore(t, jetstream.StoreConfig{})
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	n := newName(t)
	m := nats.NewMsg("ev.acme.invoice." + n.ID())
	m.Data = []byte(`{}`)
	m.Header.Set(nats.MsgIdHdr, uuid.NewString())
	m.Header.Set(streams.MetaEvent, string(n)+" 1 invoice.drafted.v1")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, n); !errors.Is(err, streams.ErrBadMetadata) {
		t.Fatalf("read stream: %v", err)
	}
	if _, err := s.ReadTenant(ctx, 0, 10); !errors.Is(err, streams.ErrBadMetadata) {
		t.Fatalf("read tenant: %v", err)
	}
	ch := subscribeSource(t, nc, ctx, 0)
	got := receive(t, ch, time.After(30*time.Second))
	got.Ack()
	if _, err := streams.RecordFromMetadata(got.UUID, got.Payload, got.Metadata.Get, 0); !errors.Is(err, streams.ErrBadMetadata) {
		t.Fatalf("source: %v %v", got.Metadata, err)
	}
}
