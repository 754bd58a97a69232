package jetstream_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

func TestSourceDeliversTenantEventsAfterPosition(t *testing.T) {
	_, nc := jetstreamtest.Start(t)
	store, err := jetstream.NewStore(nc, jetstream.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acme, globex := tenant.With(ctx, "acme"), tenant.With(ctx, "globex")
	for _, c := range []context.Context{acme, globex} {
		if err := store.Provision(c); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uuid.UUID
	for i := range 5 {
		n, _ := streams.NewName("acme", "invoice", uuid.NewString())
		id := uuid.New()
		ids = append(ids, id)
		if _, err := store.Append(acme, n, streams.NoStream, streams.EventData{ID: id, Type: "invoice.drafted.v1", Data: []byte(`{}`), Metadata: streams.Metadata{UserID: "u1", CorrelationID: "c" + string(rune('0'+i))}}); err != nil {
			t.Fatal(err)
		}
		gn, _ := streams.NewName("globex", "invoice", uuid.NewString())
		if _, err := store.Append(globex, gn, streams.NoStream, streams.EventData{ID: uuid.New(), Type: "invoice.drafted.v1", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := jetstream.NewSource(nc, jetstream.QuietLogger(slog.Default()))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := src.Subscribe(acme, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 5; i++ {
		select {
		case m := <-ch:
			rec, err := streams.RecordFromMetadata(m.UUID, m.Payload, m.Metadata.Get, 0)
			if err != nil {
				t.Fatal(err)
			}
			m.Ack()
			if rec.ID != ids[i] || rec.Position != streams.Position(i+1) || rec.Metadata.Tenant != "acme" || rec.Metadata.UserID != "u1" {
				t.Fatalf("message %d: %+v", i, rec)
			}
			if want := []string{"2", "1", "0"}[i-2]; m.Metadata.Get(streams.MetaPending) != want {
				t.Fatalf("message %d: pending %q, want %s", i, m.Metadata.Get(streams.MetaPending), want)
			}
		case <-ctx.Done():
			t.Fatalf("message %d not delivered", i)
		}
	}
	if _, err := src.Subscribe(ctx, 0); err == nil {
		t.Fatal("subscribe without a tenant succeeded")
	}
}
