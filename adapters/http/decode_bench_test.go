package http

import (
	"encoding/json"
	"fmt"
	"strings"
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
		string(wideObject(12, 5)), string(wideObject(12, -1)), `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"\u0061":10}`,
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

// wideObject is one object of n distinct keys, then, with dup, the key
// "k<dup>" again in upper case.
func wideObject(n int, dup int) []byte {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":0,`, i)
	}
	if dup >= 0 {
		fmt.Fprintf(&b, `"K%d":1,`, dup)
	}
	b.WriteString(`"end":0}`)
	return []byte(b.String())
}

// TestDuplicateKeyInAWideObject: past the few keys compared one by one,
// a repeat is still found, whatever its case, and none is found where
// there is none.
func TestDuplicateKeyInAWideObject(t *testing.T) {
	for _, n := range []int{3, fewKeys, fewKeys + 1, 20_000} {
		if k, err := duplicateKey(wideObject(n, n/2)); err != nil || k != fmt.Sprintf("K%d", n/2) {
			t.Fatalf("%d keys, a repeat of k%d: found %q, %v", n, n/2, k, err)
		}
		if k, err := duplicateKey(wideObject(n, -1)); err != nil || k != "" {
			t.Fatalf("%d distinct keys: found %q, %v", n, k, err)
		}
	}
}

// BenchmarkDuplicateKeyWideObject is the check of a 1 MiB body of one
// object of 95,000 keys, the most a JSON route takes: it must cost time
// in proportion to the keys, not to their square.
func BenchmarkDuplicateKeyWideObject(b *testing.B) {
	body := wideObject(95_000, -1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if k, err := duplicateKey(body); k != "" || err != nil {
			b.Fatal(k, err)
		}
	}
}
