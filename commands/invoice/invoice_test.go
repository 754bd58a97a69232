package invoice_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/commands"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

type threshold int64

// InvoicePolicy accepts EUR only, with the threshold t.
func (t threshold) InvoicePolicy(context.Context) (invoice.Policy, error) {
	return invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": money.New(int64(t), "EUR")}}, nil
}

// members holds each tenant's members and their roles, as the identity
// records answer them in the running stack.
type members map[tenant.ID]map[string][]user.Role

func (m members) Roles(ctx context.Context, userID string) ([]user.Role, bool, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, false, err
	}
	roles, ok := m[t][userID]
	return roles, ok, nil
}

// The people the invoices name.
const (
	rep       = "0e5b8f0c-6a7d-4c0e-9a55-1f3d2c4b5a60" // sales in acme
	acmeMgr   = "5f0c2a1e-3b4d-4e6f-8a9b-0c1d2e3f4a5b" // manager in acme
	globexRep = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" // sales in globex only
)

var people = members{
	"acme":   {rep: {user.Sales}, acmeMgr: {user.Manager}},
	"globex": {globexRep: {user.Sales}},
}

type fixture struct {
	h     *invoicecmd.Handler
	store streams.Store
	reg   *streams.Registry
	ctx   context.Context
}

func setup(t *testing.T) fixture {
	t.Helper()
	store := jetstreamtest.NewStore(t)
	reg := streams.NewRegistry()
	streams.Register(reg, invoicecmd.Events()...)
	streams.Register(reg, commands.Events()...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	for _, tn := range []tenant.ID{"acme", "globex"} {
		if err := store.Provision(tenant.With(ctx, tn)); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
	x := &commands.Executor{Store: store, Registry: reg}
	return fixture{h: invoicecmd.NewHandler(x, threshold(1_000_000), people, now), store: store, reg: reg, ctx: ctx}
}

func as(ctx context.Context, tn tenant.ID, id string, roles ...user.Role) context.Context {
	return user.With(tenant.With(ctx, tn), user.Principal{ID: user.ID(id), Roles: roles})
}

func draft(price int64) invoicecmd.CreateInvoice {
	return invoicecmd.CreateInvoice{
		Client: invoicecmd.Client{ID: "C-1", Name: "Northwind"}, Currency: "EUR", DueDate: "2026-12-31", SalesRep: rep,
		Lines: []invoicecmd.Line{{Description: "Consulting", Quantity: 2, UnitPrice: money.New(price, "EUR")}},
	}
}

func history(t *testing.T, f fixture, ctx context.Context, id string) []streams.Record {
	t.Helper()
	n, err := invoicecmd.StreamOf(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := f.store.ReadStream(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestLifecycle(t *testing.T) {
	f := setup(t)
	fin := as(f.ctx, "acme", "fin-1", user.Finance)
	mgr := as(f.ctx, "acme", "mgr-1", user.Manager)

	big, err := f.h.Create(fin, draft(600_000)) // 12,000.00: above the threshold
	if err != nil {
		t.Fatal(err)
	}
	if big.Version != 1 || big.Position == 0 {
		t.Fatalf("create answered %+v", big)
	}
	r, err := f.h.Issue(fin, invoicecmd.IssueInvoice{InvoiceID: big.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 || r.Position <= big.Position {
		t.Fatalf("issue answered %+v after %+v", r, big)
	}
	// The creator may not approve their own invoice, even with the role.
	_, err = f.h.Approve(as(f.ctx, "acme", "fin-1", user.Finance), invoicecmd.ApproveInvoice{InvoiceID: big.ID})
	if !errors.Is(err, &domain.Error{Code: "self_approval"}) {
		t.Fatalf("self approval: %v", err)
	}
	if _, err := f.h.Approve(mgr, invoicecmd.ApproveInvoice{InvoiceID: big.ID}); err != nil {
		t.Fatal(err)
	}
	pay := func(amount int64) (commands.Result, error) {
		return f.h.Pay(fin, invoicecmd.RecordPayment{InvoiceID: big.ID, Amount: money.New(amount, "EUR"), PaidAt: time.Now().Format(time.RFC3339), Reference: "wire"})
	}
	if _, err := pay(1_300_000); !errors.Is(err, &domain.Error{Code: "overpayment"}) {
		t.Fatalf("overpayment: %v", err)
	}
	if _, err := pay(200_000); err != nil {
		t.Fatal(err)
	}
	if _, err := pay(1_000_000); err != nil {
		t.Fatal(err)
	}
	recs := history(t, f, fin, big.ID)
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
		if r.Metadata.Tenant != "acme" || r.Metadata.UserID == "" || r.Metadata.CommandID == "" {
			t.Fatalf("metadata %+v", r.Metadata)
		}
	}
	want := []string{"invoice.drafted.v1", "invoice.submitted_for_validation.v1", "invoice.approved.v1", "invoice.issued.v1", "invoice.payment_recorded.v1", "invoice.payment_recorded.v1"}
	if !slices.Equal(types, want) {
		t.Fatalf("history %v, want %v", types, want)
	}
	evs := make([]domain.Event, len(recs))
	for i, r := range recs {
		if evs[i], err = f.reg.Decode(r.Type, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	s := invoice.Fold(evs)
	if s.Status() != invoice.StatusPaid || s.Number() != "INV-2026-000001" || s.Due().Amount != 0 {
		t.Fatalf("state %v %s due %v", s.Status(), s.Number(), s.Due())
	}
	if _, err := f.h.Cancel(fin, invoicecmd.CancelInvoice{InvoiceID: big.ID, Reason: "late"}); !errors.Is(err, &domain.Error{Kind: domain.WrongState}) {
		t.Fatalf("cancel a paid invoice: %v", err)
	}

	small, err := f.h.Create(fin, draft(10_000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.Issue(fin, invoicecmd.IssueInvoice{InvoiceID: small.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.Cancel(fin, invoicecmd.CancelInvoice{InvoiceID: small.ID, Reason: ""}); !errors.Is(err, &domain.Error{Kind: domain.Invalid}) {
		t.Fatalf("cancel without reason: %v", err)
	}
	if _, err := f.h.Cancel(fin, invoicecmd.CancelInvoice{InvoiceID: small.ID, Reason: "duplicate"}); err != nil {
		t.Fatal(err)
	}
}

func TestRoles(t *testing.T) {
	f := setup(t)
	created, err := f.h.Create(as(f.ctx, "acme", "s-1", user.Sales), draft(10_000))
	if err != nil {
		t.Fatalf("sales may create drafts: %v", err)
	}
	forbidden := []struct {
		name string
		run  func() error
	}{
		{"employee creates", func() error {
			_, err := f.h.Create(as(f.ctx, "acme", "e-1", user.Employee), draft(1))
			return err
		}},
		{"sales issues", func() error {
			_, err := f.h.Issue(as(f.ctx, "acme", "s-1", user.Sales), invoicecmd.IssueInvoice{InvoiceID: created.ID})
			return err
		}},
		{"auditor cancels", func() error {
			_, err := f.h.Cancel(as(f.ctx, "acme", "a-1", user.Auditor), invoicecmd.CancelInvoice{InvoiceID: created.ID, Reason: "x"})
			return err
		}},
		{"sales approves", func() error {
			_, err := f.h.Approve(as(f.ctx, "acme", "s-2", user.Sales), invoicecmd.ApproveInvoice{InvoiceID: created.ID})
			return err
		}},
	}
	for _, tc := range forbidden {
		if err := tc.run(); !errors.Is(err, &domain.Error{Kind: domain.Forbidden}) {
			t.Errorf("%s: %v, want forbidden", tc.name, err)
		}
	}
	if got := len(history(t, f, as(f.ctx, "acme", "s-1", user.Sales), created.ID)); got != 1 {
		t.Fatalf("refused commands wrote: %d events", got)
	}
	if _, err := f.h.Create(tenant.With(f.ctx, "acme"), draft(1)); !errors.Is(err, user.ErrNoPrincipal) {
		t.Fatalf("no user: %v", err)
	}
	if _, err := f.h.Create(user.With(f.ctx, user.Principal{ID: "x", Roles: []user.Role{user.Finance}}), draft(1)); !errors.Is(err, tenant.ErrNoTenant) {
		t.Fatalf("no tenant: %v", err)
	}
}

func TestIfMatchAndIdempotency(t *testing.T) {
	f := setup(t)
	fin := as(f.ctx, "acme", "fin-1", user.Finance)
	key := commands.Request{CommandID: "key-1", RequestHash: "hash-a"}
	c := draft(10_000)
	c.Request = key
	first, err := f.h.Create(fin, c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.h.Create(fin, c)
	if err != nil || again != first {
		t.Fatalf("replay: %+v %v, first %+v", again, err, first)
	}
	c.RequestHash = "hash-b"
	if _, err := f.h.Create(fin, c); !errors.Is(err, commands.ErrIdempotencyKeyReused) {
		t.Fatalf("key reuse: %v", err)
	}
	// The same key on another command is a reuse too.
	if _, err := f.h.Issue(fin, invoicecmd.IssueInvoice{Request: commands.Request{CommandID: "key-1", RequestHash: "hash-c"}, InvoiceID: first.ID}); !errors.Is(err, commands.ErrIdempotencyKeyReused) {
		t.Fatalf("key reuse on another command: %v", err)
	}
	stale := streams.Version(0)
	if _, err := f.h.Issue(fin, invoicecmd.IssueInvoice{Request: commands.Request{IfMatch: &stale}, InvoiceID: first.ID}); !errors.Is(err, commands.ErrVersionConflict) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if got := len(history(t, f, fin, first.ID)); got != 1 {
		t.Fatalf("%d events after replays and a stale If-Match, want 1", got)
	}
	current := streams.Version(1)
	if r, err := f.h.Issue(fin, invoicecmd.IssueInvoice{Request: commands.Request{IfMatch: &current}, InvoiceID: first.ID}); err != nil || r.Version != 2 {
		t.Fatalf("current If-Match: %+v %v", r, err)
	}
}

func TestSalesRepIsASalespersonOfTheTenant(t *testing.T) {
	f := setup(t)
	fin := as(f.ctx, "acme", "fin-1", user.Finance)
	tests := []struct {
		name, salesRep, code string
	}{
		{"a salesperson", rep, ""},
		{"the same, spaced", " " + rep + " ", ""},
		{"none", "", ""},
		{"nobody's id", "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a", "unknown_member"},
		{"not an id", "rep-1", "unknown_member"},
		{"a salesperson of another tenant", globexRep, "unknown_member"},
		{"a member without the role", acmeMgr, "member_role_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := f.store.Head(fin)
			if err != nil {
				t.Fatal(err)
			}
			c := draft(10_000)
			c.SalesRep = tc.salesRep
			_, err = f.h.Create(fin, c)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != tc.code || de.Field != "sales_rep" || de.Kind != domain.Rejected {
				t.Fatalf("err %v, want %s on sales_rep", err, tc.code)
			}
			if after, err := f.store.Head(fin); err != nil || after != before {
				t.Fatalf("a refused draft moved the tenant from %d to %d (%v)", before, after, err)
			}
		})
	}
}

func TestIsolation(t *testing.T) {
	f := setup(t)
	acme, err := f.h.Create(as(f.ctx, "acme", "fin-1", user.Finance), draft(10_000))
	if err != nil {
		t.Fatal(err)
	}
	globexFin := as(f.ctx, "globex", "fin-9", user.Finance)
	if _, err := f.h.Issue(globexFin, invoicecmd.IssueInvoice{InvoiceID: acme.ID}); !errors.Is(err, &domain.Error{Kind: domain.NotFound}) {
		t.Fatalf("globex issuing acme's invoice: %v, want not found", err)
	}
	if _, err := f.h.Issue(globexFin, invoicecmd.IssueInvoice{InvoiceID: "../acme.invoice-x"}); !errors.Is(err, &domain.Error{Kind: domain.NotFound}) {
		t.Fatalf("a crafted id: %v, want not found", err)
	}
}

func TestConcurrentIssuesNumberWithoutGaps(t *testing.T) {
	f := setup(t)
	fin := as(f.ctx, "acme", "fin-1", user.Finance)
	const n = 50
	ids := make([]string, n)
	for i := range ids {
		r, err := f.h.Create(fin, draft(10_000))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := f.h.Issue(fin, invoicecmd.IssueInvoice{InvoiceID: id})
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var numbers []string
	for _, id := range ids {
		for _, r := range history(t, f, fin, id) {
			if r.Type == "invoice.issued.v1" {
				e, err := f.reg.Decode(r.Type, r.Data)
				if err != nil {
					t.Fatal(err)
				}
				numbers = append(numbers, e.(invoice.Issued).Number)
			}
		}
	}
	slices.Sort(numbers)
	if len(numbers) != n {
		t.Fatalf("%d invoices issued, want %d", len(numbers), n)
	}
	for i, got := range numbers {
		if want := fmt.Sprintf("INV-2026-%06d", i+1); got != want {
			t.Fatalf("numbers %v: position %d is %s, want %s", numbers, i, got, want)
		}
	}
}
