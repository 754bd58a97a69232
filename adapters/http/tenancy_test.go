package http_test

import (
	"context"
	"fmt"
	"testing"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/domain/user"
)

func TestProvisioningServesAtOnce(t *testing.T) {
	app := newApp(t)
	root := as(t, app, "", "root", "platform_admin")
	body := `{"slug":"initech","name":"Initech","domains":["Books.Initech.example"],
		"branding":{"name":"Initech","primary_color":"#112233"},"settings":{"currency":"USD","time_zone":"America/Chicago"},
		"admin":{"email":"bill@initech.example","password":"correct horse battery","name":"Bill"}}`
	r := root.do("POST", "/admin/v1/tenants", body)
	if r.status != 201 {
		t.Fatalf("provision: %d %s", r.status, r.body)
	}
	v := r.json(t)
	if v["slug"] != "initech" || v["domains"].([]any)[0] != "books.initech.example" {
		t.Fatalf("provisioned %v", v)
	}
	s := v["settings"].(map[string]any)
	if s["currency"] != "USD" || s["invoice_validation_threshold"].(map[string]any)["currency"] != "USD" {
		t.Fatalf("settings %v", s)
	}
	// Usable at once: commands and reads on the new tenant.
	fin := as(t, app, "initech", "u-fin", "finance")
	r = fin.do("POST", "/api/v1/invoices", `{"client":{"id":"C","name":"Penetrode"},"currency":"USD","due_date":"2026-12-31","lines":[{"description":"TPS","quantity":1,"unit_price":{"amount":100,"currency":"USD"}}]}`)
	if r.status != 201 {
		t.Fatalf("first command on a new tenant: %d %s", r.status, r.body)
	}
	if got := fin.do("GET", "/api/v1/invoices", "", "X-Read-After", position(t, r)); got.status != 200 || len(got.json(t)["items"].([]any)) != 1 {
		t.Fatalf("first read on a new tenant: %d %s", got.status, got.body)
	}
	// Its first admin can log in at once.
	if _, r := loginAs(t, as(t, app, "initech", "", ""), "bill@initech.example", "correct horse battery"); r.status != 200 {
		t.Fatalf("first admin login: %d %s", r.status, r.body)
	}
	list := root.do("GET", "/admin/v1/tenants", "").json(t)["items"].([]any)
	if len(list) != 3 {
		t.Fatalf("%d tenants listed", len(list))
	}

	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"taken slug", `{"slug":"initech","name":"Again"}`, 409, "tenant_exists"},
		{"bad slug", `{"slug":"In-itech","name":"x"}`, 400, "invalid_slug"},
		{"reserved slug", `{"slug":"admin","name":"x"}`, 400, "invalid_slug"},
		{"taken domain", `{"slug":"hooli","name":"Hooli","domains":["books.initech.example"]}`, 422, "domain_taken"},
		{"base domain", `{"slug":"hooli","name":"Hooli","domains":["hooli.atrium.test"]}`, 400, "invalid_domain"},
		{"bad color", `{"slug":"hooli","name":"Hooli","branding":{"primary_color":"red"}}`, 400, "invalid_color"},
		{"bad zone", `{"slug":"hooli","name":"Hooli","settings":{"time_zone":"Mars/Olympus"}}`, 400, "invalid_time_zone"},
		{"no name", `{"slug":"hooli"}`, 400, "required"},
		{"no admin", `{"slug":"hooli","name":"Hooli"}`, 400, "invalid_email"},
		{"weak admin password", `{"slug":"hooli","name":"Hooli","admin":{"email":"a@hooli.example","name":"A","password":"123"}}`, 400, "weak_password"},
	}
	for _, tc := range tests {
		if code := problemCode(t, root.do("POST", "/admin/v1/tenants", tc.body), tc.status); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, code, tc.code)
		}
	}
	// Nothing of the refused provisionings exists.
	if r := as(t, app, "hooli", "", "").do("GET", "/api/v1/branding", ""); r.status != 404 {
		t.Fatalf("a refused tenant answers %d", r.status)
	}
	if code := problemCode(t, as(t, app, "", "u", "admin").do("POST", "/admin/v1/tenants", `{"slug":"hooli","name":"Hooli"}`), 403); code != "forbidden" {
		t.Fatalf("tenant admin provisioning: %s", code)
	}
	if code := problemCode(t, as(t, app, "", "", "").do("GET", "/admin/v1/tenants", ""), 401); code != "unauthorized" {
		t.Fatalf("anonymous listing: %s", code)
	}
}

