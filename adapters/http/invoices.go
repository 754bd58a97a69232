package http

import (
	"bufio"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/commands"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/projections/audit"
	"github.com/atrium-platform/atrium/projections/invoicelist"
)

type lineBody struct {
	Description string      `json:"description"`
	Quantity    int64       `json:"quantity"`
	UnitPrice   money.Money `json:"unit_price"`
}

type createInvoiceBody struct {
	Client struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"client"`
	Currency string     `json:"currency"`
	DueDate  string     `json:"due_date"`
	SalesRep string     `json:"sales_rep"`
	Lines    []lineBody `json:"lines"`
}

// command is a command route: the options from the headers, the body
// decoded strictly into B (empty allowed when allowEmpty), run, and the
// answer {"id","version","position"} with its ETag.
func command[B any](a *api, name string, status int, allowEmpty bool,
	run func(c *fiber.Ctx, req commands.Request, b B) (commands.Result, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req, err := request(c)
		if err != nil {
			return err
		}
		var b B
		if err := decode(c, &b, allowEmpty); err != nil {
			return err
		}
		res, err := run(c, req, b)
		return a.answer(c, name, status, res, err)
	}
}

func (a *api) createInvoice(c *fiber.Ctx, req commands.Request, b createInvoiceBody) (commands.Result, error) {
	lines := make([]invoicecmd.LineInput, len(b.Lines))
	for i, l := range b.Lines {
		lines[i] = invoicecmd.LineInput(l)
	}
	res, err := a.deps.Invoices.Create(c.UserContext(), invoicecmd.CreateInvoice{
		Request: req, ClientID: b.Client.ID, ClientName: b.Client.Name, Currency: b.Currency,
		DueDate: b.DueDate, SalesRep: b.SalesRep, Lines: lines,
	})
	if err == nil {
		c.Set(fiber.HeaderLocation, "/api/v1/invoices/"+res.ID)
	}
	return res, err
}

type emptyBody struct{}

type reasonBody struct {
	Reason string `json:"reason"`
}

type paymentBody struct {
	Amount    money.Money `json:"amount"`
	PaidAt    string      `json:"paid_at"`
	Reference string      `json:"reference"`
}

// parseTime accepts RFC 3339 or a date (midnight UTC).
func parseTime(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
		Code: "invalid_request", Field: field, Detail: field + " must be an RFC 3339 time or a date YYYY-MM-DD"}
}

func (a *api) invoiceRoutes(v1 fiber.Router) {
	h := a.deps.Invoices
	v1.Post("/invoices", command(a, "create_invoice", fiber.StatusCreated, false, a.createInvoice))
	v1.Post("/invoices/:id/issue", command(a, "issue_invoice", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Issue(c.UserContext(), invoicecmd.IssueInvoice{Request: req, InvoiceID: c.Params("id")})
		}))
	v1.Post("/invoices/:id/approve", command(a, "approve_invoice", fiber.StatusOK, true,
		func(c *fiber.Ctx, req commands.Request, _ emptyBody) (commands.Result, error) {
			return h.Approve(c.UserContext(), invoicecmd.ApproveInvoice{Request: req, InvoiceID: c.Params("id")})
		}))
	v1.Post("/invoices/:id/reject", command(a, "reject_invoice", fiber.StatusOK, false,
		func(c *fiber.Ctx, req commands.Request, b reasonBody) (commands.Result, error) {
			return h.Reject(c.UserContext(), invoicecmd.RejectInvoice{Request: req, InvoiceID: c.Params("id"), Reason: b.Reason})
		}))
	v1.Post("/invoices/:id/cancel", command(a, "cancel_invoice", fiber.StatusOK, false,
		func(c *fiber.Ctx, req commands.Request, b reasonBody) (commands.Result, error) {
			return h.Cancel(c.UserContext(), invoicecmd.CancelInvoice{Request: req, InvoiceID: c.Params("id"), Reason: b.Reason})
		}))
	v1.Post("/invoices/:id/payments", command(a, "record_payment", fiber.StatusOK, false,
		func(c *fiber.Ctx, req commands.Request, b paymentBody) (commands.Result, error) {
			paidAt, err := parseTime("paid_at", b.PaidAt)
			if err != nil {
				return commands.Result{}, err
			}
			return h.RecordPayment(c.UserContext(), invoicecmd.RecordPayment{
				Request: req, InvoiceID: c.Params("id"), Amount: b.Amount, PaidAt: paidAt, Reference: b.Reference,
			})
		}))
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

type listView[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// list answers items (never null) and the cursor of the next page, null on
// the last one.
func list[T any](items []T, next string) listView[T] {
	if items == nil {
		items = []T{}
	}
	v := listView[T]{Items: items}
	if next != "" {
		v.NextCursor = &next
	}
	return v
}

func (a *api) listInvoices(c *fiber.Ctx) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	page, err := a.deps.InvoiceQueries.List(c.UserContext(), invoicelist.Filter{
		Status: c.Query("status"), ClientID: c.Query("client_id"), Limit: n, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	items := make([]invoiceView, len(page.Items))
	for i, inv := range page.Items {
		items[i] = viewOf(inv)
	}
	return writeJSON(c, fiber.StatusOK, list(items, page.NextCursor))
}

func notFoundInvoice(err error) error {
	if errors.Is(err, projections.ErrNotFound) {
		return problem(fiber.StatusNotFound, "invoice_not_found", "no such invoice")
	}
	return err
}

func (a *api) getInvoice(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Params("id")
	if asOf := c.Query("as_of"); asOf != "" {
		return a.invoiceAsOf(c, id, asOf)
	}
	inv, err := a.deps.InvoiceQueries.Get(ctx, id)
	if err != nil {
		return notFoundInvoice(err)
	}
	c.Set(fiber.HeaderETag, etag(uint64(inv.Version)))
	return writeJSON(c, fiber.StatusOK, viewOf(inv))
}

// invoiceAsOf folds the invoice's events recorded up to as_of.
func (a *api) invoiceAsOf(c *fiber.Ctx, id, raw string) error {
	at, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
			Code: "invalid_request", Field: "as_of", Detail: "as_of must be an RFC 3339 time"}
	}
	ctx := c.UserContext()
	stream, err := invoicecmd.StreamOf(ctx, id)
	if err != nil {
		return err
	}
	recs, err := a.deps.Audit.UpTo(ctx, stream, at, invoice.ReadRoles())
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return problem(fiber.StatusNotFound, "invoice_not_found", "no such invoice at that time")
	}
	evs := make([]domain.Event, 0, len(recs))
	for _, r := range recs {
		e, err := a.deps.Invoices.Decode(r)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	s := invoice.Fold(evs)
	v := invoiceView{
		ID: s.ID(), Number: s.Number(), Status: string(s.Status()), Client: clientView{s.Client().ID, s.Client().Name},
		Currency: s.Currency(), Total: s.Total(), Paid: s.Paid(), Due: s.Due(), DueDate: s.DueDate(),
		Overdue:  invoicelist.Overdue(string(s.Status()), s.DueDate(), s.Due().Amount, at),
		SalesRep: s.SalesRep(), CreatedBy: s.CreatedBy(), Lines: s.Lines(), Version: int64(recs[len(recs)-1].Version),
		CreatedAt: s.CreatedAt(), UpdatedAt: recs[len(recs)-1].RecordedAt,
	}
	if !s.IssuedAt().IsZero() {
		t := s.IssuedAt()
		v.IssuedAt = &t
	}
	c.Set(fiber.HeaderETag, etag(uint64(v.Version)))
	return writeJSON(c, fiber.StatusOK, v)
}

func (a *api) invoiceHistory(c *fiber.Ctx) error {
	ctx := c.UserContext()
	stream, err := invoicecmd.StreamOf(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	evs, err := a.deps.Audit.History(ctx, stream, invoice.ReadRoles())
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return problem(fiber.StatusNotFound, "invoice_not_found", "no such invoice")
	}
	return writeJSON(c, fiber.StatusOK, list(evs, ""))
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

func (a *api) agingReport(c *fiber.Ctx) error {
	rows, err := a.deps.Aging.Report(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]agingView, len(rows))
	for i, r := range rows {
		items[i] = agingView{Client: clientView{r.ClientID, r.ClientName}, Currency: r.Currency, Current: r.Current,
			D1To30: r.Days1To30, D31To60: r.Days31To60, D61To90: r.Days61To90, Over90: r.Over90, Total: r.Total}
	}
	return writeJSON(c, fiber.StatusOK, list(items, ""))
}

func (a *api) auditEvents(c *fiber.Ctx) error {
	ctx := c.UserContext()
	after, err := auditAfter(c)
	if err != nil {
		return err
	}
	if strings.Contains(c.Get(fiber.HeaderAccept), "application/x-ndjson") {
		return a.auditStream(c, after)
	}
	n, err := limit(c)
	if err != nil {
		return err
	}
	evs, err := a.deps.Audit.Events(ctx, parsePos(after), n)
	if err != nil {
		return err
	}
	next := ""
	if len(evs) == n {
		next = strconv.FormatUint(evs[len(evs)-1].Position, 10)
	}
	return writeJSON(c, fiber.StatusOK, list(evs, next))
}

// auditAfter reads where an audit read starts: ?after=<position>, or
// ?cursor=, the next_cursor of the previous page, which is the same.
func auditAfter(c *fiber.Ctx) (uint64, error) {
	after, cursor := c.Query("after"), c.Query("cursor")
	var n uint64
	if after != "" {
		v, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return 0, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
				Code: "invalid_request", Field: "after", Detail: "after must be a position, a non-negative integer"}
		}
		n = v
	}
	if cursor != "" {
		v, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return 0, projections.ErrBadCursor
		}
		if after != "" && v != n {
			return 0, &Problem{Type: "/problems/invalid_request", Title: "Bad Request", Status: fiber.StatusBadRequest,
				Code: "invalid_request", Field: "cursor", Detail: "give after or cursor, not two different starts"}
		}
		n = v
	}
	return n, nil
}

// auditStream answers the whole log after a position as NDJSON, one event a
// line, read page by page as it is written out.
//
// The stream takes one of the tenant's stream slots until it ends, and it
// reads and writes in turns on the tenant's share of the work, as requests
// do, so streams never crowd out other tenants.
func (a *api) auditStream(c *fiber.Ctx, after uint64) error {
	ctx := c.UserContext()
	// Check access before the status line goes out.
	if _, err := a.deps.Audit.Events(ctx, parsePos(after), 1); err != nil {
		return err
	}
	tn, _ := tenant.From(ctx)
	release, err := a.streams.take(tn)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	corr, _ := ctx.Value(keyCorrelation).(string)
	// The writer runs after the handler has returned, out of reach of the
	// middleware: it recovers and logs on its own.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		defer func() {
			if r := recover(); r != nil {
				a.deps.Logger.Error("audit stream failed", "err", fmt.Sprintf("panic: %v", r), "stack", string(debug.Stack()),
					"tenant", string(tn), "correlation_id", corr)
			}
		}()
		done, err := a.admit.gate.Wait(ctx, string(tn))
		if err != nil {
			return
		}
		defer func() { done() }()
		n := 0
		err = a.deps.Audit.Stream(ctx, parsePos(after), func(e audit.Event) error {
			b, err := jsonMarshal(e)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
			if n++; n%100 != 0 {
				return nil
			}
			// Every 100 events: written out, and the turn handed on.
			done()
			if err := w.Flush(); err != nil {
				done = func() {}
				return err
			}
			next, err := a.admit.gate.Wait(ctx, string(tn))
			if err != nil {
				done = func() {}
				return err
			}
			done = next
			return nil
		})
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			a.deps.Logger.Warn("audit stream ended early", "err", err, "tenant", string(tn), "correlation_id", corr)
		}
	})
	return nil
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

func (a *api) clientRisk(c *fiber.Ctx) error {
	rows, err := a.deps.ClientRisk.Report(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]clientRiskView, len(rows))
	for i, r := range rows {
		v := clientRiskView{Client: clientView{r.ClientID, r.ClientName}, Currency: r.Currency, Invoiced90Days: r.Invoiced,
			Outstanding: r.Outstanding, Overdue: r.Overdue, PaidInvoices: r.PaidInvoices, PaidLate: r.PaidLate, AverageDaysLate: r.AverageDaysLate}
		if r.DSO >= 0 {
			d := r.DSO
			v.DSO = &d
		}
		out[i] = v
	}
	return writeJSON(c, fiber.StatusOK, list(out, ""))
}
