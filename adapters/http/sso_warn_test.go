package http

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// A failing provider is logged once a minute per tenant, however many
// anonymous sign-ins reach it; each tenant's first failure is logged.
func TestSSOWarningsAreLoggedOncePerTenantAndMinute(t *testing.T) {
	var buf bytes.Buffer
	a := ssoRoutes{api: &api{deps: Infra{Logger: slog.New(slog.NewTextHandler(&buf, nil))}}, warned: &warnings{last: map[tenant.ID]time.Time{}}}
	for range 100 {
		a.warn("acme", "sso: the tenant's provider", errors.New("down"))
	}
	a.warn("globex", "sso: the tenant's provider", errors.New("down"))
	if n := strings.Count(buf.String(), "tenant=acme"); n != 1 {
		t.Fatalf("%d lines for acme's 100 failures, want 1:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "tenant=globex"); n != 1 {
		t.Fatalf("%d lines for globex, want 1", n)
	}
	a.warned.last["acme"] = time.Now().Add(-warnEvery)
	a.warn("acme", "sso: the tenant's provider", errors.New("down"))
	if n := strings.Count(buf.String(), "tenant=acme"); n != 2 {
		t.Fatalf("%d lines for acme a minute later, want 2", n)
	}
}
