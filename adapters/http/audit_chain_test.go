package http_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/auth"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/modules"
	"github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections/auditchain"
)

// withHeadEvery records a chain head every n events.
func withHeadEvery(n uint64) func(*assembly.Config) {
	return func(c *assembly.Config) { c.AuditHeadEvery = n }
}

// verifyAnswer is GET /api/v1/audit/verify's answer.
type verifyAnswer struct {
	OK               bool                 `json:"ok"`
	Events           uint64               `json:"events"`
	Head             *auditchain.HeadView `json:"head"`
	FirstBadPosition *uint64              `json:"first_bad_position"`
	Problem          string               `json:"problem"`
	Chained          uint64               `json:"chained"`
	HeadsChecked     int                  `json:"heads_checked"`
}

func verify(t *testing.T, c caller) verifyAnswer {
	t.Helper()
	r := c.do("GET", "/api/v1/audit/verify", "")
	if r.status != 200 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	var v verifyAnswer
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAuditVerifyAndExport: a tenant's log checks against its chain, with
// its recorded heads, by the tenant's auditors and admins only; an export
// of it verifies offline, and an export changed by one byte does not.
func TestAuditVerifyAndExport(t *testing.T) {
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 5 * time.Second}, withHeadEvery(5))
	acme := as(t, app, "acme", "admin-a", "admin")
	var pos string
	for i := range 12 {
		_, pos = create(t, acme, 100+i)
	}
	// Every event projected (the chain is a read model like the others).
	if r := acme.do("GET", "/api/v1/invoices", "", "X-Read-After", pos); r.status != 200 {
		t.Fatalf("read after: %d", r.status)
	}
	auditor := as(t, app, "acme", "auditor-a", "auditor")
	var v verifyAnswer
	// The heads are recorded after their positions are committed, by a
	// recorder of their own: wait for the two that 12 invoices make.
	for deadline := time.Now().Add(20 * time.Second); ; {
		v = verify(t, auditor)
		if v.HeadsChecked >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the recorder runs on its own
	}
	if !v.OK || v.FirstBadPosition != nil || v.Events < 13 || v.Chained < 12 || v.HeadsChecked < 2 || v.Head == nil {
		t.Fatalf("verify: %+v", v)
	}
	// Another tenant's check is of its own log; roles without access and
	// anonymous callers are refused.
	if g := verify(t, as(t, app, "globex", "admin-g", "admin")); !g.OK || g.Events >= v.Events {
		t.Fatalf("globex's verify: %+v against acme's %+v", g, v)
	}
	if code := problemCode(t, as(t, app, "acme", "fin-a", "finance").do("GET", "/api/v1/audit/verify", ""), 403); code != "forbidden" {
		t.Fatal(code)
	}
	if r := as(t, app, "acme", "", "").do("GET", "/api/v1/audit/verify", ""); r.status != 401 {
		t.Fatalf("anonymous verify: %d", r.status)
	}

	// The export: a header, then every event with its link.
	r := auditor.do("GET", "/api/v1/audit/export", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("export: %d %v", r.status, r.header)
	}
	lines := bytes.Split(bytes.TrimSpace(r.body), []byte("\n"))
	if uint64(len(lines)) < v.Events+1 {
		t.Fatalf("export of %d lines for %d events", len(lines), v.Events)
	}
	keys := platformKeys(t, app)
	chk, err := audit.VerifyExport(bytes.NewReader(r.body), keys)
	if err != nil || !chk.OK || chk.Header.Tenant != "acme" || chk.HeadsChecked < 2 || chk.Events != uint64(len(lines)-2) || chk.SignedBy == "" {
		t.Fatalf("offline verify: %v %+v", err, chk)
	}
	// Changed, with every hash recomputed: the chain holds (anyone can
	// recompute one), the platform's signature does not.
	forged := forge(t, lines, "Consulting", "Consultinh")
	if chk, err := audit.VerifyExport(bytes.NewReader(forged), nil); err != nil || !chk.OK {
		t.Fatalf("a forged export, without keys: %v %+v", err, chk)
	}
	if _, err := audit.VerifyExport(bytes.NewReader(forged), keys); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("a forged export, with the platform's keys: %v", err)
	}
	// Cut short (no last line), or stripped of its links: refused.
	cut := bytes.Join(lines[:len(lines)-1], []byte("\n"))
	if _, err := audit.VerifyExport(bytes.NewReader(cut), keys); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("an export cut short: %v", err)
	}
	var stripped [][]byte
	for _, l := range lines {
		if bytes.Contains(l, []byte(`"type":"`+auditchain.HeadType)) {
			continue
		}
		stripped = append(stripped, regexp.MustCompile(`"hash":"[0-9a-f]{64}"`).ReplaceAll(l, []byte(`"hash":""`)))
	}
	var lastKept audit.ExportLine
	if err := json.Unmarshal(stripped[len(stripped)-2], &lastKept); err != nil {
		t.Fatal(err)
	}
	stripped[len(stripped)-1] = []byte(fmt.Sprintf(`{"end":true,"events":%d,"last_position":%d,"last_hash":""}`, len(stripped)-2, lastKept.Position))
	if _, err := audit.VerifyExport(bytes.NewReader(bytes.Join(stripped, []byte("\n"))), nil); err == nil || !strings.Contains(err.Error(), "proves nothing") {
		t.Fatalf("an export without links: %v", err)
	}
	// The chain is evidence: it is never rebuilt from the log.
	root := as(t, app, "", "root", "platform_admin")
	if code := problemCode(t, root.do("POST", "/admin/v1/tenants/acme/projections/auditchain/rebuild", ""), 409); code != "read_model_not_rebuildable" {
		t.Fatal(code)
	}
	// One digit of one invoice's amount changed in the file.
	line := 0
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	var tampered bytes.Buffer
	var at uint64
	for sc.Scan() {
		b := sc.Bytes()
		if line > 0 && at == 0 && bytes.Contains(b, []byte(`"amount":105`)) {
			var l audit.ExportLine
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			at = l.Position
			b = bytes.Replace(b, []byte(`"amount":105`), []byte(`"amount":905`), 1)
		}
		tampered.Write(b)
		tampered.WriteByte('\n')
		line++
	}
	if at == 0 {
		t.Fatal("no invoice of 105 in the export")
	}
	chk, err = audit.VerifyExport(bytes.NewReader(tampered.Bytes()), keys)
	if err != nil || chk.OK || chk.FirstBadPosition == nil || *chk.FirstBadPosition != at {
		t.Fatalf("tampered export at %d: %v %+v", at, err, chk)
	}
	// Bounds: from before every event exports them all; to before every
	// event, none (a header only, which verifies).
	for q, want := range map[string]uint64{"from=" + clock().Add(-time.Hour).Format(time.RFC3339): v.Events, "to=" + clock().Add(-time.Hour).Format(time.RFC3339): 0} {
		r := auditor.do("GET", "/api/v1/audit/export?"+q, "")
		if chk, err := audit.VerifyExport(bytes.NewReader(r.body), keys); err != nil || !chk.OK || chk.Events < want || (want == 0 && chk.Events != 0) {
			t.Fatalf("export?%s: %v %+v", q, err, chk)
		}
	}
	if code := problemCode(t, auditor.do("GET", "/api/v1/audit/export?from=yesterday", ""), 400); code != "invalid_request" {
		t.Fatal(code)
	}
}