func TestSuspendAndResume(t *testing.T) {
	app := newApp(t)
	root := as(t, app, "", "root", "platform_admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	if r := root.do("POST", "/admin/v1/tenants/acme/suspend", `{"reason":"unpaid"}`); r.status != 200 || r.json(t)["suspended"] != true {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/api/v1/invoices", "/api/v1/branding"} {
		if code := problemCode(t, fin.do("GET", path, ""), 403); code != "tenant_suspended" {
			t.Fatalf("%s on a suspended tenant: %s", path, code)
		}
	}
	if r := as(t, app, "globex", "u", "finance").do("GET", "/api/v1/invoices", ""); r.status != 200 {
		t.Fatalf("another tenant while acme is suspended: %d", r.status)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/resume", ""); r.status != 200 {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	if r := fin.do("GET", "/api/v1/invoices", ""); r.status != 200 {
		t.Fatalf("after resume: %d %s", r.status, r.body)
	}
	if code := problemCode(t, root.do("POST", "/admin/v1/tenants/hooli/suspend", ""), 404); code != "tenant_not_found" {
		t.Fatalf("suspend unknown: %s", code)
	}
}

func TestHostResolution(t *testing.T) {
	app := newApp(t)
	tests := []struct {
		name, host, header string
		status             int
		tenant             string
	}{
		{"subdomain", "acme.atrium.test", "", 200, "acme"},
		{"subdomain with port", "acme.atrium.test:8080", "", 200, "acme"},
		{"custom domain", "billing.globex.example", "", 200, "globex"},
		{"header", "localhost", "globex", 200, "globex"},
		{"host and header agree", "acme.atrium.test", "acme", 200, "acme"},
		{"host and header differ", "acme.atrium.test", "globex", 400, "tenant_mismatch"},
		{"custom domain and header differ", "billing.globex.example", "acme", 400, "tenant_mismatch"},
		{"unknown subdomain", "hooli.atrium.test", "", 404, "tenant_not_found"},
		{"nested subdomain", "a.acme.atrium.test", "", 404, "tenant_not_found"},
		{"no tenant", "atrium.test", "", 400, "tenant_required"},
	}
	for _, tc := range tests {
		c := as(t, app, tc.header, "", "")
		r := c.do("GET", "/api/v1/branding", "", "Host", tc.host)
		if tc.status != 200 {
			if code := problemCode(t, r, tc.status); code != tc.tenant {
				t.Errorf("%s: %s, want %s", tc.name, code, tc.tenant)
			}
			continue
		}
		if r.status != 200 || r.json(t)["tenant"] != tc.tenant {
			t.Errorf("%s: %d %s, want tenant %s", tc.name, r.status, r.body, tc.tenant)
		}
	}
}

