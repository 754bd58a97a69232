package invoicing

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/aging"
	"github.com/atrium-platform/atrium/projections/clientrisk"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

// resource is /invoices and /collections.
type resource struct {
	commands *invoicecmd.Handler
	history  *audit.Reader
	decode   func(typ string, data []byte) (domain.Event, error)
	invoices *invoicelist.Queries
	aging    *aging.Queries
	clients  *clientrisk.Queries
}

func (r resource) mount(rt atriumhttp.Routes) {
	v1 := rt.Tenant()
	h := r.commands
	atriumhttp.Command(v1, fiber.MethodPost, "/invoices", fiber.StatusCreated, h.Create, nil).
		Doc(atriumhttp.Doc{Summary: "Draft an invoice (money in minor units of an accepted currency)"})
	atriumhttp.Action(v1, fiber.MethodPost, "/invoices/:id/issue", fiber.StatusOK, h.Issue,
		func(c *fiber.Ctx, cmd *invoicecmd.IssueInvoice) { cmd.InvoiceID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Issue a draft invoice (above the approval threshold it waits for approval)"})
	atriumhttp.Action(v1, fiber.MethodPost, "/invoices/:id/approve", fiber.StatusOK, h.Approve,
		func(c *fiber.Ctx, cmd *invoicecmd.ApproveInvoice) { cmd.InvoiceID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Approve an invoice waiting for approval"})
	atriumhttp.Command(v1, fiber.MethodPost, "/invoices/:id/reject", fiber.StatusOK, h.Reject,
		func(c *fiber.Ctx, cmd *invoicecmd.RejectInvoice) { cmd.InvoiceID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Reject an invoice waiting for approval, with a reason"})
	atriumhttp.Command(v1, fiber.MethodPost, "/invoices/:id/cancel", fiber.StatusOK, h.Cancel,
		func(c *fiber.Ctx, cmd *invoicecmd.CancelInvoice) { cmd.InvoiceID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Cancel an invoice, with a reason"})
	atriumhttp.Command(v1, fiber.MethodPost, "/invoices/:id/payments", fiber.StatusOK, h.Pay,
		func(c *fiber.Ctx, cmd *invoicecmd.RecordPayment) { cmd.InvoiceID = c.Params("id") }).
		Doc(atriumhttp.Doc{Summary: "Record a payment of an issued invoice"})
	v1.Get("/invoices", r.list).Doc(atriumhttp.Doc{Summary: "The invoices, newest first, without their lines", Answer: atriumhttp.List([]invoiceView(nil), ""), Query: []string{"status", "client_id", "limit", "cursor"}})
	v1.Get("/invoices/:id", r.get).Doc(atriumhttp.Doc{Summary: "An invoice; with as_of, as it stood then", Answer: invoiceView{}, Query: []string{"as_of"}})
	v1.Get("/invoices/:id/history", r.historyOf).Doc(atriumhttp.Doc{Summary: "An invoice's events", Answer: atriumhttp.List([]audit.Event(nil), "")})
	v1.Get("/collections/aging", r.agingReport).Doc(atriumhttp.Doc{Summary: "What clients owe, by how late", Answer: atriumhttp.List([]agingView(nil), "")})
	v1.Get("/collections/clients", r.clientRisk).Doc(atriumhttp.Doc{Summary: "Each client's payment record and risk", Answer: atriumhttp.List([]clientRiskView(nil), "")})
}

type clientView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type invoiceView struct {
	ID        string         `json:"id"`
	Number    string         `json:"number,omitempty"`
	Status    string         `json:"status"`
	Client    clientView     `json:"client"`
	Currency  money.Currency `json:"currency"`
	Total     money.Money    `json:"total"`
	Paid      money.Money    `json:"paid"`
	Due       money.Money    `json:"due"`
	DueDate   string         `json:"due_date"`
	Overdue   bool           `json:"overdue"`
	SalesRep  string         `json:"sales_rep,omitempty"`
	CreatedBy string         `json:"created_by"`
	Lines     []invoice.Line `json:"lines,omitempty"`
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	IssuedAt  *time.Time     `json:"issued_at,omitempty"`
	UpdatedAt time.Time      `json:"updated_at"`
}

func viewOf(inv invoicelist.Invoice) invoiceView {
	return invoiceView{
		ID: inv.ID, Number: inv.Number, Status: inv.Status, Client: clientView{inv.ClientID, inv.ClientName},
		Currency: inv.Currency, Total: inv.Total, Paid: inv.Paid, Due: inv.Due, DueDate: inv.DueDate, Overdue: inv.Overdue,
		SalesRep: inv.SalesRep, CreatedBy: inv.CreatedBy, Lines: inv.Lines, Version: inv.Version,
		CreatedAt: inv.CreatedAt, IssuedAt: inv.IssuedAt, UpdatedAt: inv.UpdatedAt,
	}
}

// list answers the invoices, newest first, without their lines.
func (r resource) list(c *fiber.Ctx) error {
	n, err := atriumhttp.Limit(c)
	if err != nil {
		return err
	}
	page, err := r.invoices.List(c.UserContext(), invoicelist.Filter{
		Status: c.Query("status"), ClientID: c.Query("client_id"), Limit: n, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	items := make([]invoiceView, len(page.Items))
	for i, inv := range page.Items {
		items[i] = viewOf(inv)
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(items, page.NextCursor))
}

func notFound(err error) error {
	if errors.Is(err, projections.ErrNotFound) {
		return atriumhttp.NewProblem(fiber.StatusNotFound, "invoice_not_found", "no such invoice")
	}
	return err
}

func (r resource) get(c *fiber.Ctx) error {
	at, asOf, err := atriumhttp.AsOf(c)
	if err != nil {
		return err
	}
	if asOf {
		return r.asOf(c, c.Params("id"), at)
	}
	inv, err := r.invoices.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return notFound(err)
	}
	atriumhttp.SetETag(c, uint64(inv.Version))
	return atriumhttp.WriteJSON(c, fiber.StatusOK, viewOf(inv))
}

// asOf folds the invoice's events recorded up to at.
func (r resource) asOf(c *fiber.Ctx, id string, at time.Time) error {
	ctx := c.UserContext()
	stream, err := invoicecmd.StreamOf(ctx, id)
	if err != nil {
		return err
	}
	recs, err := r.history.UpTo(ctx, stream, at, invoice.ReadRoles())
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return atriumhttp.NewProblem(fiber.StatusNotFound, "invoice_not_found", "no such invoice at that time")
	}
	evs := make([]domain.Event, 0, len(recs))
	for _, rec := range recs {
		e, err := r.decode(rec.Type, rec.Data)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	s := invoice.Fold(evs)
	last := recs[len(recs)-1]
	v := invoiceView{
		ID: s.ID(), Number: s.Number(), Status: string(s.Status()), Client: clientView{s.Client().ID, s.Client().Name},
		Currency: s.Currency(), Total: s.Total(), Paid: s.Paid(), Due: s.Due(), DueDate: s.DueDate(),
		Overdue:  invoicelist.Overdue(string(s.Status()), s.DueDate(), s.Due().Amount, at),
		SalesRep: s.SalesRep(), CreatedBy: s.CreatedBy(), Lines: s.Lines(), Version: int64(last.Version),
		CreatedAt: s.CreatedAt(), UpdatedAt: last.RecordedAt,
	}
	if !s.IssuedAt().IsZero() {
		t := s.IssuedAt()
		v.IssuedAt = &t
	}
	atriumhttp.SetETag(c, uint64(v.Version))
	return atriumhttp.WriteJSON(c, fiber.StatusOK, v)
}

// historyOf answers the invoice's events, oldest first.
func (r resource) historyOf(c *fiber.Ctx) error {
	ctx := c.UserContext()
	stream, err := invoicecmd.StreamOf(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	evs, err := r.history.History(ctx, stream, invoice.ReadRoles())
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return atriumhttp.NewProblem(fiber.StatusNotFound, "invoice_not_found", "no such invoice")
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(evs, ""))
}

type agingView struct {
	Client   clientView     `json:"client"`
	Currency money.Currency `json:"currency"`
	Current  money.Money    `json:"current"`
	D1To30   money.Money    `json:"1_30"`
	D31To60  money.Money    `json:"31_60"`
	D61To90  money.Money    `json:"61_90"`
	Over90   money.Money    `json:"over_90"`
	Total    money.Money    `json:"total"`
}

func (r resource) agingReport(c *fiber.Ctx) error {
	rows, err := r.aging.Report(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]agingView, len(rows))
	for i, a := range rows {
		items[i] = agingView{Client: clientView{a.ClientID, a.ClientName}, Currency: a.Currency, Current: a.Current,
			D1To30: a.Days1To30, D31To60: a.Days31To60, D61To90: a.Days61To90, Over90: a.Over90, Total: a.Total}
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(items, ""))
}

type clientRiskView struct {
	Client          clientView     `json:"client"`
	Currency        money.Currency `json:"currency"`
	Invoiced90Days  money.Money    `json:"invoiced_90_days"`
	Outstanding     money.Money    `json:"outstanding"`
	Overdue         money.Money    `json:"overdue"`
	DSO             *int           `json:"days_sales_outstanding"`
	PaidInvoices    int            `json:"paid_invoices"`
	PaidLate        int            `json:"paid_late"`
	AverageDaysLate int            `json:"average_days_late"`
}

func (r resource) clientRisk(c *fiber.Ctx) error {
	rows, err := r.clients.Report(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]clientRiskView, len(rows))
	for i, row := range rows {
		v := clientRiskView{Client: clientView{row.ClientID, row.ClientName}, Currency: row.Currency, Invoiced90Days: row.Invoiced,
			Outstanding: row.Outstanding, Overdue: row.Overdue, PaidInvoices: row.PaidInvoices, PaidLate: row.PaidLate, AverageDaysLate: row.AverageDaysLate}
		if row.DSO >= 0 {
			d := row.DSO
			v.DSO = &d
		}
		out[i] = v
	}
	return atriumhttp.WriteJSON(c, fiber.StatusOK, atriumhttp.List(out, ""))
}