// TestAuditVerifyFindsAnEventChangedInTheStore changes one event of acme's
// log underneath, in the event store's own files (JetStream's message
// blocks, the server stopped), and finds the break at its position; the
// other tenant's log still verifies.
func TestAuditVerifyFindsAnEventChangedInTheStore(t *testing.T) {
	jetStreamOnly(t, "it changes an event in JetStream's files")
	dir := t.TempDir()
	app, st := newStackAppWith(t, atriumhttp.Config{Now: clock, ReadAfterMax: 5 * time.Second}, func(c *assembly.Config) { c.DataDir = dir })
	acme := as(t, app, "acme", "admin-a", "admin")
	var pos string
	for i := range 6 {
		name := fmt.Sprintf("Client %d", i)
		if i == 3 {
			name = "Tamper-Target"
		}
		r := acme.do("POST", "/api/v1/invoices", fmt.Sprintf(`{"client":{"id":"C-%d","name":%q},"currency":"EUR","due_date":"2026-10-01",
			"lines":[{"description":"Consulting","quantity":1,"unit_price":{"amount":1000,"currency":"EUR"}}]}`, i, name))
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		pos = position(t, r)
	}
	if r := acme.do("GET", "/api/v1/invoices", "", "X-Read-After", pos); r.status != 200 {
		t.Fatalf("read after: %d", r.status)
	}
	auditor := as(t, app, "acme", "auditor-a", "auditor")
	if v := verify(t, auditor); !v.OK {
		t.Fatalf("before: %+v", v)
	}
	var target uint64
	for _, e := range auditEvents(t, auditor) {
		if strings.Contains(string(e.Data), "Tamper-Target") {
			target = e.Position
		}
	}
	if target == 0 {
		t.Fatal("no event names the target")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// In the store's files: the client's name, one letter changed.
	changed := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".blk") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(b, []byte("Tamper-Target")); n > 0 {
			changed += n
			return os.WriteFile(path, bytes.ReplaceAll(b, []byte("Tamper-Target"), []byte("Tamper-Targex")), 0o600)
		}
		return nil
	})
	if err != nil || changed != 1 {
		t.Fatalf("changing the store's files: %v, %d places", err, changed)
	}

	app = reopenStack(t, dir)
	v := verify(t, as(t, app, "acme", "auditor-a", "auditor"))
	if v.OK || v.FirstBadPosition == nil || *v.FirstBadPosition != target {
		t.Fatalf("after the change at %d: %+v", target, v)
	}
	if g := verify(t, as(t, app, "globex", "admin-g", "admin")); !g.OK {
		t.Fatalf("globex: %+v", g)
	}
	t.Logf("changed at %d: %s", target, v.Problem)
}