func TestBrandingAndSettings(t *testing.T) {
	app := newApp(t)
	admin := as(t, app, "acme", "u-adm", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	pub := as(t, app, "acme", "", "")
	if r := pub.do("GET", "/api/v1/branding", ""); r.status != 200 || r.json(t)["name"] != "acme inc" {
		t.Fatalf("public branding: %d %s", r.status, r.body)
	}
	if code := problemCode(t, fin.do("PUT", "/api/v1/branding", `{"primary_color":"#000000"}`), 403); code != "forbidden" {
		t.Fatalf("finance changing branding: %s", code)
	}
	if code := problemCode(t, admin.do("PUT", "/api/v1/branding", `{"accent_color":"blue"}`), 400); code != "invalid_color" {
		t.Fatalf("bad color: %s", code)
	}
	if r := admin.do("PUT", "/api/v1/branding", `{"primary_color":"#0a0b0c","logo_url":"https://acme.example/l.png"}`); r.status != 200 {
		t.Fatalf("change branding: %d %s", r.status, r.body)
	}
	b := pub.do("GET", "/api/v1/branding", "").json(t)
	if b["primary_color"] != "#0a0b0c" || b["logo_url"] != "https://acme.example/l.png" || b["name"] != "acme inc" {
		t.Fatalf("branding after change %v", b)
	}
	if g := as(t, app, "globex", "", "").do("GET", "/api/v1/branding", "").json(t); g["primary_color"] == "#0a0b0c" {
		t.Fatal("acme's branding changed globex's")
	}

	if code := problemCode(t, fin.do("GET", "/api/v1/settings", ""), 403); code != "forbidden" {
		t.Fatalf("finance reading settings: %s", code)
	}
	s := admin.do("GET", "/api/v1/settings", "").json(t)
	if s["currency"] != "EUR" || s["time_zone"] != "UTC" {
		t.Fatalf("default settings %v", s)
	}
	bad := []struct{ body, field string }{
		{`{"time_zone":"Nowhere/City"}`, "time_zone"},
		{`{"invoice_validation_threshold":{"amount":100,"currency":"USD"}}`, "invoice_validation_threshold"},
		{`{"expense_policy":{"category_ceilings":{"yachts":{"amount":1,"currency":"EUR"}}}}`, "expense_policy.category_ceilings.yachts"},
		{`{"expense_policy":{"max_receipt_bytes":5}}`, "expense_policy.max_receipt_bytes"},
		{`{"currency":"EURO"}`, "currency"},
		{`{"colour":"red"}`, "colour"},
	}
	for _, tc := range bad {
		r := admin.do("PUT", "/api/v1/settings", tc.body)
		if r.status != 400 || r.json(t)["field"] != tc.field {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.field)
		}
	}
	// A merge: only the fields given change; the threshold applies at once.
	r := admin.do("PUT", "/api/v1/settings", `{"invoice_validation_threshold":{"amount":500,"currency":"EUR"},"expense_policy":{"max_receipt_bytes":2048}}`)
	if r.status != 200 {
		t.Fatalf("change settings: %d %s", r.status, r.body)
	}
	s = r.json(t)
	if s["time_zone"] != "UTC" || s["expense_policy"].(map[string]any)["max_receipt_bytes"].(float64) != 2048 ||
		len(s["expense_policy"].(map[string]any)["categories"].([]any)) == 0 {
		t.Fatalf("merged settings %v", s)
	}
	id, _ := create(t, fin, 1000) // 30.00 is now above the 5.00 threshold
	if r := fin.do("POST", "/api/v1/invoices/"+id+"/issue", ""); r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	hist := fin.do("GET", "/api/v1/invoices/"+id+"/history", "").json(t)["items"].([]any)
	if hist[len(hist)-1].(map[string]any)["type"] != "invoice.submitted_for_validation.v1" {
		t.Fatalf("the new threshold did not apply: %v", hist[len(hist)-1])
	}
}

// TestHundredTenants provisions 100 tenants one after another through the
// admin API and uses each at once: its first admin logs in, drafts an
// invoice, reads it back; nothing of the others is visible.
func TestHundredTenants(t *testing.T) {
	app := newApp(t)
	root := as(t, app, "", "root", "platform_admin")
	for i := range 100 {
		slug := fmt.Sprintf("co%03d", i)
		r := root.do("POST", "/admin/v1/tenants", fmt.Sprintf(`{"slug":%q,"name":"Company %d","admin":{"email":"admin@%s.example","name":"Admin","password":"a good password"}}`, slug, i, slug))
		if r.status != 201 {
			t.Fatalf("provision %s: %d %s", slug, r.status, r.body)
		}
		tok, lr := loginAs(t, as(t, app, slug, "", ""), "admin@"+slug+".example", "a good password")
		if lr.status != 200 {
			t.Fatalf("login on %s: %d %s", slug, lr.status, lr.body)
		}
		c := caller{t: t, app: app, tenant: slug, token: tok.access}
		// The admin adds a finance member, who drafts an invoice.
		if r := c.do("POST", "/api/v1/users", `{"email":"fin@x.example","name":"Fin","password":"a good password","roles":["finance"]}`); r.status != 201 {
			t.Fatalf("add member on %s: %d %s", slug, r.status, r.body)
		}
		fin := as(t, app, slug, "fin-"+slug, "finance")
		_, pos := create(t, fin, 100+i)
		items := fin.do("GET", "/api/v1/invoices", "", "X-Read-After", pos).json(t)["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("%s lists %d invoices, want its own 1", slug, len(items))
		}
	}
	if n := len(root.do("GET", "/admin/v1/tenants", "").json(t)["items"].([]any)); n != 102 {
		t.Fatalf("%d tenants listed, want 102", n)
	}
}

