package http_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestHomePages: / on a tenant's host shows that tenant's branding, escaped,
// and no other tenant's; without a tenant, the platform's page; an unknown
// host is 404. The pages run no script and cannot be framed.
func TestHomePages(t *testing.T) {
	app := newApp(t)
	admin := as(t, app, "acme", "u-admin", "admin")
	if r := admin.do("PUT", "/api/v1/branding", `{"name":"Acme <b>&</b> Sons","logo_url":"https://cdn.acme.example/logo.png","primary_color":"#123456"}`); r.status != 200 {
		t.Fatalf("branding: %d %s", r.status, r.body)
	}
	nobody := as(t, app, "", "", "")
	r := nobody.do("GET", "/", "", "Host", "acme.atrium.test")
	page := string(r.body)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("acme's page: %d %s %s", r.status, r.header.Get("Content-Type"), page)
	}
	for _, want := range []string{"<title>Acme &lt;b&gt;&amp;&lt;/b&gt; Sons</title>", `src="https://cdn.acme.example/logo.png"`, "background: #123456", "tenant <code>acme</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("acme's page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<b>") || strings.Contains(page, "globex") || strings.Contains(page, "<script") {
		t.Errorf("acme's page holds markup of a tenant's, another tenant, or a script:\n%s", page)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("acme's page policy %q, frames %q", csp, r.header.Get("X-Frame-Options"))
	}
	g := nobody.do("GET", "/", "", "Host", "globex.atrium.test")
	if g.status != 200 || strings.Contains(string(g.body), "Acme") || !strings.Contains(string(g.body), "tenant <code>globex</code>") {
		t.Fatalf("globex's page: %d %s", g.status, g.body)
	}
	p := nobody.do("GET", "/", "", "Host", "atrium.test")
	if p.status != 200 || !strings.Contains(string(p.body), "<h1>Atrium</h1>") {
		t.Fatalf("the platform's page: %d %s", p.status, p.body)
	}
	if u := nobody.do("GET", "/", "", "Host", "hooli.atrium.test"); u.status != 404 {
		t.Fatalf("an unknown tenant's page: %d %s", u.status, u.body)
	}
}

// TestPublicPagesUnderFlood: anyone may ask for / and /openapi.json, so
// many at once: every answer is whole (200, or 404 for a tenant nobody
// has), never a 5xx, and the description is built once, the same bytes
// for everyone.
func TestPublicPagesUnderFlood(t *testing.T) {
	app := newApp(t)
	type answer struct {
		path   string
		status int
		body   string
	}
	out := make(chan answer, 64)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				path, host := "/", []string{"acme.atrium.test", "globex.atrium.test", "atrium.test", "nobody.atrium.test"}[(w+i)%4]
				if i%2 == 0 {
					path = "/openapi.json"
				}
				req := httptest.NewRequest("GET", path, nil)
				req.Host = host
				resp, err := app.Test(req, 30_000)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				out <- answer{path, resp.StatusCode, string(b)}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	specs := map[string]bool{}
	n := 0
	for a := range out {
		n++
		switch {
		case a.status >= 500:
			t.Fatalf("%s answered %d: %s", a.path, a.status, a.body)
		case a.path == "/openapi.json" && a.status == 200:
			specs[a.body] = true
		case a.path == "/" && a.status != 200 && a.status != 404:
			t.Fatalf("/ answered %d: %s", a.status, a.body)
		}
	}
	if n != 32*40 || len(specs) != 1 {
		t.Fatalf("%d answers, %d different descriptions", n, len(specs))
	}
}
