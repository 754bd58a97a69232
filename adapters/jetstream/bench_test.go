package jetstream_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

func BenchmarkReadMissingStream(b *testing.B) {
	s := jetstreamtest.NewStore(b)
	ctx := tenant.With(context.Background(), "acme")
	if err := s.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		n, _ := streams.NewName("acme", "invoice", uuid.NewString())
		if _, err := s.Append(ctx, n, streams.NoStream, streams.EventData{ID: uuid.New(), Type: "x.y.v1", Data: []byte(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		n, _ := streams.NewName("acme", "invoice", uuid.NewString())
		if _, err := s.ReadStream(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendNew(b *testing.B) {
	s := jetstreamtest.NewStore(b)
	ctx := tenant.With(context.Background(), "acme")
	if err := s.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		n, _ := streams.NewName("acme", "invoice", uuid.NewString())
		if _, err := s.Append(ctx, n, streams.NoStream, streams.EventData{ID: uuid.New(), Type: "x.y.v1", Data: []byte(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBatchOf2(b *testing.B) {
	s := jetstreamtest.NewStore(b)
	ctx := tenant.With(context.Background(), "acme")
	if err := s.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		n, _ := streams.NewName("acme", "invoice", uuid.NewString())
		if _, err := s.Append(ctx, n, streams.NoStream, streams.EventData{ID: uuid.New(), Type: "x.y.v1", Data: []byte(`{}`)}, streams.EventData{ID: uuid.New(), Type: "x.y.v1", Data: []byte(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommand is what a command costs the store: read its stream of 5
// events, append one at the version read.
func BenchmarkCommand(b *testing.B) {
	s := jetstreamtest.NewStore(b)
	ctx := tenant.With(context.Background(), "acme")
	if err := s.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	var names []streams.Name
	for range 200 {
		n, _ := streams.NewName("acme", "invoice", uuid.NewString())
		evs := make([]streams.EventData, 5)
		for i := range evs {
			evs[i] = streams.EventData{ID: uuid.New(), Type: "x.y.v1", Data: []byte(`{}`)}
		}
		if _, err := s.Append(ctx, n, streams.NoStream, evs...); err != nil {
			b.Fatal(err)
		}
		names = append(names, n)
	}
	i := 0
	for b.Loop() {
		n := names[i%len(names)]
		i++
		recs, err := s.ReadStream(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Append(ctx, n, streams.Exactly(recs[len(recs)-1].Version), streams.EventData{ID: uuid.New(), Type: "x.y.v1", Data: []byte(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
}
