package invoicing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/atrium-platform/atrium/commands"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

// paymentReceived is the call an ERP makes when a client paid an invoice.
type paymentReceived struct {
	Type          string      `json:"type"`
	InvoiceNumber string      `json:"invoice_number"`
	Amount        money.Money `json:"amount"`
	PaidAt        string      `json:"paid_at"`
	Reference     string      `json:"reference"`
}

// inbound records the payments a tenant's ERP reports, as the finance team
// would: on the invoice of that number, idempotent by the ERP's reference
// (the reference is the command's idempotency key, so the same reference
// again answers the first result and writes nothing).
type inbound struct {
	pay      func(ctx context.Context, c invoicecmd.RecordPayment) (commands.Result, error)
	invoices *invoicelist.Queries
}

func (in inbound) paymentReceived(ctx context.Context, decode func(any) error) (commands.Result, error) {
	var p paymentReceived
	if err := decode(&p); err != nil {
		return commands.Result{}, err
	}
	p.Reference = strings.TrimSpace(p.Reference)
	if p.Reference == "" || len(p.Reference) > 200 {
		return commands.Result{}, domain.Invalidf("reference", "invalid_request", "reference is the ERP's own reference of the payment: 1 to 200 characters")
	}
	p.InvoiceNumber = strings.TrimSpace(p.InvoiceNumber)
	if p.InvoiceNumber == "" || len(p.InvoiceNumber) > 100 {
		return commands.Result{}, domain.Invalidf("invoice_number", "invalid_request", "invoice_number names an issued invoice")
	}
	id, err := in.invoices.IDByNumber(ctx, p.InvoiceNumber)
	if errors.Is(err, projections.ErrNotFound) {
		return commands.Result{}, domain.NotFoundf("invoice_not_found", "no invoice numbered %q", p.InvoiceNumber)
	}
	if err != nil {
		return commands.Result{}, err
	}
	// What the payment is, for telling a repeat (the same) from another
	// payment under a reference already used.
	sum := sha256.Sum256([]byte(strings.Join([]string{p.InvoiceNumber, p.Amount.String(), p.PaidAt, p.Reference}, "\x00")))
	return in.pay(ctx, invoicecmd.RecordPayment{
		Request:   commands.Request{CommandID: "erp-payment:" + p.Reference, RequestHash: hex.EncodeToString(sum[:])},
		InvoiceID: id, Amount: p.Amount, PaidAt: p.PaidAt, Reference: p.Reference,
	})
}