func TestChangeDomains(t *testing.T) {
	app := newApp(t)
	root := as(t, app, "", "root", "platform_admin")
	r := root.do("PUT", "/admin/v1/tenants/acme/domains", `{"domains":["pay.acme.example"]}`)
	if r.status != 200 || r.json(t)["domains"].([]any)[0] != "pay.acme.example" {
		t.Fatalf("change domains: %d %s", r.status, r.body)
	}
	anon := as(t, app, "", "", "")
	if b := anon.do("GET", "/api/v1/branding", "", "Host", "pay.acme.example"); b.status != 200 || b.json(t)["tenant"] != "acme" {
		t.Fatalf("new domain: %d %s", b.status, b.body)
	}
	if code := problemCode(t, anon.do("GET", "/api/v1/branding", "", "Host", "billing.acme.example"), 400); code != "tenant_required" {
		t.Fatalf("released domain still served: %s", code)
	}
	// The released domain can be claimed by another tenant; a held one cannot.
	if r := root.do("PUT", "/admin/v1/tenants/globex/domains", `{"domains":["billing.globex.example","billing.acme.example"]}`); r.status != 200 {
		t.Fatalf("claim a released domain: %d %s", r.status, r.body)
	}
	if code := problemCode(t, root.do("PUT", "/admin/v1/tenants/globex/domains", `{"domains":["pay.acme.example"]}`), 422); code != "domain_taken" {
		t.Fatalf("claim a held domain: %s", code)
	}
	if code := problemCode(t, as(t, app, "acme", "u", "admin").do("PUT", "/admin/v1/tenants/acme/domains", `{"domains":[]}`), 403); code != "tenant_mismatch" {
		t.Fatalf("a tenant token on an admin route: %s", code)
	}
	// A token presented on the public branding route must be the tenant's too.
	tok := mint(t, app, "acme", "u-a", []user.Role{user.Admin})
	if code := problemCode(t, caller{t: t, app: app, tenant: "globex", token: tok}.do("GET", "/api/v1/branding", ""), 403); code != "tenant_mismatch" {
		t.Fatalf("acme token on globex branding: %s", code)
	}
}