// reopenStack opens the stack again on dir, as newStackApp made it.
func reopenStack(t *testing.T, dir string) *fiber.App {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st, err := assembly.Open(ctx, assembly.Config{DataDir: dir, Now: clock, BaseDomain: "atrium.test",
		HTTP: atriumhttp.Config{Now: clock, ReadAfterMax: 5 * time.Second}, Modules: modules.All(),
		Passwords: auth.Argon2{MemoryKiB: 1024, Passes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	stacks.Store(st.HTTP, st)
	return st.HTTP
}

// auditEvents is the caller's tenant's whole log.
func auditEvents(t *testing.T, c caller) []audit.Event {
	t.Helper()
	r := c.do("GET", "/api/v1/audit/events?limit=500", "")
	if r.status != 200 {
		t.Fatalf("audit events: %d %s", r.status, r.body)
	}
	var page struct{ Items []audit.Event }
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// TestAuditReplayAsOf: the tenant's read tables as they stood at a moment,
// in a SQLite file, rebuilt from its events; the live read database and
// other tenants untouched.
func TestAuditReplayAsOf(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := clock()
	now.Store(&start)
	moving := func() time.Time { return *now.Load() }
	app, _ := newStackAppWith(t, atriumhttp.Config{Now: moving, ReadAfterMax: 5 * time.Second}, func(c *assembly.Config) { c.Now = moving })
	acme := as(t, app, "acme", "admin-a", "admin")
	for i := range 3 {
		create(t, acme, 100+i)
	}
	later := start.Add(40 * time.Minute) // within the test sessions' hour
	now.Store(&later)
	acme = as(t, app, "acme", "admin-a", "admin") // the first token has expired
	var pos string
	for i := range 2 {
		_, pos = create(t, acme, 200+i)
	}
	if r := acme.do("GET", "/api/v1/invoices", "", "X-Read-After", pos); r.status != 200 {
		t.Fatalf("read after: %d", r.status)
	}
	auditor := as(t, app, "acme", "auditor-a", "auditor")
	count := func(c caller, asOf time.Time) int {
		t.Helper()
		r := c.do("GET", "/api/v1/audit/replay?as_of="+asOf.Format(time.RFC3339), "")
		if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.sqlite3" {
			t.Fatalf("replay as of %s: %d %s", asOf, r.status, clip(r.body))
		}
		path := filepath.Join(t.TempDir(), "replay.sqlite")
		if err := os.WriteFile(path, r.body, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		var members int
		if err := db.QueryRow(`SELECT COUNT(*) FROM members`).Scan(&members); err != nil || members == 0 {
			t.Fatalf("members as of %s: %d %v", asOf, members, err)
		}
		return n
	}
	for asOf, want := range map[time.Time]int{start.Add(20 * time.Minute): 3, later.Add(time.Minute): 5} {
		if n := count(auditor, asOf); n != want {
			t.Fatalf("as of %s: %d invoices, want %d", asOf, n, want)
		}
	}
	// An export of the later events alone starts from the link before them.
	r := auditor.do("GET", "/api/v1/audit/export?from="+start.Add(20*time.Minute).Format(time.RFC3339), "")
	chk, err := audit.VerifyExport(bytes.NewReader(r.body), platformKeys(t, app))
	if err != nil || !chk.OK || chk.Events < 2 || chk.Header.PrevHash == (auditchain.Hash{}).String() || chk.SignedBy == "" {
		t.Fatalf("a window: %v %+v", err, chk)
	}
	if n := count(as(t, app, "globex", "admin-g", "admin"), later.Add(time.Minute)); n != 0 {
		t.Fatalf("globex's replay holds %d invoices", n)
	}
	// The live read model is as it was.
	r = acme.do("GET", "/api/v1/invoices?limit=100", "")
	if n := len(r.json(t)["items"].([]any)); n != 5 {
		t.Fatalf("%d invoices live after the replays", n)
	}
	if code := problemCode(t, auditor.do("GET", "/api/v1/audit/replay?as_of=yesterday", ""), 400); code != "invalid_request" {
		t.Fatal(code)
	}
	if code := problemCode(t, auditor.do("GET", "/api/v1/audit/replay", ""), 400); code != "invalid_request" {
		t.Fatal(code)
	}
	if code := problemCode(t, as(t, app, "acme", "fin-a", "finance").do("GET", "/api/v1/audit/replay?as_of="+later.Format(time.RFC3339), ""), 403); code != "forbidden" {
		t.Fatal(code)
	}
}

// platformKeys are the keys the stack publishes at /.well-known/jwks.json.
func platformKeys(t *testing.T, app *fiber.App) map[string]ed25519.PublicKey {
	t.Helper()
	r := as(t, app, "", "", "").do("GET", "/.well-known/jwks.json", "")
	var set struct{ Keys []struct{ X, Kid string } }
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %v %s", err, r.body)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			t.Fatal(err)
		}
		keys[k.Kid] = x
	}
	return keys
}

// forge changes old to new in the export's events and recomputes every
// hash after it, the recorded heads' and the last line's too, as someone
// who knows the algorithm would; the signature is left as it was.
func forge(t *testing.T, lines [][]byte, old, new string) []byte {
	t.Helper()
	var hdr audit.ExportHeader
	if err := json.Unmarshal(lines[0], &hdr); err != nil {
		t.Fatal(err)
	}
	prev, err := auditchain.ParseHash(hdr.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{lines[0]}
	computed := map[uint64]string{}
	for _, b := range lines[1 : len(lines)-1] {
		var l audit.ExportLine
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		l.Data = json.RawMessage(strings.ReplaceAll(string(l.Data), old, new))
		if l.Type == auditchain.HeadType {
			var h struct {
				Position uint64    `json:"position"`
				Hash     string    `json:"hash"`
				At       time.Time `json:"at"`
			}
			if err := json.Unmarshal(l.Data, &h); err != nil {
				t.Fatal(err)
			}
			h.Hash = computed[h.Position]
			l.Data, _ = json.Marshal(h)
		}
		prev = auditchain.Link(prev, auditchain.Linked{ID: l.ID, Stream: l.Stream, Type: l.Type, Version: l.Version, Position: l.Position,
			RecordedAt: l.RecordedAt, Data: l.Data, Metadata: l.Metadata})
		l.Hash = prev.String()
		computed[l.Position] = l.Hash
		nb, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, nb)
	}
	var end audit.ExportTrailer
	if err := json.Unmarshal(lines[len(lines)-1], &end); err != nil {
		t.Fatal(err)
	}
	end.Hash = prev.String()
	eb, _ := json.Marshal(end)
	return bytes.Join(append(out, eb), []byte("\n"))
}

// An auditor's after that is no event's position: on a store whose
// positions are not every number (KurrentDB) it is 400 invalid_position,
// in a page and in a stream alike; on JetStream every number is one.
func TestAuditAfterNoEvent(t *testing.T) {
	app, _ := newStackApp(t)
	fin := as(t, app, "acme", "u-fin", "finance")
	_, pos := create(t, fin, 1000)
	create(t, fin, 1000)
	aud := as(t, app, "acme", "u-aud", "auditor")
	p, _ := strconv.ParseUint(pos, 10, 64)
	after := strconv.FormatUint(p+1, 10)
	for _, accept := range []string{"application/json", "application/x-ndjson"} {
		r := aud.do("GET", "/api/v1/audit/events?after="+after, "", "Accept", accept)
		if kurrentDBURL() == "" {
			if r.status != 200 {
				t.Fatalf("%s after %s on JetStream: %d %s", accept, after, r.status, r.body)
			}
			continue
		}
		if code := problemCode(t, r, 400); code != "invalid_position" {
			t.Fatalf("%s after %s: %s", accept, after, code)
		}
	}
}
