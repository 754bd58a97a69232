package streams_test

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/atrium-platform/atrium/streams"
)

func TestNames(t *testing.T) {
	tests := []struct {
		in        string
		withError bool
		tenant    string
		aggregate string
		id        string
	}{
		{"acme.invoice-0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", false, "acme", "invoice", "0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5"},
		{"acme.invoicenumber-2026", false, "acme", "invoicenumber", "2026"},
		{"acme.invoice", true, "", "", ""},
		{"Acme.invoice-1", true, "", "", ""},
		{"acme.in.voice-1", true, "", "", ""},
		{"acme.invoice-a.b", true, "", "", ""},
		{"acme.invoice-a*", true, "", "", ""},
		{"acme.invoice->", true, "", "", ""},
	}
	for _, tc := range tests {
		n, err := streams.ParseName(tc.in)
		if tc.withError {
			if !errors.Is(err, streams.ErrInvalidName) {
				t.Errorf("%q: %v, want ErrInvalidName", tc.in, err)
			}
			continue
		}
		if err != nil || string(n.Tenant()) != tc.tenant || n.Aggregate() != tc.aggregate || n.ID() != tc.id {
			t.Errorf("%q: %v %q %q %q", tc.in, err, n.Tenant(), n.Aggregate(), n.ID())
		}
	}
}

type placedV1 struct {
	Amount int `json:"amount"`
}

func (placedV1) EventName() string { return "order.placed.v1" }

type placedV2 struct {
	AmountCents int    `json:"amount_cents"`
	Currency    string `json:"currency"`
}

func (placedV2) EventName() string { return "order.placed.v2" }

func TestRegistryUpcasts(t *testing.T) {
	r := streams.NewRegistry()
	streams.Register(r, placedV2{})
	r.RegisterUpcaster("order.placed.v1", func(data []byte) (string, []byte, error) {
		return "order.placed.v2", []byte(`{"amount_cents":` + string(data[len(`{"amount":`):len(data)-1]) + `00,"currency":"EUR"}`), nil
	})
	ev, err := r.Decode("order.placed.v1", []byte(`{"amount":12}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(placedV2); got.AmountCents != 1200 || got.Currency != "EUR" {
		t.Fatalf("%+v", got)
	}
	if _, err := r.Decode("order.shipped.v1", nil); !errors.Is(err, streams.ErrUnknownType) {
		t.Fatal(err)
	}
	if _, _, err := r.Encode(placedV1{}); !errors.Is(err, streams.ErrUnknownType) {
		t.Fatal("encoded an unregistered event")
	}
	typ, data, err := r.Encode(placedV2{AmountCents: 5, Currency: "EUR"})
	if err != nil || typ != "order.placed.v2" || string(data) != `{"amount_cents":5,"currency":"EUR"}` {
		t.Fatal(typ, string(data), err)
	}
}

// NewName checks an aggregate and an id by hand: as the patterns
// ^[a-z][a-z0-9]{0,31}$ and ^[A-Za-z0-9_-]{1,100}$ would.
func TestNamePartsAsPatterns(t *testing.T) {
	aggregate := regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)
	id := regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
	alphabet := []string{"a", "z", "A", "Z", "0", "9", "_", "-", ".", " ", "\n", "é", "`", "{", "/", ":", "@", "[", "\x00"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		n, k := r.IntN(104), len(alphabet)
		if r.IntN(2) == 0 {
			k = 6 // letters and digits only: mostly valid
		}
		for range n {
			b.WriteString(alphabet[r.IntN(k)])
		}
		s := b.String()
		_, aerr := streams.NewName("acme", s, "1")
		if aggregate.MatchString(s) != (aerr == nil) {
			t.Fatalf("aggregate %q: %v", s, aerr)
		}
		_, ierr := streams.NewName("acme", "invoice", s)
		if id.MatchString(s) != (ierr == nil) {
			t.Fatalf("id %q: %v", s, ierr)
		}
	}
}