// TestRebuildReadModel empties acme's invoice list and replays it from the
// events, while globex goes on being served.
func TestRebuildReadModel(t *testing.T) {
	app := newApp(t)
	root := as(t, app, "", "root", "platform_admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	gfin := as(t, app, "globex", "u-gfin", "finance")
	var ids []string
	for i := range 5 {
		id, _ := create(t, fin, 1000+i)
		ids = append(ids, id)
	}
	pos := position(t, fin.do("POST", "/api/v1/invoices/"+ids[0]+"/issue", ""))
	r := root.do("POST", "/admin/v1/tenants/acme/projections/invoicelist/rebuild", "")
	if r.status != 202 {
		t.Fatalf("rebuild: %d %s", r.status, r.body)
	}
	// Globex is served throughout.
	if _, gp := create(t, gfin, 500); gfin.do("GET", "/api/v1/invoices", "", "X-Read-After", gp).status != 200 {
		t.Fatal("globex not served during acme's rebuild")
	}
	items := fin.do("GET", "/api/v1/invoices", "", "X-Read-After", pos).json(t)["items"].([]any)
	if len(items) != 5 {
		t.Fatalf("%d invoices after the rebuild, want 5", len(items))
	}
	inv := fin.do("GET", "/api/v1/invoices/"+ids[0], "").json(t)
	if inv["status"] != "issued" || inv["number"] != "INV-2026-000001" {
		t.Fatalf("rebuilt invoice %v", inv)
	}
	// The progress a rebuild is followed by: every read model of acme at
	// the head of its log, which is acme's alone.
	prog := root.do("GET", "/admin/v1/tenants/acme/projections", "").json(t)
	models, _ := prog["read_models"].([]any)
	if prog["tenant"] != "acme" || num(prog["head"]) != pos || len(models) < 5 {
		t.Fatalf("progress %v (head want %v)", prog, pos)
	}
	seen := map[string]bool{}
	for _, m := range models {
		m := m.(map[string]any)
		seen[m["name"].(string)] = true
		if num(m["position"]) != pos || m["behind"] != float64(0) {
			t.Fatalf("read model %v of %v: not at the head %v", m, prog, pos)
		}
	}
	if !seen["invoicelist"] || !seen["memberlist"] {
		t.Fatalf("read models %v", prog)
	}
	if code := problemCode(t, root.do("GET", "/admin/v1/tenants/hooli/projections", ""), 404); code != "tenant_not_found" {
		t.Fatalf("progress of no tenant: %s", code)
	}
	if code := problemCode(t, as(t, app, "acme", "u", "admin").do("GET", "/admin/v1/tenants/acme/projections", ""), 403); code != "tenant_mismatch" {
		t.Fatalf("a tenant admin reading progress: %s", code)
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/admin/v1/tenants/acme/projections/nothing/rebuild", 404, "read_model_not_found"},
		{"/admin/v1/tenants/hooli/projections/invoicelist/rebuild", 404, "tenant_not_found"},
	} {
		if code := problemCode(t, root.do("POST", tc.path, ""), tc.status); code != tc.code {
			t.Errorf("%s: %s", tc.path, code)
		}
	}
	if code := problemCode(t, as(t, app, "acme", "u", "admin").do("POST", "/admin/v1/tenants/acme/projections/invoicelist/rebuild", ""), 403); code != "tenant_mismatch" {
		t.Fatalf("a tenant admin rebuilding: %s", code)
	}
}

// TestTenantsHealth: a platform administrator sees every tenant's state,
// projection and poisoned events, each counted for its own tenant; a
// tenant's admin does not.
func TestTenantsHealth(t *testing.T) {
	app, st := newStackApp(t)
	root := as(t, app, "", "root", "platform_admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	_, pos := create(t, fin, 100)
	if r := fin.do("GET", "/api/v1/invoices", "", "X-Read-After", pos); r.status != 200 {
		t.Fatalf("read after: %d %s", r.status, r.body)
	}
	// An event acme's projector could not apply, as the poison queue keeps it.
	js, err := natsjs.New(st.NC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), "poison.acme", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if r := root.do("POST", "/admin/v1/tenants/globex/suspend", `{"reason":"test"}`); r.status != 200 {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	r := root.do("GET", "/admin/v1/health", "")
	if r.status != 200 {
		t.Fatalf("health: %d %s", r.status, r.body)
	}
	got := map[string]map[string]any{}
	for _, it := range r.json(t)["items"].([]any) {
		m := it.(map[string]any)
		got[m["tenant"].(string)] = m
	}
	acme, globex := got["acme"], got["globex"]
	if acme == nil || globex == nil {
		t.Fatalf("health %s", r.body)
	}
	if acme["projected"] != "here" || acme["subscribed"] != true || num(acme["position"]) != pos || acme["lag"] != float64(0) || acme["poisoned"] != float64(1) || acme["suspended"] != false {
		t.Fatalf("acme's health %v (position want %s)", acme, pos)
	}
	if globex["suspended"] != true || globex["poisoned"] != float64(0) {
		t.Fatalf("globex's health %v", globex)
	}
	if code := problemCode(t, as(t, app, "acme", "u", "admin").do("GET", "/admin/v1/health", ""), 403); code != "tenant_mismatch" {
		t.Fatalf("a tenant admin reading health: %s", code)
	}
}
