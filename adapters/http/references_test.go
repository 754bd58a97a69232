package http_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// join adds a member with roles to tenant tn through the API, as its
// admin would, and returns a caller holding a token for them and their
// user_id.
func join(t *testing.T, app *fiber.App, tn string, roles ...string) (caller, string) {
	t.Helper()
	admin := as(t, app, tn, "u-admin-of-"+tn, "admin")
	email := fmt.Sprintf("member-%s@%s.example", uuid.NewString()[:8], tn)
	r := admin.do("POST", "/api/v1/users", fmt.Sprintf(`{"email":%q,"name":"Member","password":"correct horse battery","roles":["%s"]}`,
		email, strings.Join(roles, `","`)))
	if r.status != 201 {
		t.Fatalf("add member: %d %s", r.status, r.body)
	}
	id := r.json(t)["user_id"].(string)
	return as(t, app, tn, id, strings.Join(roles, ",")), id
}

// TestReferencesAreMembersWithTheRole: an invoice's sales_rep and an
// objective's assignee name a member of the tenant holding the role sales;
// anything else is refused with 422 and writes nothing, and a member of
// another tenant is answered exactly like an id nobody holds.
func TestReferencesAreMembersWithTheRole(t *testing.T) {
	app, st := newStackApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	mgr := as(t, app, "acme", "u-mgr", "manager")
	rep, repID := join(t, app, "acme", "sales")
	_, managerID := join(t, app, "acme", "manager", "employee")
	_, globexRepID := join(t, app, "globex", "sales")
	nobody := uuid.NewString()

	invoice := func(c caller, salesRep string) reply {
		return c.do("POST", "/api/v1/invoices", fmt.Sprintf(`{"client":{"id":"C-1","name":"Northwind"},"currency":"EUR",
			"due_date":"2026-12-31","sales_rep":%q,"lines":[{"description":"x","quantity":1,"unit_price":{"amount":100,"currency":"EUR"}}]}`, salesRep))
	}
	objective := func(c caller, assignee string) reply {
		return c.do("POST", "/api/v1/objectives", fmt.Sprintf(`{"assignee":%q,"period":"2026-Q4","metric":"revenue",
			"target":{"amount":100000,"currency":"EUR"}}`, assignee))
	}
	tests := []struct {
		name   string
		send   func() reply
		status int
		code   string
		field  string
	}{
		{"invoice by a salesperson", func() reply { return invoice(fin, repID) }, 201, "", ""},
		{"invoice without sales_rep", func() reply { return invoice(fin, "") }, 201, "", ""},
		{"a salesperson's own draft", func() reply { return invoice(rep, repID) }, 201, "", ""},
		{"sales_rep nobody holds", func() reply { return invoice(fin, nobody) }, 422, "unknown_member", "sales_rep"},
		{"sales_rep not an id", func() reply { return invoice(fin, "rep-1") }, 422, "unknown_member", "sales_rep"},
		{"sales_rep of another tenant", func() reply { return invoice(fin, globexRepID) }, 422, "unknown_member", "sales_rep"},
		{"sales_rep without the role", func() reply { return invoice(fin, managerID) }, 422, "member_role_required", "sales_rep"},
		{"objective for a salesperson", func() reply { return objective(mgr, repID) }, 201, "", ""},
		{"assignee nobody holds", func() reply { return objective(mgr, nobody) }, 422, "unknown_member", "assignee"},
		{"assignee of another tenant", func() reply { return objective(mgr, globexRepID) }, 422, "unknown_member", "assignee"},
		{"assignee without the role", func() reply { return objective(mgr, managerID) }, 422, "member_role_required", "assignee"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := head(t, st, "acme")
			r := tc.send()
			if tc.status == 201 {
				if r.status != 201 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			if code := problemCode(t, r, tc.status); code != tc.code {
				t.Fatalf("code %s, want %s: %s", code, tc.code, r.body)
			}
			if f := r.json(t)["field"]; f != tc.field {
				t.Fatalf("field %v, want %s", f, tc.field)
			}
			if after := head(t, st, "acme"); after != before {
				t.Fatalf("a refused command moved acme from %d to %d", before, after)
			}
		})
	}

	// Another tenant's member cannot be told from an id nobody holds.
	for _, send := range []func(string) reply{
		func(id string) reply { return invoice(fin, id) },
		func(id string) reply { return objective(mgr, id) },
	} {
		theirs, random := send(globexRepID), send(uuid.NewString())
		if theirs.status != random.status || string(theirs.body) != string(random.body) {
			t.Fatalf("another tenant's member %d %s, an unknown id %d %s", theirs.status, theirs.body, random.status, random.body)
		}
	}
}
