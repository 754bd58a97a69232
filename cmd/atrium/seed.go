package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/atrium-platform/atrium/adapters/stack"
	"github.com/atrium-platform/atrium/commands"
	expensecmd "github.com/atrium-platform/atrium/commands/expense"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	objectivecmd "github.com/atrium-platform/atrium/commands/objective"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// DemoPassword is every demo member's password.
const DemoPassword = "atrium-demo-password"

// demoUser is a member of both demo tenants, with one role.
type demoUser struct {
	name  string
	email string
	role  user.Role
}

var demoUsers = []demoUser{
	{"Ada Admin", "admin@demo.example", user.Admin},
	{"Fiona Finance", "finance@demo.example", user.Finance},
	{"Max Manager", "manager@demo.example", user.Manager},
	{"Sam Sales", "sales@demo.example", user.Sales},
	{"Eve Employee", "employee@demo.example", user.Employee},
	{"Otto Auditor", "auditor@demo.example", user.Auditor},
}

type demoClient struct{ id, name string }

type demoTenant struct {
	slug     tenant.ID
	name     string
	branding tenancy.Branding
	clients  []demoClient
}

// seedDemo provisions acme and globex and walks invoices through every state.
func seedDemo(ctx context.Context, st *stack.Stack, log *slog.Logger) error {
	tenants := []demoTenant{
		{"acme", "Acme Corporation", tenancy.Branding{Name: "Acme Corporation", LogoURL: "https://acme.example/logo.svg", PrimaryColor: "#d7263d", AccentColor: "#1b998b"},
			[]demoClient{{"C-1001", "Northwind Traders"}, {"C-1002", "Contoso Ltd"}, {"C-1003", "Fabrikam Inc"}}},
		{"globex", "Globex Corporation", tenancy.Branding{Name: "Globex", LogoURL: "https://globex.example/logo.svg", PrimaryColor: "#2e4057", AccentColor: "#f6ae2d"},
			[]demoClient{{"G-2001", "Initech"}, {"G-2002", "Umbrella Corp"}}},
	}
	admin := user.With(ctx, user.Principal{ID: "00000000-0000-4000-8000-000000000000", Roles: []user.Role{user.PlatformAdmin}})
	today := time.Now().UTC()
	for _, dt := range tenants {
		t, clients := dt.slug, dt.clients
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{
			Request: commands.Request{CommandID: newCommandID()}, Slug: string(t), Name: dt.name, Branding: dt.branding,
			Admin: tenancycmd.FirstAdmin{Email: demoUsers[0].email, Name: demoUsers[0].name, Password: DemoPassword},
		}); err != nil {
			return fmt.Errorf("provision %s: %w", t, err)
		}
		ids := map[user.Role]user.ID{}
		bootstrap := user.With(tenant.With(ctx, t), user.Principal{ID: "demo-seed", Roles: []user.Role{user.Admin}})
		for _, u := range demoUsers[1:] { // the admin came with the tenant
			res, err := st.Identity.AddMember(bootstrap, identitycmd.AddMember{
				Request: commands.Request{CommandID: newCommandID()}, Email: u.email, Name: u.name, Password: DemoPassword, Roles: []string{string(u.role)},
			})
			if err != nil {
				return fmt.Errorf("%s member %s: %w", t, u.email, err)
			}
			ids[u.role] = user.ID(res.ID)
		}
		as := func(role user.Role) context.Context {
			return user.With(tenant.With(ctx, t), user.Principal{ID: ids[role], Roles: []user.Role{role}})
		}
		sales := ids[user.Sales]
		h := st.Invoices
		create := func(c demoClient, days int, qty, price int64) (string, error) {
			r, err := h.Create(as(user.Finance), invoicecmd.CreateInvoice{
				Request: commands.Request{CommandID: newCommandID()}, ClientID: c.id, ClientName: c.name,
				Currency: "EUR", DueDate: today.AddDate(0, 0, days).Format(time.DateOnly), SalesRep: string(sales),
				Lines: []invoicecmd.LineInput{
					{Description: "Consulting days", Quantity: qty, UnitPrice: money.New(price, "EUR")},
					{Description: "Travel", Quantity: 1, UnitPrice: money.New(25_000, "EUR")},
				},
			})
			return r.ID, err
		}
		issue := func(id string) error {
			_, err := h.Issue(as(user.Finance), invoicecmd.IssueInvoice{Request: commands.Request{CommandID: newCommandID()}, InvoiceID: id})
			return err
		}
		pay := func(id string, amount int64) error {
			_, err := h.RecordPayment(as(user.Finance), invoicecmd.RecordPayment{
				Request: commands.Request{CommandID: newCommandID()}, InvoiceID: id,
				Amount: money.New(amount, "EUR"), PaidAt: today, Reference: "bank transfer",
			})
			return err
		}
		steps := []func() error{}
		for i, c := range clients {
			c, i := c, int64(i)
			steps = append(steps,
				func() error { _, err := create(c, 30, 2+i, 80_000); return err }, // draft
				func() error { // issued, not yet due
					id, err := create(c, 20, 3, 90_000)
					if err != nil {
						return err
					}
					return issue(id)
				},
				func() error { // overdue by about 45 days, partially paid
					id, err := create(c, -45, 4, 60_000)
					if err != nil {
						return err
					}
					if err := issue(id); err != nil {
						return err
					}
					return pay(id, 100_000)
				},
				func() error { // paid
					id, err := create(c, 10, 1, 50_000)
					if err != nil {
						return err
					}
					if err := issue(id); err != nil {
						return err
					}
					return pay(id, 75_000)
				},
			)
		}
		steps = append(steps,
			func() error { // pending validation, then approved by a manager
				id, err := create(clients[0], 60, 20, 100_000)
				if err != nil {
					return err
				}
				if err := issue(id); err != nil {
					return err
				}
				_, err = h.Approve(as(user.Manager), invoicecmd.ApproveInvoice{Request: commands.Request{CommandID: newCommandID()}, InvoiceID: id})
				return err
			},
			func() error { // pending validation
				id, err := create(clients[1], 60, 15, 100_000)
				if err != nil {
					return err
				}
				return issue(id)
			},
			func() error { // rejected
				id, err := create(clients[1], 60, 30, 100_000)
				if err != nil {
					return err
				}
				if err := issue(id); err != nil {
					return err
				}
				_, err = h.Reject(as(user.Manager), invoicecmd.RejectInvoice{Request: commands.Request{CommandID: newCommandID()}, InvoiceID: id, Reason: "Rates not agreed with the client"})
				return err
			},
			func() error { // cancelled
				id, err := create(clients[0], 30, 1, 10_000)
				if err != nil {
					return err
				}
				_, err = h.Cancel(as(user.Finance), invoicecmd.CancelInvoice{Request: commands.Request{CommandID: newCommandID()}, InvoiceID: id, Reason: "Duplicate of an earlier invoice"})
				return err
			},
		)
		for _, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		if err := seedExpensesAndObjectives(as, st, ids, today); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		log.Info("demo tenant seeded", "tenant", string(t))
	}
	printDemo()
	return nil
}

