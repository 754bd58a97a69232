package http_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	natsjetstream "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/usage"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Offboarding from outside: the platform puts a tenant in read-only (its
// reads answer, its commands and its ERP's calls are 403
// tenant_read_only, writing nothing), then takes its archive: the whole
// log with its hash chain, its read tables and its documents, each entry
// in the manifest with its digest. Another tenant never notices. Only
// the platform offboards or archives.
func TestOffboardingReadOnlyAndArchive(t *testing.T) {
	// Requests counted for usage are written often: none is written into
	// a read-only tenant's log.
	app, st := newERPApp(t, func(c *assembly.Config) {
		c.Usage = assembly.UsageConfig{FlushEvery: 20 * time.Millisecond, SweepEvery: 50 * time.Millisecond, Grace: time.Minute}
	})
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	admin := as(t, app, "acme", "u-adm", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	gfin := as(t, app, "globex", "u-fin", "finance")
	id, _ := create(t, fin, 100)
	claim := draftClaim(t, fin, 1200)
	if r := fin.uploadWith("/api/v1/expenses/"+claim+"/receipt", "application/pdf", pdf(1)); r.status != 200 {
		t.Fatalf("receipt: %d %s", r.status, r.body)
	}
	if r := admin.do("POST", "/api/v1/users", `{"email":"pat@acme.example","name":"Pat","password":"correct horse battery","roles":["finance"]}`); r.status != 201 {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}
	if r := admin.do("PUT", "/api/v1/branding", `{"name":"Acme Offboarded Inc"}`); r.status != 200 {
		t.Fatalf("branding: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); problemCode(t, r, 409) != "tenant_not_read_only" {
		t.Fatalf("the archive of a live tenant: %d %s", r.status, r.body)
	}
	for _, c := range []caller{admin, as(t, app, "globex", "u-gadm", "admin")} {
		if r := c.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 401 && r.status != 403 {
			t.Fatalf("a tenant admin offboarded acme: %d %s", r.status, r.body)
		}
	}
	if r := root.do("POST", "/admin/v1/tenants/nonesuch/offboard", ""); r.status != 404 {
		t.Fatalf("an unknown tenant: %d %s", r.status, r.body)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 || r.json(t)["read_only"] != true {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 {
		t.Fatalf("offboard again: %d %s", r.status, r.body)
	}

	// Read-only: reads answer, writes are refused before anything is done.
	ctx := tenant.With(context.Background(), "acme")
	before, err := st.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := fin.do("GET", "/api/v1/invoices/"+id, ""); r.status != 200 {
		t.Fatalf("a read: %d %s", r.status, r.body)
	}
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/api/v1/invoices", fmt.Sprintf(invoiceBody, 1)},
		{"POST", "/api/v1/invoices/" + id + "/issue", ""},
		{"PUT", "/api/v1/branding", `{"name":"x"}`},
		{"POST", "/api/v1/users", `{"email":"x@acme.example","name":"X","password":"correct horse battery","roles":["finance"]}`},
		{"DELETE", "/api/v1/erp/connection", ""},
	} {
		if code := problemCode(t, admin.do(w.method, w.path, w.body), 403); code != "tenant_read_only" {
			t.Fatalf("%s %s on a read-only tenant: %s", w.method, w.path, code)
		}
	}
	if r := fin.uploadWith("/api/v1/expenses/"+claim+"/receipt", "application/pdf", pdf(2)); problemCode(t, r, 403) != "tenant_read_only" {
		t.Fatalf("a receipt on a read-only tenant: %d %s", r.status, r.body)
	}
	// Below the API too: a command that got past its checks before the
	// tenant was made read-only (one that waited) is refused as it appends.
	inProcess := user.With(ctx, user.Principal{ID: "u-fin", Roles: []user.Role{user.Finance}})
	if _, err := invoicecmd.NewHandler(st.Commands, eurOnly{}, noMembers{}, clock).Create(inProcess, invoicecmd.CreateInvoice{
		Client: invoicecmd.Client{ID: "C-1", Name: "Northwind"}, Currency: "EUR", DueDate: "2026-12-31",
		Lines: []invoicecmd.Line{{Description: "Late", Quantity: 1, UnitPrice: money.New(100, "EUR")}},
	}); !errors.Is(err, &domain.Error{Code: "tenant_read_only"}) {
		t.Fatalf("an in-process command on a read-only tenant: %v", err)
	}
	// Nor is a document stored (an upload under way), nor a read model
	// rebuilt under the archive.
	if _, err := st.Documents.Put(ctx, "late.pdf", "application/pdf", bytes.NewReader(pdf(3)), int64(len(pdf(3)))); !errors.Is(err, &domain.Error{Code: "tenant_read_only"}) {
		t.Fatalf("a document stored in process on a read-only tenant: %v", err)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/projections/invoicelist/rebuild", ""); problemCode(t, r, 403) != "tenant_read_only" {
		t.Fatalf("a rebuild of a read-only tenant: %d %s", r.status, r.body)
	}
	if r := inbound(t, app, "acme", acmeSecret, clock(), `{"type":"payment.received"}`); r.status != 401 && problemCode(t, r, 403) != "tenant_read_only" {
		t.Fatalf("the ERP's call on a read-only tenant: %d %s", r.status, r.body)
	}
	// Nor does signing in write: an invitee's first sign-in would record
	// that she joined; another tenant's token is recorded in its own log
	// only.
	if r := (caller{t: t, app: app, tenant: "acme"}).do("POST", "/api/v1/auth/login", `{"email":"pat@acme.example","password":"correct horse battery"}`); problemCode(t, r, 403) != "tenant_read_only" {
		t.Fatalf("an invitee's first sign-in on a read-only tenant: %d %s", r.status, r.body)
	}
	cross := gfin
	cross.tenant = "acme"
	if r := cross.do("GET", "/api/v1/invoices", ""); problemCode(t, r, 403) != "tenant_mismatch" {
		t.Fatalf("globex's token at acme: %d %s", r.status, r.body)
	}
	time.Sleep(200 * time.Millisecond) // ten flushes of the requests counted
	if after, _ := st.Store.Head(ctx); after != before {
		t.Fatalf("a read-only tenant's log moved: %d, was %d", after, before)
	}
	if _, pos := create(t, gfin, 100); pos == "" {
		t.Fatal("globex wrote nothing")
	}

	// The archive: complete, its digests true.
	r := root.do("GET", "/admin/v1/tenants/acme/archive", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("archive: %d %v %.200s", r.status, r.header, r.body)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		// Every entry, the manifest too, is dated when the archive was made.
		if f.Modified.Year() < 2026 {
			t.Fatalf("%s is dated %s", f.Name, f.Modified)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
	}
	var m struct {
		Tenant    string            `json:"tenant"`
		Events    uint64            `json:"events"`
		Documents int               `json:"documents"`
		Entries   map[string]string `json:"entries"`
	}
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || m.Tenant != "acme" || m.Documents != 1 || m.Events == 0 {
		t.Fatalf("manifest: %v %s", err, files["manifest.json"])
	}
	for name, digest := range m.Entries {
		sum := sha256.Sum256(files[name])
		if hex.EncodeToString(sum[:]) != digest {
			t.Fatalf("%s's digest differs from the manifest's", name)
		}
	}
	events := strings.Split(strings.TrimSpace(string(files["events.ndjson"])), "\n")
	if uint64(len(events)) != m.Events+2 || !strings.Contains(events[len(events)-1], `"signature"`) || strings.Contains(string(files["events.ndjson"]), "globex.") {
		t.Fatalf("events: %d lines for %d events; last %s", len(events), m.Events, events[len(events)-1])
	}
	if !strings.Contains(string(files["tenant.json"]), "Acme Offboarded Inc") {
		t.Fatalf("the archive's tenant.json: %s", files["tenant.json"])
	}
	if !strings.Contains(string(files["events.ndjson"]), id) || !bytes.HasPrefix(files["read-tables.sqlite"], []byte("SQLite format 3")) {
		t.Fatal("the archive lacks the invoice or the read tables")
	}
	var doc []byte
	for name, b := range files {
		if strings.HasPrefix(name, "documents/") {
			doc = b
		}
	}
	if !bytes.Equal(doc, pdf(1)) {
		t.Fatalf("the receipt archived: %q", doc)
	}
	if r := admin.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 401 && r.status != 403 {
		t.Fatalf("a tenant admin took the archive: %d", r.status)
	}
}

// Deleting an offboarded tenant, proven from every store: after the
// confirmation, no stream, bucket, key, subject, file or directory of the
// embedded engines names the tenant, its slug stays taken (a tombstone),
// and the other tenant kept everything.
func TestOffboardingDeletesEverythingOfTheTenant(t *testing.T) {
	if kurrentDBURL() != "" {
		t.Skip("deleting a tenant's events is built for JetStream only (README, Offboarding)")
	}
	app, st := newERPApp(t)
	root := caller{t: t, app: app, token: mint(t, app, "", "root", []user.Role{user.PlatformAdmin})}
	admin := as(t, app, "acme", "u-adm", "admin")
	fin := as(t, app, "acme", "u-fin", "finance")
	gfin := as(t, app, "globex", "u-fin", "finance")
	rcv := newReceiver(t, acmeSecret)
	if r := connectWebhook(t, admin, rcv.url(), acmeSecret, "invoice"); r.status != 200 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	create(t, fin, 100)
	claim := draftClaim(t, fin, 1200)
	if r := fin.uploadWith("/api/v1/expenses/"+claim+"/receipt", "application/pdf", pdf(1)); r.status != 200 {
		t.Fatalf("receipt: %d %s", r.status, r.body)
	}
	if _, r := loginAs(t, caller{t: t, app: app, tenant: "acme"}, "admin@acme.example", "first admin password"); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	gid, _ := create(t, gfin, 100)
	eventually(t, "acme's ERP message", func() bool { return len(rcv.messages()) > 0 })

	// Refused: a live tenant, a wrong confirmation, a tenant admin.
	if r := root.do("POST", "/admin/v1/tenants/globex/offboard", `{"confirm":"globex"}`); problemCode(t, r, 409) != "tenant_not_read_only" {
		t.Fatalf("deleting a live tenant: %d %s", r.status, r.body)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", ""); r.status != 200 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"globex"}`); problemCode(t, r, 400) != "confirmation_required" {
		t.Fatalf("a wrong confirmation: %d %s", r.status, r.body)
	}
	if r := admin.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); r.status != 401 && r.status != 403 {
		t.Fatalf("a tenant admin deleted: %d %s", r.status, r.body)
	}
	// Not before its archive was taken, nor once its log moved since (a
	// write by an instance that had not yet heard it was read-only).
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); problemCode(t, r, 409) != "archive_required" {
		t.Fatalf("a deletion before the archive: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 200 {
		t.Fatalf("archive: %d", r.status)
	}
	if err := writeLate(st, "acme"); err != nil {
		t.Fatal(err)
	}
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); problemCode(t, r, 409) != "archive_stale" {
		t.Fatalf("a deletion after the log moved: %d %s", r.status, r.body)
	}
	if r := root.do("GET", "/admin/v1/tenants/acme/archive", ""); r.status != 200 {
		t.Fatalf("the archive taken again: %d", r.status)
	}
	sq, embedded := st.Reads.(*sqlite.Store)
	if embedded {
		if _, err := os.Stat(sq.Path("acme")); err != nil {
			t.Fatalf("acme's read database before its deletion: %v", err)
		}
	}
	r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`)
	if r.status != 200 || r.json(t)["deleted"] != true {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	// Asked again, what remains is deleted: nothing.
	if r := root.do("POST", "/admin/v1/tenants/acme/offboard", `{"confirm":"acme"}`); r.status != 200 || r.json(t)["deleted"] != true {
		t.Fatalf("delete again: %d %s", r.status, r.body)
	}

	// Its slug is never given again, and asking writes nothing (checked
	// below with the rest).
	if r := root.do("POST", "/admin/v1/tenants", `{"slug":"acme","name":"New Acme","domains":[],"settings":{"currency":"EUR"},"admin":{"email":"x@acme.example","name":"X","password":"a long enough password"}}`); problemCode(t, r, 409) != "tenant_exists" || !strings.Contains(string(r.body), "was deleted") {
		t.Fatalf("the slug given again: %d %s", r.status, r.body)
	}
	// Its record is a tombstone: the platform's changes find no tenant, and
	// write nothing (checked below with the rest).
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/admin/v1/tenants/acme/suspend", `{"reason":"late"}`},
		{"POST", "/admin/v1/tenants/acme/resume", ``},
		{"PUT", "/admin/v1/tenants/acme/limits", `{"requests_per_second":5,"burst":5,"concurrent_requests":1}`},
		{"PUT", "/admin/v1/tenants/acme/plan", `{"plan":""}`},
		{"PUT", "/admin/v1/tenants/acme/domains", `{"domains":["zombie.example"]}`},
		{"POST", "/admin/v1/tenants/acme/offboard", `{}`},
	} {
		if r := root.do(c.method, c.path, c.body); problemCode(t, r, 404) != "tenant_not_found" {
			t.Fatalf("%s %s of a deleted tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}

	// Nothing of acme in NATS: no stream or bucket of its own, no subject
	// of it in the shared streams, no key of it in the shared buckets.
	ctx := context.Background()
	js, err := natsjetstream.New(st.NC)
	if err != nil {
		t.Fatal(err)
	}
	for name := range js.StreamNames(ctx).Name() {
		if strings.Contains(strings.ToLower(name), "acme") {
			t.Fatalf("stream %s remains", name)
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, natsjetstream.WithSubjectFilter(">"))
		if err != nil {
			t.Fatal(err)
		}
		for subject := range info.State.Subjects {
			// The platform log keeps the catalog's record of acme, its
			// tombstone ("platform.tenant-acme"): nothing else may name it.
			if strings.Contains(subject, "acme") && !strings.HasSuffix(subject, ".tenant.acme") {
				t.Fatalf("stream %s still holds %s", name, subject)
			}
		}
	}
	// Nothing of acme on disk: no file or directory names it.
	if !embedded {
		t.Skip("the rest checks the embedded read store's files")
	}
	data := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(sq.Path("acme")))))
	globexSeen := false // the walk sees the tenants' files: globex's are there
	if err := filepath.WalkDir(data, func(path string, _ fs.DirEntry, err error) error {
		name := strings.ToLower(filepath.Base(path))
		globexSeen = globexSeen || strings.Contains(name, "globex")
		if err == nil && strings.Contains(name, "acme") {
			return fmt.Errorf("%s remains", path)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !globexSeen {
		t.Fatalf("no file under %s names globex: the walk proves nothing", data)
	}

	// Its hosts answer nothing; globex noticed nothing.
	if r := (caller{t: t, app: app, tenant: "acme"}).do("POST", "/api/v1/auth/login", `{"email":"admin@acme.example","password":"first admin password"}`); r.status != 404 {
		t.Fatalf("a deleted tenant's login: %d %s", r.status, r.body)
	}
	if strings.Contains(string(root.do("GET", "/admin/v1/tenants", "").body), `"acme"`) {
		t.Fatal("the deleted tenant is listed")
	}
	// Its custom domain is free for another company.
	if r := root.do("PUT", "/admin/v1/tenants/globex/domains", `{"domains":["billing.globex.example","billing.acme.example"]}`); r.status != 200 {
		t.Fatalf("acme's released domain taken by globex: %d %s", r.status, r.body)
	}
	if r := gfin.do("GET", "/api/v1/invoices/"+gid, ""); r.status != 200 {
		t.Fatalf("globex's invoice: %d %s", r.status, r.body)
	}
	create(t, gfin, 200)
	if _, r := loginAs(t, caller{t: t, app: app, tenant: "globex"}, "admin@globex.example", "first admin password"); r.status != 200 {
		t.Fatalf("globex's login: %d %s", r.status, r.body)
	}
}

// eurOnly is an invoice policy of EUR alone, for commands run in process.
type eurOnly struct{}

func (eurOnly) InvoicePolicy(context.Context) (invoice.Policy, error) {
	return invoice.Policy{Thresholds: map[money.Currency]money.Money{"EUR": money.New(1_000_000, "EUR")}}, nil
}

// noMembers answers that nobody is a member, for commands that name none.
type noMembers struct{}

func (noMembers) Roles(context.Context, string) ([]user.Role, bool, error) { return nil, false, nil }

// writeLate appends to tenant tn's log what an instance that has not yet
// applied its offboarding may still write: requests it counted. It
// bypasses the process's read-only guard, as that instance's would.
func writeLate(st *assembly.Process, tn tenant.ID) error {
	late, err := streams.NewName(tn, usage.Category, "2026-11-23")
	if err != nil {
		return err
	}
	typ, data, err := st.Registry.Encode(usage.RequestsCounted{Day: "2026-11-23", Requests: 1, Instance: "another"})
	if err != nil {
		return err
	}
	_, err = st.Store.Append(tenant.With(context.Background(), tn), late, streams.Any, streams.EventData{ID: uuid.New(), Type: typ, Data: data,
		Metadata: streams.Metadata{Tenant: tn, UserID: "atrium"}})
	return err
}
