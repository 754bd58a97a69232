package http

import (
	"encoding/json"
	"testing"
)

// invoiceBody is a command body as an SPA sends it.
var invoiceBody = []byte(`{"client":{"id":"C-1001","name":"Northwind Traders"},"currency":"EUR","due_date":"2027-06-30",
  "lines":[{"description":"Consulting days","quantity":12,"unit_price":{"amount":95000,"currency":"EUR"}},
           {"description":"Travel","quantity":1,"unit_price":{"amount":12000,"currency":"EUR"}}]}`)

// BenchmarkDuplicateKey is the duplicate-key check of every JSON body;
// BenchmarkDecodeBody the whole strict decoding it is part of.
func BenchmarkDuplicateKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if k, err := duplicateKey(invoiceBody); k != "" || err != nil {
			b.Fatal(k, err)
		}
	}
}

func BenchmarkDecodeBody(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var v struct {
			Client struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"client"`
			Currency string `json:"currency"`
			DueDate  string `json:"due_date"`
			Lines    []struct {
				Description string `json:"description"`
				Quantity    int64  `json:"quantity"`
				UnitPrice   struct {
					Amount   int64  `json:"amount"`
					Currency string `json:"currency"`
				} `json:"unit_price"`
			} `json:"lines"`
		}
		if err := DecodeBytes(invoiceBody, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDuplicateKeyScan: on every well-formed body, the in-place scan finds
// the same duplicate key as encoding/json's tokenizer (or none).
func FuzzDuplicateKeyScan(f *testing.F) {
	for _, seed := range []string{
		string(invoiceBody),
		`{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"k":1,"\u212a":2}`, `{"s":1,"ſ":2}`,
		`{"a\"b":1,"a\u0022b":2}`, `{"x":{"a":1},"y":{"a":1}}`, `[{"a":1},{"a":1}]`,
		`{"a":[{"b":1,"b":2}]}`, `{"a":"{\"a\":1}","b":"\\"}`, `"a"`, `[]`, `{}`, `{"":1,"":2}`,
		` { "lines" : [ { "q" : 1e3 , "Q" : true } ] } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		want, err := tokenKeys(body)
		if err != nil {
			t.Fatalf("a valid body refused by the tokenizer: %v", err)
		}
		if got := scanKeys(body); got != want {
			t.Fatalf("%q: scan found %q, the tokenizer %q", body, got, want)
		}
	})
}
