package streams_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/streams"
)

func sampleEvents() []domain.Event {
	price := money.New(100_050, "EUR")
	at := time.Date(2026, 11, 1, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))
	return []domain.Event{
		invoice.Drafted{InvoiceID: "inv-1", Client: invoice.Client{ID: "C-1", Name: "Nörthwind \"Ltd\" \u2028 <&>"}, Currency: "EUR",
			DueDate: "2026-12-31", Lines: []invoice.Line{{Description: "Consulting\n", Quantity: 3, UnitPrice: price, Total: price},
				{Description: "", Quantity: 0, UnitPrice: money.New(0, "EUR"), Total: money.New(-5, "EUR")}},
			Total: price, CreatedBy: "u-1", CreatedAt: at},
		invoice.Drafted{},
		invoice.PaymentRecorded{InvoiceID: "inv-1", PaymentID: "p", Amount: money.New(1, "JPY"), PaidAt: at.UTC(), Paid: money.New(1, "JPY"), Due: money.New(0, "JPY")},
		invoice.Issued{InvoiceID: "inv-1", Number: "INV-2026-000001", Total: money.New(12345, "BHD"), IssuedAt: at},
	}
}

// The registry decodes events with a faster decoder than encoding/json:
// what it decodes is what encoding/json decodes, and what encoding/json
// refuses it refuses with encoding/json's reason.
func TestRegistryDecodesAsEncodingJSON(t *testing.T) {
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{})
	streams.Register(reg, invoice.PaymentRecorded{})
	streams.Register(reg, invoice.Issued{})
	for _, ev := range sampleEvents() {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reg.Decode(ev.EventName(), data)
		if err != nil {
			t.Fatalf("%s: %v", ev.EventName(), err)
		}
		want := reflect.New(reflect.TypeOf(ev))
		if err := json.Unmarshal(data, want.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want.Elem().Interface()) {
			t.Fatalf("%s decoded as\n%#v\nwant\n%#v", ev.EventName(), got, want.Elem().Interface())
		}
	}
	typ := invoice.Drafted{}.EventName()
	for _, bad := range []string{`{"total":"12 EUR"}`, `{"lines":{}}`, `not json`, `{"invoice_id":1}`} {
		_, err := reg.Decode(typ, []byte(bad))
		var want invoice.Drafted
		wantErr := json.Unmarshal([]byte(bad), &want)
		if err == nil || wantErr == nil || !strings.HasSuffix(err.Error(), wantErr.Error()) {
			t.Fatalf("decode %s: %v, want encoding/json's %v", bad, err, wantErr)
		}
	}
}

// BenchmarkDecodeInvoiceEvent compares the registry's decoding of an
// invoice event with encoding/json's, in the same run:
//
//	go test -run '^$' -bench DecodeInvoiceEvent -benchmem ./streams/
func BenchmarkDecodeInvoiceEvent(b *testing.B) {
	reg := streams.NewRegistry()
	streams.Register(reg, invoice.Drafted{})
	ev := sampleEvents()[0]
	data, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var d invoice.Drafted
			if err := json.Unmarshal(data, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("registry", func(b *testing.B) {
		for b.Loop() {
			if _, err := reg.Decode(ev.EventName(), data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
