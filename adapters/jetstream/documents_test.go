package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/documents/storetest"
	"github.com/atrium-platform/atrium/domain/tenant"
)

func TestDocumentsConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) documents.Store {
		_, nc := jetstreamtest.Start(t)
		d, err := jetstream.NewDocuments(nc, jetstream.DocumentsConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// Another instance's store, told of the deletion (Forget), creates the
// dropped tenant's bucket no more; the instance that dropped it deleted
// it.
func TestDocumentsForgottenOnAnotherInstance(t *testing.T) {
	_, nc := jetstreamtest.Start(t)
	a, err := jetstream.NewDocuments(nc, jetstream.DocumentsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := jetstream.NewDocuments(nc, jetstream.DocumentsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tenant.With(context.Background(), "acme")
	if _, err := a.Put(ctx, "receipts/a", "text/plain", bytes.NewReader([]byte("a")), 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "receipts/late", "text/plain", bytes.NewReader([]byte("l")), 1); !errors.Is(err, documents.ErrDropped) {
		t.Fatalf("a put on the other instance after the deletion: %v, want documents.ErrDropped", err)
	}
	if objs, err := a.List(ctx, ""); len(objs) != 0 || !errors.Is(err, documents.ErrNotFound) && err != nil {
		t.Fatalf("the dropped tenant's documents: %v, %v", objs, err)
	}
}
