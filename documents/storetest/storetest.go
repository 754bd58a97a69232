// Package storetest is the conformance suite of documents.Store adapters.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) documents.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s documents.Store)
	}{
		{"PutGetStatDelete", testRoundTrip},
		{"LargeObject", testLarge},
		{"ListByPrefix", testList},
		{"Missing", testMissing},
		{"TenantIsolation", testIsolation},
		{"NoTenant", testNoTenant},
		{"InvalidKeys", testInvalidKeys},
		{"Dropped", testDropped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func ctxOf(t *testing.T, tn tenant.ID) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(tenant.With(context.Background(), tn), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s documents.Store, ctx context.Context, key, ct string, b []byte) documents.Object {
	t.Helper()
	o, err := s.Put(ctx, key, ct, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return o
}

func get(t *testing.T, s documents.Store, ctx context.Context, key string) ([]byte, documents.Object) {
	t.Helper()
	rc, o, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, o
}

func testRoundTrip(t *testing.T, s documents.Store) {
	ctx := ctxOf(t, "acme")
	body := []byte("%PDF-1.7 receipt of lunch")
	o := put(t, s, ctx, "receipts/exp-1", "application/pdf", body)
	if o.Size != int64(len(body)) || o.ContentType != "application/pdf" || o.Key != "receipts/exp-1" {
		t.Fatalf("put answered %+v", o)
	}
	got, go2 := get(t, s, ctx, "receipts/exp-1")
	if !bytes.Equal(got, body) || go2.ContentType != "application/pdf" || go2.Size != int64(len(body)) {
		t.Fatalf("get %q %+v", got, go2)
	}
	st, err := s.Stat(ctx, "receipts/exp-1")
	if err != nil || st.Size != int64(len(body)) || st.ContentType != "application/pdf" || st.Modified.IsZero() {
		t.Fatalf("stat %+v %v", st, err)
	}
	// Replacing keeps only the new bytes and type.
	put(t, s, ctx, "receipts/exp-1", "image/png", []byte("\x89PNG new"))
	if got, o := get(t, s, ctx, "receipts/exp-1"); string(got) != "\x89PNG new" || o.ContentType != "image/png" {
		t.Fatalf("after replace %q %+v", got, o)
	}
	if err := s.Delete(ctx, "receipts/exp-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "receipts/exp-1"); !errors.Is(err, documents.ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
}

func testLarge(t *testing.T, s documents.Store) {
	ctx := ctxOf(t, "acme")
	body := make([]byte, 20<<20)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	put(t, s, ctx, "receipts/big", "application/pdf", body)
	got, o := get(t, s, ctx, "receipts/big")
	if !bytes.Equal(got, body) || o.Size != 20<<20 {
		t.Fatalf("20 MiB object came back as %d bytes", len(got))
	}
}

func testList(t *testing.T, s documents.Store) {
	ctx := ctxOf(t, "acme")
	for _, k := range []string{"receipts/b", "receipts/a", "logos/x", "receiptsx"} {
		put(t, s, ctx, k, "image/png", []byte(k))
	}
	objs, err := s.List(ctx, "receipts/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != "receipts/a" || objs[1].Key != "receipts/b" {
		t.Fatalf("list receipts/: %+v", objs)
	}
	all, err := s.List(ctx, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("list all: %d %v", len(all), err)
	}
}

func testMissing(t *testing.T, s documents.Store) {
	ctx := ctxOf(t, "acme")
	if _, _, err := s.Get(ctx, "receipts/none"); !errors.Is(err, documents.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if err := s.Delete(ctx, "receipts/none"); !errors.Is(err, documents.ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	if objs, err := s.List(ctx, "nothing/"); err != nil || len(objs) != 0 {
		t.Fatalf("list of nothing: %v %v", objs, err)
	}
}

func testIsolation(t *testing.T, s documents.Store) {
	acme, globex := ctxOf(t, "acme"), ctxOf(t, "globex")
	put(t, s, acme, "receipts/secret", "application/pdf", []byte("acme's"))
	if _, _, err := s.Get(globex, "receipts/secret"); !errors.Is(err, documents.ErrNotFound) {
		t.Fatalf("globex reading acme's key: %v", err)
	}
	for _, key := range []string{"../acme/receipts/secret", "acme/receipts/secret", "%2e%2e/acme"} {
		if _, _, err := s.Get(globex, key); err == nil {
			t.Fatalf("globex reached %q", key)
		}
	}
	if objs, err := s.List(globex, ""); err != nil || len(objs) != 0 {
		t.Fatalf("globex lists %v (%v)", objs, err)
	}
	put(t, s, globex, "receipts/secret", "image/png", []byte("globex's"))
	if got, _ := get(t, s, acme, "receipts/secret"); string(got) != "acme's" {
		t.Fatalf("globex's put changed acme's object: %q", got)
	}
}

func testNoTenant(t *testing.T, s documents.Store) {
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["Put"] = s.Put(ctx, "k", "image/png", bytes.NewReader(nil), 0)
	_, _, checks["Get"] = s.Get(ctx, "k")
	_, checks["Stat"] = s.Stat(ctx, "k")
	checks["Delete"] = s.Delete(ctx, "k")
	_, checks["List"] = s.List(ctx, "")
	for op, err := range checks {
		if !errors.Is(err, tenant.ErrNoTenant) {
			t.Errorf("%s without a tenant: %v", op, err)
		}
	}
}

func testInvalidKeys(t *testing.T, s documents.Store) {
	ctx := ctxOf(t, "acme")
	for _, key := range []string{"", "/abs", "a//b", "../up", "UPPER", "a b", "ends/", "x/" + string(make([]byte, 70))} {
		if _, err := s.Put(ctx, key, "image/png", bytes.NewReader([]byte("x")), 1); !errors.Is(err, documents.ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", key, err)
		}
	}
}

// testDropped: a store that drops a tenant's documents at once stores
// nothing more for it, whatever was still under way; the other tenants
// keep theirs. Stores that delete one by one have nothing to check here.
func testDropped(t *testing.T, s documents.Store) {
	d, ok := s.(documents.Dropper)
	if !ok {
		t.Skip("this store deletes a tenant's documents one by one")
	}
	acme, globex := ctxOf(t, "acme"), ctxOf(t, "globex")
	put(t, s, acme, "receipts/a", "text/plain", []byte("a"))
	put(t, s, globex, "receipts/g", "text/plain", []byte("g"))
	if err := d.Drop(acme); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(acme, "receipts/late", "text/plain", bytes.NewReader([]byte("late")), 4); !errors.Is(err, documents.ErrDropped) {
		t.Fatalf("a put after the drop: %v, want documents.ErrDropped", err)
	}
	if objs, err := s.List(acme, ""); (err != nil && !errors.Is(err, documents.ErrNotFound)) || len(objs) != 0 {
		t.Fatalf("the dropped tenant's documents: %v, %v", objs, err)
	}
	if b, _ := get(t, s, globex, "receipts/g"); string(b) != "g" {
		t.Fatalf("globex's document after acme was dropped: %q", b)
	}
}
