package assembly

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
)

func TestProjectionsFailing(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cfg := ReadyConfig{}
	cfg.setDefaults()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	up := projections.TenantStatus{Tenant: "acme", Subscribed: true, Since: ago(time.Hour), Position: 10, Head: 10, CaughtUp: ago(time.Hour)}
	with := func(tn tenant.ID, change func(*projections.TenantStatus)) projections.TenantStatus {
		s := up
		s.Tenant = tn
		change(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		ss   []projections.TenantStatus
		want string // "" for nil
	}{
		{"none", nil, ""},
		{"all up and caught up", []projections.TenantStatus{up}, ""},
		{"down for a moment", []projections.TenantStatus{with("acme", func(s *projections.TenantStatus) {
			s.Subscribed, s.Since = false, ago(2*time.Second)
		})}, ""},
		{"down too long", []projections.TenantStatus{up, with("globex", func(s *projections.TenantStatus) {
			s.Subscribed, s.Since = false, ago(12*time.Second)
		})}, "1 of 2 tenants not projected: globex unsubscribed for 12s"},
		{"a little behind for long", []projections.TenantStatus{with("acme", func(s *projections.TenantStatus) {
			s.Head = 900
		})}, ""},
		{"far behind since a moment", []projections.TenantStatus{with("acme", func(s *projections.TenantStatus) {
			s.Head, s.CaughtUp = 5010, ago(10*time.Second)
		})}, ""},
		{"far behind for long", []projections.TenantStatus{with("acme", func(s *projections.TenantStatus) {
			s.Head, s.CaughtUp = 5010, ago(90*time.Second)
		})}, "1 of 1 tenants not projected: acme 5000 events behind for 1m30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := projectionsFailing(tc.ss, now, cfg)
			if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}

	var many []projections.TenantStatus
	for i := range 25 {
		many = append(many, with(tenant.ID(fmt.Sprintf("t%02d", i)), func(s *projections.TenantStatus) {
			s.Subscribed, s.Since = false, ago(time.Minute)
		}))
	}
	err := projectionsFailing(many, now, cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "25 of 25 tenants not projected: t00 unsubscribed") ||
		!strings.Contains(err.Error(), "t19 unsubscribed for 1m0s and 5 more") || strings.Contains(err.Error(), "t20") {
		t.Fatalf("25 tenants down: %v", err)
	}
}
