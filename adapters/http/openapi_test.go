package http_test

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gofiber/fiber/v2"
)

func init() {
	// The answers that are files or pages: their bytes are not JSON.
	for _, media := range []string{"application/vnd.sqlite3", "application/pdf", "image/png", "image/jpeg", "text/html", "application/x-ndjson", "application/octet-stream"} {
		openapi3filter.RegisterBodyDecoder(media, openapi3filter.FileBodyDecoder)
	}
}

// described is an app's /openapi.json, loaded and validated once.
type described struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

var (
	descriptionsMu sync.Mutex
	descriptions   = map[*fiber.App]*described{}
)

// description loads app's /openapi.json once.
func description(t *testing.T, app *fiber.App) *described {
	t.Helper()
	descriptionsMu.Lock()
	defer descriptionsMu.Unlock()
	if d, ok := descriptions[app]; ok {
		return d
	}
	d := &described{}
	descriptions[app] = d
	resp, err := app.Test(httptest.NewRequest("GET", "/openapi.json", nil), 30_000)
	if err != nil {
		d.err = err
		return d
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/openapi.json: %d %s", resp.StatusCode, b)
	}
	loader := openapi3.NewLoader()
	if d.doc, d.err = loader.LoadFromData(b); d.err != nil {
		return d
	}
	if d.err = d.doc.Validate(context.Background()); d.err != nil {
		return d
	}
	d.router, d.err = legacy.NewRouter(d.doc)
	return d
}

// checkAnswer validates an answer of app against its description: a
// route it describes answers a status it lists, with a body of the schema
// it gives. Requests the tests send on purpose to no route (404, 405) are
// not described.
func checkAnswer(t *testing.T, app *fiber.App, req *nethttp.Request, status int, header nethttp.Header, body []byte) {
	t.Helper()
	d := description(t, app)
	if d.err != nil {
		t.Fatalf("/openapi.json: %v", d.err)
	}
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host = "", ""
	head := r.Method == nethttp.MethodHead
	if head {
		r.Method = nethttp.MethodGet // a GET's answer without its body
	}
	route, params, err := d.router.FindRoute(r)
	if err != nil {
		// A path no route has (404, 405), or one no client should send
		// (dot segments, refused 4xx).
		if status < 400 || status >= 500 {
			t.Errorf("%s %s answered %d but is not in /openapi.json: %v", req.Method, req.URL.Path, status, err)
		}
		return
	}
	// A request the server accepted is one the description allows.
	if status < 400 && !head {
		rin := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), rin); err != nil {
			t.Errorf("%s %s was answered %d but is not a request /openapi.json allows: %v", req.Method, req.URL.Path, status, err)
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: head},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s answered %d, not as /openapi.json says: %v\n%s", req.Method, req.URL.Path, status, err, clip(body))
	}
}

func clip(b []byte) []byte {
	if len(b) > 600 {
		return append(b[:600:600], "..."...)
	}
	return b
}

// TestOpenAPIDescribesEveryRoute: /openapi.json is a valid OpenAPI 3.1
// document naming every route the server mounts, and nothing else.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	app, _ := newStackApp(t)
	d := description(t, app)
	if d.err != nil {
		t.Fatal(d.err)
	}
	if d.doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", d.doc.OpenAPI)
	}
	var mounted, described []string
	for _, r := range app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || r.Method == "CONNECT" || r.Method == "TRACE" || r.Method == "OPTIONS" {
			continue
		}
		mounted = append(mounted, r.Method+" "+openAPIPathOf(r.Path))
	}
	for path, item := range d.doc.Paths.Map() {
		for method := range item.Operations() {
			described = append(described, method+" "+path)
		}
	}
	slices.Sort(mounted)
	mounted = slices.Compact(mounted)
	slices.Sort(described)
	if !slices.Equal(mounted, described) {
		t.Fatalf("mounted and described routes differ:\nmounted   %v\ndescribed %v", mounted, described)
	}
	if len(described) < 50 {
		t.Fatalf("only %d routes described", len(described))
	}
	// Each says what it does, not only its method and path.
	for path, item := range d.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Summary == "" || op.Summary == method+" "+path || strings.HasPrefix(op.Summary, method+" /") {
				t.Errorf("%s %s has no summary of its own: %q", method, path, op.Summary)
			}
		}
	}
	// Fetched again by a client that has it: 304, nothing sent.
	anyone := as(t, app, "", "", "")
	first := anyone.do("GET", "/openapi.json", "")
	etag := first.header.Get("ETag")
	if first.status != 200 || etag == "" {
		t.Fatalf("/openapi.json: %d, ETag %q", first.status, etag)
	}
	if again := anyone.do("GET", "/openapi.json", "", "If-None-Match", etag); again.status != 304 || len(again.body) != 0 {
		t.Fatalf("/openapi.json with its ETag: %d, %d bytes", again.status, len(again.body))
	}
	if other := anyone.do("GET", "/openapi.json", "", "If-None-Match", `"other"`); other.status != 200 || len(other.body) < 1000 {
		t.Fatalf("/openapi.json with another ETag: %d, %d bytes", other.status, len(other.body))
	}
}

// openAPIPathOf writes a Fiber path as OpenAPI does.
func openAPIPathOf(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
