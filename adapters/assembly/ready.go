package assembly

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
)

// ReadyConfig says when /readyz counts a tenant's projection as failing.
type ReadyConfig struct {
	// Unsubscribed: a tenant whose subscription to its events has been
	// down for longer than this. A lost subscription is noticed within
	// seconds and resumed at once; one down longer waits for its stream
	// (an election of its leader, a server away). Default 10s.
	Unsubscribed time.Duration
	// BehindBy and BehindFor: a tenant more than BehindBy events behind
	// its log that has not caught up for longer than BehindFor. Default
	// 1,000 events and one minute.
	BehindBy  uint64
	BehindFor time.Duration
	// Named is how many such tenants the answer names; it counts the
	// rest. Default 20.
	Named int
}

func (c *ReadyConfig) setDefaults() {
	if c.Unsubscribed == 0 {
		c.Unsubscribed = 10 * time.Second
	}
	if c.BehindBy == 0 {
		c.BehindBy = 1000
	}
	if c.BehindFor == 0 {
		c.BehindFor = time.Minute
	}
	if c.Named == 0 {
		c.Named = 20
	}
}

func (c ReadyConfig) validate() error {
	if c.Unsubscribed < 0 || c.BehindFor < 0 || c.Named < 0 {
		return errors.New("assembly: Ready.Unsubscribed, Ready.BehindFor and Ready.Named must not be negative")
	}
	return nil
}

// readyChecks are what /readyz asks, each within its own budget: the NATS
// connection, the event store (the platform log's head), the read store
// (a tenant's database) and, when the process projects, the projections
// of the tenants it projects.
func (p *Process) readyChecks() []atriumhttp.ReadyCheck {
	checks := []atriumhttp.ReadyCheck{
		{Name: "nats", Check: func(context.Context) error {
			if status := p.NC.Status(); status != nats.CONNECTED {
				return errors.New("nats connection " + status.String())
			}
			return nil
		}},
		{Name: "event_store", Check: func(ctx context.Context) error {
			if pinger, ok := p.Store.(interface{ Ping(context.Context) error }); ok {
				return pinger.Ping(ctx)
			}
			_, err := p.Store.Head(tenant.With(ctx, tenant.Platform))
			return err
		}},
		{Name: "read_store", Check: func(ctx context.Context) error {
			ts := p.Catalog.List()
			if len(ts) == 0 {
				return nil
			}
			db, err := p.Reads.Open(tenant.With(ctx, ts[0].ID))
			if err != nil {
				return err
			}
			defer db.Release()
			return db.PingContext(ctx)
		}},
	}
	if !p.cfg.NoProjections && p.Runner != nil {
		checks = append(checks, atriumhttp.ReadyCheck{Name: "projections", Check: func(context.Context) error {
			return projectionsFailing(p.Runner.Status(), time.Now(), p.cfg.Ready)
		}})
	}
	return checks
}

// projectionsFailing reports the tenants among ss whose projection is
// unsubscribed or behind at now, as cfg says, naming the first cfg.Named
// in tenant order; nil when there are none. The runner's times are the
// machine's clock, as now must be.
func projectionsFailing(ss []projections.TenantStatus, now time.Time, cfg ReadyConfig) error {
	var named []string
	failing := 0
	for _, s := range ss {
		var why string
		switch {
		case !s.Subscribed && now.Sub(s.Since) > cfg.Unsubscribed:
			why = fmt.Sprintf("%s unsubscribed for %s", s.Tenant, now.Sub(s.Since).Round(time.Second))
		case s.Lag() > cfg.BehindBy && now.Sub(s.CaughtUp) > cfg.BehindFor:
			why = fmt.Sprintf("%s %d events behind for %s", s.Tenant, s.Lag(), now.Sub(s.CaughtUp).Round(time.Second))
		default:
			continue
		}
		failing++
		if len(named) < cfg.Named {
			named = append(named, why)
		}
	}
	if failing == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d of %d tenants not projected: %s", failing, len(ss), strings.Join(named, ", "))
	if more := failing - len(named); more > 0 {
		msg += fmt.Sprintf(" and %d more", more)
	}
	return errors.New(msg)
}