func printDemo() {
	fmt.Println("Demo tenants seeded: acme and globex. Their members, in both tenants, use the password " + DemoPassword + ":")
	for _, u := range demoUsers {
		fmt.Printf("  %-14s %-22s role %s\n", u.name, u.email, u.role)
	}
	fmt.Println("Log in on a tenant and call the API with the access token:")
	fmt.Println(`  TOKEN=$(curl -s http://acme.localhost:8080/api/v1/auth/login -H 'Content-Type: application/json' \`)
	fmt.Println(`    -d '{"email":"finance@demo.example","password":"` + DemoPassword + `"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')`)
	fmt.Println(`  curl -s http://acme.localhost:8080/api/v1/invoices -H "Authorization: Bearer $TOKEN"`)
	fmt.Println("Branding, public: http://acme.localhost:8080/api/v1/branding")
}

// seedExpensesAndObjectives walks claims and objectives through their states.
func seedExpensesAndObjectives(as func(user.Role) context.Context, st *stack.Stack, ids map[user.Role]user.ID, today time.Time) error {
	req := func() commands.Request { return commands.Request{CommandID: newCommandID()} }
	emp, mgr, fin := as(user.Employee), as(user.Manager), as(user.Finance)
	day := today.AddDate(0, 0, -3).Format(time.DateOnly)
	claim := func(category string, amount int64, description string) (string, error) {
		r, err := st.Expenses.Create(emp, expensecmd.CreateExpense{Request: req(), Category: category,
			Amount: money.New(amount, "EUR"), SpentOn: day, Description: description})
		return r.ID, err
	}
	receipt := []byte("%PDF-1.4\n% demo receipt\n")
	steps := []func() error{
		func() error { // reimbursed, with its receipt
			id, err := claim("meals", 6_800, "Lunch with Northwind")
			if err == nil {
				_, err = st.Expenses.AttachReceipt(emp, req(), id, "application/pdf", receipt)
			}
			if err == nil {
				_, err = st.Expenses.Submit(emp, req(), id)
			}
			if err == nil {
				_, err = st.Expenses.Approve(mgr, req(), id)
			}
			if err == nil {
				_, err = st.Expenses.Reimburse(fin, req(), id)
			}
			return err
		},
		func() error { // waiting in the managers' queue
			id, err := claim("travel", 2_400, "Taxi to the airport")
			if err == nil {
				_, err = st.Expenses.Submit(emp, req(), id)
			}
			return err
		},
		func() error { // rejected
			id, err := claim("supplies", 1_900, "Desk lamp")
			if err == nil {
				_, err = st.Expenses.Submit(emp, req(), id)
			}
			if err == nil {
				_, err = st.Expenses.Reject(mgr, req(), id, "Bought through purchasing instead")
			}
			return err
		},
		func() error { _, err := claim("training", 15_000, "Conference ticket"); return err }, // a draft
		func() error { // last quarter: submitted and validated
			q := quarterOf(today.AddDate(0, -3, 0))
			r, err := st.Objectives.Set(mgr, objectivecmd.SetObjective{Request: req(), Assignee: string(ids[user.Sales]),
				Period: q, Metric: "revenue", Target: money.New(500_000, "EUR")})
			if err == nil {
				_, err = st.Objectives.Submit(as(user.Sales), req(), r.ID)
			}
			if err == nil {
				_, err = st.Objectives.Validate(mgr, req(), r.ID)
			}
			return err
		},
		func() error { // this quarter: open, with progress from this quarter's payments
			_, err := st.Objectives.Set(mgr, objectivecmd.SetObjective{Request: req(), Assignee: string(ids[user.Sales]),
				Period: quarterOf(today), Metric: "revenue", Target: money.New(1_000_000, "EUR")})
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func quarterOf(t time.Time) string {
	return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
}
