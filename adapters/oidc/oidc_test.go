package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/atrium-platform/atrium/domain/identity"
)

// A provider kept from an earlier discovery, gone stale, whose issuer now
// fails is served as kept, and the issuer is asked again once per
// failureTTL, not on every anonymous sign-in.
func TestAStaleProviderThatFailsIsNotAskedOnEveryRequest(t *testing.T) {
	var hits atomic.Int64
	var down atomic.Bool
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/auth",
			"token_endpoint": srv.URL + "/token", "jwks_uri": srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	}))
	defer srv.Close()
	p := New(Config{AllowPrivate: true, Secret: func(context.Context, string) (string, error) { return "s", nil }})
	s := identity.SSO{Issuer: srv.URL, ClientID: "c"}
	if _, err := p.AuthURL(context.Background(), s, "https://x/cb", "st", "n", "v"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	d := p.known[srv.URL]
	d.at = d.at.Add(-2 * discoveryTTL) // stale
	p.known[srv.URL] = d
	p.mu.Unlock()
	down.Store(true)
	before := hits.Load()
	for range 50 {
		if _, err := p.AuthURL(context.Background(), s, "https://x/cb", "st", "n", "v"); err != nil {
			t.Fatalf("the kept provider is not served: %v", err)
		}
	}
	if n := hits.Load() - before; n != 1 {
		t.Fatalf("%d discoveries for 50 sign-in starts while the issuer fails, want 1", n)
	}
}
