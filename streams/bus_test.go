package streams_test

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/streams"
)

// The metadata of an event in one MetaEvent value reads back as the
// metadata of one header per key, whatever its texts hold.
func TestEventMetaRoundTrip(t *testing.T) {
	stream, err := streams.NewName("acme", "invoice", uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))
	for _, md := range []streams.Metadata{
		{Tenant: "acme"},
		{Tenant: "acme", UserID: "u-1", CorrelationID: "c-1", CausationID: "k-1", CommandID: "m-1", RequestHash: "h-1"},
		{Tenant: "acme", UserID: " leading and trailing ", CorrelationID: "100% a=b c=d", CausationID: "é ✓ \t\x7f",
			CommandID: "%20", RequestHash: "="},
		{Tenant: "acme", CorrelationID: "only-the-correlation"},
	} {
		for _, typ := range []string{"invoice.drafted.v1", "odd type %"} {
			v := string(streams.AppendEventMeta(nil, stream, typ, 42, at, md))
			for i := range len(v) {
				if v[i] < 0x21 && v[i] != ' ' || v[i] >= 0x7f {
					t.Fatalf("%q: byte %#x at %d, not printable ASCII", v, v[i], i)
				}
			}
			if strings.HasPrefix(v, " ") || strings.HasSuffix(v, " ") || strings.Contains(v, "  ") {
				t.Fatalf("%q: an empty field or spaces at an end", v)
			}
			m, err := streams.ParseEventMeta(v)
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			want := streams.EventMetadata(stream, typ, 42, at, md)
			got := map[string]string{}
			m.Each(func(k, v string) { got[k] = v })
			if !maps.Equal(got, want) {
				t.Fatalf("%q read back as\n%v\nwant\n%v", v, got, want)
			}
			for k, w := range want {
				if g := m.Get(k); g != w {
					t.Fatalf("%q: Get(%s) %q, want %q", v, k, g, w)
				}
			}
			rec, err := streams.RecordFromMetadata(uuid.NewString(), nil, m.Get, 7)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Stream != stream || rec.Type != typ || rec.Version != 42 || !rec.RecordedAt.Equal(at) || rec.Metadata != md || rec.Position != 7 {
				t.Fatalf("%q: record %+v", v, rec)
			}
		}
	}
}

func TestEventMetaRefusesMalformedValues(t *testing.T) {
	for _, v := range []string{
		"",
		"acme.invoice-1 1 x.y.v1",
		"acme.invoice-1 1 x.y.v1 2026-11-01T08:30:15Z u",
		"acme.invoice-1 1 x.y.v1 2026-11-01T08:30:15Z u=%2",
		"acme.invoice-1 1 x.y.v1 2026-11-01T08:30:15Z u=%zz",
		"acme.invoice-1 1 x%.y.v1 2026-11-01T08:30:15Z",
	} {
		if _, err := streams.ParseEventMeta(v); !errors.Is(err, streams.ErrBadMetadata) {
			t.Errorf("%q: %v, want ErrBadMetadata", v, err)
		}
	}
	// Well formed, but no record: RecordFromMetadata says why.
	m, err := streams.ParseEventMeta("acme.invoice-1 x x.y.v1 yesterday")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := streams.RecordFromMetadata(uuid.NewString(), nil, m.Get, 1); !errors.Is(err, streams.ErrBadMetadata) {
		t.Fatalf("version x, recorded yesterday: %v", err)
	}
}
