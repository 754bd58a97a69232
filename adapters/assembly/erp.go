package assembly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atrium-platform/atrium/adapters/erp/sqltable"
	"github.com/atrium-platform/atrium/adapters/erp/webhook"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/secretbox"
	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	"github.com/atrium-platform/atrium/domain/erp"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/erpsync"
	"github.com/atrium-platform/atrium/streams"
)

// ERPConfig configures the ERP sync.
type ERPConfig struct {
	// AllowPrivateTargets lets connections reach loopback, private and
	// link-local addresses (an on-premises ERP); off by default.
	AllowPrivateTargets bool
	// Timeout bounds one delivery; default 10s.
	Timeout time.Duration
	// AckWait is how long the bus lets one delivery hold a message before
	// sending it again (to another instance, when the one holding it died);
	// default 60s.
	AckWait time.Duration
	// MinBackoff and MaxBackoff bound the pause between two attempts of a
	// message; defaults 500ms and 5m.
	MinBackoff, MaxBackoff time.Duration
	// BreakerOpen is how long a tenant's circuit breaker stays open after
	// 5 failed attempts in a row; default 30s.
	BreakerOpen time.Duration
	// Slots bounds deliveries in flight across all tenants; default 64.
	Slots int
}

// purposeERP binds sealed ERP secrets to their use.
const purposeERP = "erp.connection"

// vault seals the tenants' ERP secrets with the operator's key and keeps
// them in the secrets store, by tenant and fingerprint.
type vault struct {
	box     *secretbox.Box
	secrets *jetstream.Secrets
}

func (v vault) Fingerprint(_ tenant.ID, secret []byte) string { return secretbox.Fingerprint(secret) }

func (v vault) Store(ctx context.Context, t tenant.ID, fingerprint string, secret []byte) error {
	sealed, err := v.box.Seal(string(t), purposeERP, secret)
	if err != nil {
		return err
	}
	return v.secrets.PutSealed(ctx, t, fingerprint, sealed)
}

// open returns the ctx tenant's sealed connection secrets named by
// fingerprint.
func (v vault) open(ctx context.Context, fingerprint string) (erpcmd.Sealed, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return erpcmd.Sealed{}, err
	}
	sealed, err := v.secrets.Sealed(ctx, t, fingerprint)
	if err != nil {
		return erpcmd.Sealed{}, err
	}
	b, err := v.box.Open(string(t), purposeERP, sealed)
	if err != nil {
		return erpcmd.Sealed{}, err
	}
	var s erpcmd.Sealed
	if err := json.Unmarshal(b, &s); err != nil {
		return erpcmd.Sealed{}, fmt.Errorf("sealed ERP secret %s: %w", fingerprint, err)
	}
	return s, nil
}

