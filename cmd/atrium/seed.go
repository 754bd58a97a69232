package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/commands"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules/module"
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

type demoTenant struct {
	slug     tenant.ID
	name     string
	branding tenancy.Branding
}

// seedDemo provisions acme and globex, adds their demo members, and has
// every module seed its demo data into each. A demo tenant that exists
// already (seeded by another instance on the same NATS) is left as it is.
func seedDemo(ctx context.Context, st *assembly.Process, log *slog.Logger, at urls) error {
	tenants := []demoTenant{
		{"acme", "Acme Corporation", tenancy.Branding{Name: "Acme Corporation", LogoURL: "https://acme.example/logo.svg", PrimaryColor: "#d7263d", AccentColor: "#1b998b"}},
		{"globex", "Globex Corporation", tenancy.Branding{Name: "Globex", LogoURL: "https://globex.example/logo.svg", PrimaryColor: "#2e4057", AccentColor: "#f6ae2d"}},
	}
	admin := user.With(ctx, user.Principal{ID: "00000000-0000-4000-8000-000000000000", Roles: []user.Role{user.PlatformAdmin}})
	today := time.Now().UTC()
	for _, dt := range tenants {
		t := dt.slug
		if _, exists := st.Catalog.Get(t); exists {
			log.Info("demo tenant exists already; not seeded", "tenant", string(t))
			continue
		}
		if _, err := st.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{
			Request: commands.Request{CommandID: newCommandID()}, Slug: string(t), Name: dt.name, Branding: dt.branding,
			Admin: tenancycmd.FirstAdmin{Email: demoUsers[0].email, Name: demoUsers[0].name, Password: DemoPassword},
		}); errors.Is(err, &domain.Error{Code: "tenant_exists"}) {
			// Provisioned by another instance starting at the same time.
			log.Info("demo tenant exists already; not seeded", "tenant", string(t))
			continue
		} else if err != nil {
			return fmt.Errorf("provision %s: %w", t, err)
		}
		demo := module.Demo{Tenant: t, Members: map[user.Role]user.ID{}, Today: today}
		bootstrap := user.With(tenant.With(ctx, t), user.Principal{ID: "demo-seed", Roles: []user.Role{user.Admin}})
		for _, u := range demoUsers[1:] { // the admin came with the tenant
			res, err := st.Identity.AddMember(bootstrap, identitycmd.AddMember{
				Request: commands.Request{CommandID: newCommandID()}, Email: u.email, Name: u.name, Password: DemoPassword, Roles: []string{string(u.role)},
			})
			if err != nil {
				return fmt.Errorf("%s member %s: %w", t, u.email, err)
			}
			demo.Members[u.role] = user.ID(res.ID)
		}
		if err := st.Seed(ctx, demo); err != nil {
			return err
		}
		log.Info("demo tenant seeded", "tenant", string(t))
	}
	printDemo(at)
	return nil
}

// urls are the addresses the demo's banner names: the tenant acme's and
// the console's.
type urls struct{ acme, console, admin string }

// demoURLs are the banner's addresses for a server listening on addr and
// serving tenants at <slug>.<base>: the port it listens on, on base's name.
func demoURLs(base string, addr net.Addr) urls {
	port := "8080"
	if a, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return urls{acme: "http://" + net.JoinHostPort("acme."+base, port), console: "http://" + net.JoinHostPort(base, port) + "/console"}
}

func printDemo(at urls) {
	fmt.Println("Demo tenants: acme and globex. Their members, in both tenants, use the password " + DemoPassword + ":")
	for _, u := range demoUsers {
		fmt.Printf("  %-14s %-22s role %s\n", u.name, u.email, u.role)
	}
	fmt.Println("Log in on a tenant and call the API with the access token:")
	fmt.Println(`  TOKEN=$(curl -s ` + at.acme + `/api/v1/auth/login -H 'Content-Type: application/json' \`)
	fmt.Println(`    -d '{"email":"finance@demo.example","password":"` + DemoPassword + `"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')`)
	fmt.Println(`  curl -s ` + at.acme + `/api/v1/invoices -H "Authorization: Bearer $TOKEN"`)
	fmt.Println("Branding, public: " + at.acme + "/api/v1/branding; acme's page: " + at.acme + "/")
	if at.admin != "" {
		fmt.Println("Operator console: " + at.console + ", for a platform administrator: " + at.admin)
		return
	}
	fmt.Println("Operator console: " + at.console + ", for a platform administrator")
	fmt.Println("  (start with ATRIUM_BOOTSTRAP_ADMIN_EMAIL and ATRIUM_BOOTSTRAP_ADMIN_PASSWORD to have one)")
}
