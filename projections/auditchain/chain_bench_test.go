package auditchain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/streams"
)

// BenchmarkLink: the chain's work for one event of an invoice's size.
func BenchmarkLink(b *testing.B) {
	rec := streams.Record{ID: uuid.New(), Stream: "acme.invoice-0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5", Type: "invoice.drafted.v1", Version: 1,
		Position: 42, RecordedAt: time.Now(), Data: []byte(`{"invoice_id":"0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5","client":{"id":"C-1","name":"Northwind"},"currency":"EUR","due_date":"2026-12-31",` +
			`"lines":[{"description":"` + strings.Repeat("Consulting ", 20) + `","quantity":1,"unit_price":{"amount":100000,"currency":"EUR"}}],"created_by":"u","at":"2026-12-01T00:00:00Z"}`),
		Metadata: streams.Metadata{Tenant: "acme", UserID: "00000000-0000-4000-8000-000000000002", CorrelationID: uuid.NewString(), CommandID: uuid.NewString()}}
	var h auditchain.Hash
	b.ReportAllocs()
	for b.Loop() {
		h = auditchain.Link(h, auditchain.LinkedOf(rec))
	}
}
