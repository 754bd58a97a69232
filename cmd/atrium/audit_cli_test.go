package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestAuditExportKeepsTheFileOnARefusal: an export refused (here a sign-in
// the server answers 401, then an export answered 403) leaves the file
// already at --file as it was, and no temporary file beside it.
func TestAuditExportKeepsTheFileOnARefusal(t *testing.T) {
	for _, refuse := range []string{"/api/v1/auth/login", "/api/v1/audit/export"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			switch r.URL.Path {
			case refuse:
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"code":"forbidden","detail":"no"}`))
			case "/api/v1/auth/login":
				_, _ = w.Write([]byte(`{"access_token":"t"}`))
			}
		}))
		dir := t.TempDir()
		file := filepath.Join(dir, "acme.ndjson")
		if err := os.WriteFile(file, []byte("an earlier export\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := &auditExportCmd{Tenant: "acme", Out: file, API: srv.URL, Email: "a@x.example", Password: "p"}
		if err := c.Run(); err == nil {
			t.Fatalf("%s refused: no error", refuse)
		}
		srv.Close()
		b, err := os.ReadFile(file)
		if err != nil || string(b) != "an earlier export\n" {
			t.Fatalf("%s refused: the file holds %q (%v)", refuse, b, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 1 {
			t.Fatalf("%s refused: %d files left in the directory", refuse, len(left))
		}
	}
}