// Reseal seals every tenant's sealed secrets (ERP connections, read
// database logins) again with the first key of the
// keyring, for a key rotation: it reports how many changed.
func (p *Process) Reseal(ctx context.Context) (int, error) {
	keys, err := p.Secrets.SealedKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		t := tenant.ID(k[0])
		sealed, err := p.Secrets.Sealed(ctx, t, k[1])
		if err != nil {
			return n, err
		}
		resealed, changed, err := p.box.Reseal(string(t), purposeOf(k[1]), sealed)
		if err != nil {
			return n, fmt.Errorf("%s %s: %w", t, k[1], err)
		}
		if !changed {
			continue
		}
		if err := p.Secrets.PutSealed(ctx, t, k[1], resealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// targets refuses hosts on addresses the operator did not allow.
type targets struct{ allowPrivate bool }

func (t targets) Check(ctx context.Context, host string) error {
	err := webhook.CheckTarget(ctx, "http://"+net.JoinHostPort(host, "80")+"/", t.allowPrivate)
	if errors.Is(err, webhook.ErrTargetForbidden) {
		return fmt.Errorf("%w: %w", erpcmd.ErrTargetForbidden, err)
	}
	return err
}

// connectors opens a tenant's connector with its sealed secrets.
type connectors struct {
	v   vault
	cfg ERPConfig
}

func (c connectors) Open(ctx context.Context, conn erp.Connection) (erpsync.Connector, error) {
	s, err := c.v.open(ctx, conn.SecretFingerprint)
	if err != nil {
		return nil, err
	}
	switch conn.Kind {
	case erp.Webhook:
		return webhook.New(webhook.Config{URL: conn.Target, Secret: s.Secret, Timeout: c.cfg.Timeout, AllowPrivate: c.cfg.AllowPrivateTargets})
	case erp.SQLServer, erp.Postgres:
		return sqltable.New(ctx, sqltable.Config{Driver: string(conn.Kind), DSN: s.DSN, Table: conn.Table,
			Timeout: c.cfg.Timeout})
	}
	return nil, fmt.Errorf("erp: no connector of kind %q", conn.Kind)
}

// erpMetrics are the ERP sync's metrics, per tenant.
type erpMetrics struct {
	pending   *prometheus.GaugeVec
	delivered *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

func newERPMetrics(reg prometheus.Registerer) (*erpMetrics, error) {
	m := &erpMetrics{
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atrium_erp_pending",
			Help: "ERP messages of the tenant not yet delivered (nor parked as failed)."}, []string{"tenant"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_erp_delivered_total",
			Help: "ERP messages delivered to the tenant's ERP."}, []string{"tenant"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_erp_failures_total",
			Help: "Failed attempts to deliver an ERP message of the tenant (retried, or parked when refused for good)."}, []string{"tenant"}),
	}
	for _, c := range []prometheus.Collector{m.pending, m.delivered, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *erpMetrics) Delivered(t tenant.ID) { m.delivered.WithLabelValues(string(t)).Inc() }
func (m *erpMetrics) Failed(t tenant.ID)    { m.failures.WithLabelValues(string(t)).Inc() }
func (m *erpMetrics) Pending(t tenant.ID, n int64) {
	m.pending.WithLabelValues(string(t)).Set(float64(n))
}

// erpParts are the ERP sync's parts of a process.
type erpParts struct {
	mu         sync.Mutex
	dispatcher *erpsync.Dispatcher
}

// notify is the outbox projector's Notify: the dispatcher, once started.
func (e *erpParts) notify(ctx context.Context, pos streams.Position) {
	e.mu.Lock()
	d := e.dispatcher
	e.mu.Unlock()
	if d != nil {
		d.Notify(ctx, pos)
	}
}

// openBox opens the operator's key: ATRIUM_SECRET_KEY's keyring when
// given, else the data directory's key file, created on first start.
func (p *Process) openBox() (err error) {
	keyring := p.cfg.SecretKey
	if keyring == "" {
		if keyring, err = secretbox.LoadOrCreateKeyFile(filepath.Join(p.cfg.DataDir, secretbox.KeyFileName)); err != nil {
			return fmt.Errorf("secret key: %w", err)
		}
	}
	if p.box, err = secretbox.New(keyring); err != nil {
		return fmt.Errorf("secret key (%s): %w", secretbox.EnvVar, err)
	}
	return nil
}

// openERP builds the ERP commands over the modules' kinds of events.
func (p *Process) openERP() {
	var kinds []string
	for _, m := range p.cfg.Modules {
		kinds = append(kinds, m.ERP...)
	}
	p.Outbox = erpsync.NewOutbox(p.Reads)
	p.vault = vault{box: p.box, secrets: p.Secrets}
	p.ERP = erpcmd.NewHandler(p.Commands, p.vault, targets{allowPrivate: p.cfg.ERP.AllowPrivateTargets}, p.Outbox, kinds, p.cfg.Now)
}

// erpResource is the ERP's HTTP resource, with the modules' inbound calls.
func (p *Process) erpResource() atriumhttp.ERP {
	inbound := map[string]erpcmd.Inbound{}
	for _, parts := range p.parts {
		for k, h := range parts.Inbound {
			inbound[k] = h
		}
	}
	return atriumhttp.ERP{Handler: p.ERP, Outbox: p.Outbox, Verify: p.verifyInbound, Inbound: inbound, Quota: p.erpCallQuota}
}

// verifyInbound checks a call from the ctx tenant's ERP against its
// connection's secret.
func (p *Process) verifyInbound(ctx context.Context, headers http.Header, body []byte) error {
	c, err := p.Outbox.Connection(ctx)
	if err != nil {
		return err
	}
	if c.Status != erp.StatusActive || c.SecretFingerprint == "" {
		return webhook.ErrInvalidSignature
	}
	s, err := p.vault.open(ctx, c.SecretFingerprint)
	if err != nil {
		return err
	}
	if s.Secret == "" {
		return webhook.ErrInvalidSignature
	}
	key, err := webhook.ParseSecret(s.Secret)
	if err != nil {
		return err
	}
	return webhook.Verify(key, headers, body, p.cfg.Now(), webhook.DefaultTolerance)
}

// startERP starts delivering every tenant's ERP messages.
func (p *Process) startERP(ctx context.Context) error {
	ec := p.cfg.ERP
	bus, err := jetstream.OpenERPBus(ctx, p.NC, jetstream.ERPBusConfig{AckWait: ec.AckWait, Replicas: p.cfg.NATSReplicas}, jetstream.QuietLogger(p.log))
	if err != nil {
		return fmt.Errorf("erp bus: %w", err)
	}
	m, err := newERPMetrics(p.Metrics)
	if err != nil {
		return fmt.Errorf("erp metrics: %w", err)
	}
	d, err := erpsync.NewDispatcher(erpsync.Config{
		Outbox: p.Outbox, Publisher: bus.Publisher, Subscriber: bus.Subscriber,
		Connectors: connectors{v: p.vault, cfg: ec},
		WaitFor:    p.Runner.WaitFor,
		Quota: func(ctx context.Context) (time.Duration, error) {
			wait, _, err := p.erpQuota(ctx)
			return wait, err
		},
		// The tenants open here: a tenant's outbox is read once its read
		// database is migrated; one opened later is marked as it opens.
		Tenants: func() []tenant.ID {
			var ts []tenant.ID
			for _, s := range p.Catalog.List() {
				if p.isOpen(s.ID) {
					ts = append(ts, s.ID)
				}
			}
			return ts
		},
		Slots: ec.Slots, AckWait: ec.AckWait, MinBackoff: ec.MinBackoff, MaxBackoff: ec.MaxBackoff, BreakerOpen: ec.BreakerOpen,
		// Deliveries are scheduled by the wall clock, whatever clock stamps
		// events; they are dated as events are.
		Stamp:    p.cfg.Now,
		Observer: m, Logger: p.log, Watermill: jetstream.QuietLogger(p.log),
	})
	if err != nil {
		return err
	}
	// Marks of tenants opening from now on reach the dispatcher, which
	// relays them once started.
	p.erp.mu.Lock()
	p.erp.dispatcher = d
	p.erp.mu.Unlock()
	if err := d.Start(ctx); err != nil {
		p.erp.mu.Lock()
		p.erp.dispatcher = nil
		p.erp.mu.Unlock()
		return err
	}
	p.closers = append(p.closers, d.Close)
	return nil
}
