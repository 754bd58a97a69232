// Package tenancy holds the commands of the tenant catalog: provisioning a
// tenant, suspending and resuming it (platform administrators), and
// changing its branding and settings (the tenant's admins).
package tenancy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Resources creates what a tenant needs before it is served: its event
// stream, its read database and its read models' migrations. Provision is
// idempotent, so a provisioning that failed halfway can simply be retried.
// The tenant comes from ctx.
type Resources interface {
	Provision(ctx context.Context) error
	// Head is where the ctx tenant's log ends now.
	Head(ctx context.Context) (uint64, error)
	// Settle sends billing the ctx tenant's usage it has not taken,
	// every day up to and including today, before the tenant's data is
	// deleted (its log, the record of what billing took, goes with it).
	// It fails with ErrBillingUnreachable when billing did not answer or
	// asked to be tried again, ErrBillingRefused when it refused a day;
	// with no billing, it does nothing.
	Settle(ctx context.Context) error
}

// ErrBillingUnreachable: billing did not take a deleted tenant's last
// usage; the deletion waits for it.
var ErrBillingUnreachable = errors.New("tenancy: billing did not take the tenant's last usage")

// ErrBillingRefused: billing refused a deleted tenant's last usage (a 4xx
// answer); the deletion waits until it takes it.
var ErrBillingRefused = errors.New("tenancy: billing refused the tenant's last usage")

// Admins creates a tenant's first admin. EnsureFirstAdmin succeeds again
// for a person who already is one. The tenant comes from ctx.
type Admins interface {
	// ValidateFirstAdmin checks the fields without writing anything.
	ValidateFirstAdmin(email, name, password string) error
	EnsureFirstAdmin(ctx context.Context, email, name, password string) error
}

// Catalog is the in-memory catalog the handler reads and waits on.
type Catalog interface {
	Get(t tenant.ID) (tenancy.State, bool)
	ByDomain(host string) (tenant.ID, bool)
	WaitFor(ctx context.Context, pos streams.Position) error
}

// Handler runs the catalog commands.
type Handler struct {
	x          *commands.Executor
	resources  Resources
	admins     Admins
	catalog    Catalog
	baseDomain string
	now        func() time.Time
}

// NewHandler returns the catalog command handler.
func NewHandler(x *commands.Executor, resources Resources, admins Admins, catalog Catalog, baseDomain string, now func() time.Time) *Handler {
	return &Handler{x: x, resources: resources, admins: admins, catalog: catalog, baseDomain: baseDomain, now: now}
}

// Events are the catalog's events, for the registry.
func Events() []domain.Event {
	return []domain.Event{tenancy.Provisioned{}, tenancy.DomainsChanged{}, tenancy.BrandingChanged{}, tenancy.SettingsChanged{},
		tenancy.Suspended{}, tenancy.Resumed{}, tenancy.DomainClaimed{}, tenancy.DomainReleased{}, tenancy.LimitsChanged{},
		tenancy.PlanDefined{}, tenancy.PlanChanged{}, tenancy.OffboardingStarted{}, tenancy.Archived{}, tenancy.Deleted{}}
}

func platformAdmin(ctx context.Context) (user.Principal, error) {
	p, err := user.From(ctx)
	if err != nil {
		return p, err
	}
	if !p.Has(user.PlatformAdmin) {
		return p, domain.Forbiddenf("only platform administrators manage tenants")
	}
	return p, nil
}

func tenantStream(t tenant.ID) (streams.Name, error) {
	return streams.NewName(tenant.Platform, tenancy.Category, string(t))
}

func domainStream(d string) (streams.Name, error) {
	sum := sha256.Sum256([]byte(d))
	return streams.NewName(tenant.Platform, tenancy.DomainCategory, hex.EncodeToString(sum[:16]))
}

// ProvisionTenant registers a client company.
type ProvisionTenant struct {
	Request  commands.Request
	Slug     string
	Name     string
	Domains  []string
	Branding tenancy.Branding
	// Settings are merged over the defaults in Currency (default EUR).
	Settings tenancy.SettingsPatch
	// Admin is the tenant's first admin; required.
	Admin FirstAdmin
}

// FirstAdmin is who administers a new tenant.
type FirstAdmin struct {
	Email    string
	Name     string
	Password string
}

// taken is the refusal of a slug whose tenant s exists, or existed.
func taken(s tenancy.State) error {
	if s.Deleted {
		return domain.WrongStatef("tenant_exists", "tenant %s was deleted: a deleted tenant's slug is never given again", s.ID)
	}
	return domain.WrongStatef("tenant_exists", "tenant %s already exists", s.ID)
}

// Provision creates the tenant's resources and its first admin, then records
// it in the catalog (the commit point: a failure before it leaves only
// resources and an admin a retry reuses), and answers once this instance's
// catalog serves it.
func (h *Handler) Provision(ctx context.Context, c ProvisionTenant) (commands.Result, error) {
	p, err := platformAdmin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	t, err := tenant.ParseClient(c.Slug)
	if err != nil {
		return commands.Result{}, domain.Invalidf("slug", "invalid_slug", "slug must match ^[a-z][a-z0-9]{1,30}$ and not be reserved")
	}
	if s, ok := h.catalog.Get(t); ok && s.Exists() {
		return commands.Result{}, taken(s)
	}
	// A deleted tenant's record (the tombstone) keeps its slug, whether
	// or not this catalog still holds it: refused before anything is
	// created.
	if was, err := h.record(ctx, t); err != nil {
		return commands.Result{}, err
	} else if was.Exists() {
		return commands.Result{}, taken(was)
	}
	cur := money.Currency("EUR")
	if c.Settings.Currency != nil {
		cur = *c.Settings.Currency
	}
	settings := c.Settings.Apply(tenancy.DefaultSettings(cur))
	// Validate before creating anything.
	ev, err := tenancy.DecideProvision(tenancy.State{}, tenancy.Provision{
		Tenant: t, Name: c.Name, Domains: c.Domains, Branding: c.Branding, Settings: settings,
		BaseDomain: h.baseDomain, By: string(p.ID), At: h.now(),
	})
	if err != nil {
		return commands.Result{}, err
	}
	for i, d := range ev.Domains {
		if owner, ok := h.catalog.ByDomain(d); ok {
			return commands.Result{}, domain.Rejectf("domain_taken", "domains[%d] %q is served for tenant %s", i, d, owner)
		}
	}
	if err := h.validateAdmin(c.Admin); err != nil {
		return commands.Result{}, err
	}
	tctx := tenant.With(ctx, t)
	if err := h.resources.Provision(tctx); err != nil {
		return commands.Result{}, fmt.Errorf("provision %s: %w", t, err)
	}
	if err := h.admins.EnsureFirstAdmin(tctx, c.Admin.Email, c.Admin.Name, c.Admin.Password); err != nil {
		return commands.Result{}, prefixFields("admin.", err)
	}
	pctx := tenant.With(ctx, tenant.Platform)
	stream, err := tenantStream(t)
	if err != nil {
		return commands.Result{}, err
	}
	res, err := h.x.Run(pctx, commands.Call{Name: "provision_tenant", Request: c.Request, Stream: stream, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		var s tenancy.State
		for _, e := range history {
			s = tenancy.Evolve(s, e)
		}
		ev, err := tenancy.DecideProvision(s, tenancy.Provision{
			Tenant: t, Name: c.Name, Domains: c.Domains, Branding: c.Branding, Settings: settings,
			BaseDomain: h.baseDomain, By: string(p.ID), At: h.now(),
		})
		if err != nil {
			return commands.Decision{}, err
		}
		d := commands.Decision{Events: []domain.Event{ev}}
		for i, dom := range ev.Domains {
			claim, err := h.claim(pctx, i, dom, t)
			if err != nil {
				return commands.Decision{}, err
			}
			d.Extras = append(d.Extras, claim)
		}
		return d, nil
	}})
	if err != nil {
		return commands.Result{}, err
	}
	if err := h.catalog.WaitFor(pctx, res.Position); err != nil {
		return commands.Result{}, err
	}
	return res, nil
}

// Suspend stops serving a tenant; Resume serves it again.
func (h *Handler) Suspend(ctx context.Context, req commands.Request, slug, reason string) (commands.Result, error) {
	return h.platformChange(ctx, "suspend_tenant", req, slug, func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideSuspend(s, reason, by, h.now())
	})
}

// Offboard starts a tenant's offboarding (platform administrators): it is
// read-only from then on, its reads answered and its commands refused.
func (h *Handler) Offboard(ctx context.Context, req commands.Request, slug string) (commands.Result, error) {
	return h.platformChange(ctx, "offboard_tenant", req, slug, func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideOffboard(s, by, h.now())
	})
}

// Delete records a read-only tenant's deletion (platform administrators),
// confirmed by its slug: the tombstone that keeps its slug. The caller
// then deletes its data. Before, billing is sent the tenant's last usage
// (Resources.Settle); the deletion is then decided on where its log ends
// after that.
func (h *Handler) Delete(ctx context.Context, req commands.Request, slug, confirm string) (commands.Result, error) {
	// Where its log ends now (none once its events are deleted: a
	// deletion asked again finishes without it).
	var head uint64
	var headErr error
	settled := false
	if t, err := tenant.ParseClient(slug); err == nil {
		tctx := tenant.With(ctx, t)
		head, headErr = h.resources.Head(tctx)
		if headErr == nil {
			if settled, err = h.settle(ctx, req, t, confirm, head); err != nil {
				return commands.Result{}, err
			}
		}
		if settled {
			// A write billing's wait let in (an instance that had not yet
			// applied the offboarding) makes the archive stale.
			head, headErr = h.resources.Head(tctx)
		}
	}
	return h.platformDecision(ctx, "delete_tenant", req, slug, func(s tenancy.State, by string) (commands.Decision, error) {
		if headErr != nil && s.ReadOnly && !s.Deleted && s.ID == tenant.ID(slug) {
			return commands.Decision{}, headErr
		}
		evs, err := tenancy.DecideDelete(s, confirm, head, by, h.now())
		if err != nil || len(evs) == 0 {
			return commands.Decision{Events: evs}, err
		}
		if !settled {
			// The tenant's record changed since settle read it (its
			// archive recorded meanwhile): nothing is deleted unbilled.
			return commands.Decision{}, domain.WrongStatef("concurrent_modification", "the tenant changed while its deletion was asked: ask again")
		}
		// Its custom domains are released in the same append: another
		// company may use them.
		extras, err := releases(s.ID, s.Domains)
		return commands.Decision{Events: evs, Extras: extras}, err
	})
}

// settle sends billing t's last usage when its deletion, as asked, would
// be decided now, and says whether it did: a deletion the decision would
// refuse, or a request it would replay, sends nothing.
func (h *Handler) settle(ctx context.Context, req commands.Request, t tenant.ID, confirm string, head uint64) (bool, error) {
	p, _ := user.From(ctx)
	if !p.Has(user.PlatformAdmin) {
		return false, nil // refused by the decision
	}
	stream, err := tenantStream(t)
	if err != nil {
		return false, err
	}
	pctx := tenant.With(ctx, tenant.Platform)
	evs, recs, err := h.x.Load(pctx, stream)
	if err != nil {
		return false, err
	}
	if _, done, perr := h.x.Precheck(pctx, req, stream, recs); done || perr != nil {
		return false, nil //nolint:nilerr // replayed or refused by the run, which checks it again
	}
	var s tenancy.State
	for _, e := range evs {
		s = tenancy.Evolve(s, e)
	}
	if out, derr := tenancy.DecideDelete(s, confirm, head, string(p.ID), h.now()); derr != nil || len(out) == 0 {
		return false, nil //nolint:nilerr // refused, or deleted already: the decision answers
	}
	return true, h.resources.Settle(tenant.With(ctx, t))
}

// RecordArchive records that a read-only tenant's archive was taken, its
// log then ending at head (platform administrators).
func (h *Handler) RecordArchive(ctx context.Context, req commands.Request, slug string, head uint64) (commands.Result, error) {
	return h.platformChange(ctx, "record_archive", req, slug, func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideArchived(s, head, by, h.now())
	})
}

// ChangeLimits sets how much of the service a tenant may use (platform
// administrators).
func (h *Handler) ChangeLimits(ctx context.Context, req commands.Request, slug string, l tenancy.Limits) (commands.Result, error) {
	return h.platformChange(ctx, "change_limits", req, slug, func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideLimits(s, l, by, h.now())
	})
}

// DefinePlan defines a plan, or changes its limits: every tenant on it has
// them as soon as the catalog has the change (platform administrators).
func (h *Handler) DefinePlan(ctx context.Context, req commands.Request, name string, l tenancy.PlanLimits) (commands.Result, error) {
	p, err := platformAdmin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	if err := tenancy.ValidPlanName(name); err != nil {
		return commands.Result{}, err
	}
	stream, err := streams.NewName(tenant.Platform, tenancy.PlanCategory, name)
	if err != nil {
		return commands.Result{}, err
	}
	pctx := tenant.With(ctx, tenant.Platform)
	res, err := h.x.Run(pctx, commands.Call{Name: "define_plan", Request: req, Stream: stream, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		var plan tenancy.Plan
		for _, e := range history {
			plan = tenancy.EvolvePlan(plan, e)
		}
		evs, err := tenancy.DecidePlan(plan, name, l, string(p.ID), h.now())
		return commands.Decision{Events: evs}, err
	}})
	if err != nil {
		return commands.Result{}, err
	}
	if err := h.catalog.WaitFor(pctx, res.Position); err != nil {
		return commands.Result{}, err
	}
	res.ID = name
	return res, nil
}

// ChangePlan puts a tenant on a defined plan, or on none with ""
// (platform administrators).
func (h *Handler) ChangePlan(ctx context.Context, req commands.Request, slug, plan string) (commands.Result, error) {
	if _, err := platformAdmin(ctx); err != nil {
		return commands.Result{}, err
	}
	var p tenancy.Plan
	if plan != "" {
		if err := tenancy.ValidPlanName(plan); err != nil {
			return commands.Result{}, domain.NotFoundf("plan_not_found", "no such plan")
		}
		stream, err := streams.NewName(tenant.Platform, tenancy.PlanCategory, plan)
		if err != nil {
			return commands.Result{}, err
		}
		evs, _, err := h.x.Load(tenant.With(ctx, tenant.Platform), stream)
		if err != nil {
			return commands.Result{}, err
		}
		for _, e := range evs {
			p = tenancy.EvolvePlan(p, e)
		}
		if !p.Exists() {
			return commands.Result{}, domain.NotFoundf("plan_not_found", "no such plan")
		}
	}
	return h.platformChange(ctx, "change_plan", req, slug, func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecidePlanChange(s, p, by, h.now())
	})
}

// Resume serves a suspended tenant again.
func (h *Handler) Resume(ctx context.Context, req commands.Request, slug string) (commands.Result, error) {
	return h.platformChange(ctx, "resume_tenant", req, slug, func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideResume(s, by, h.now())
	})
}

func (h *Handler) platformChange(ctx context.Context, name string, req commands.Request, slug string, decide func(tenancy.State, string) ([]domain.Event, error)) (commands.Result, error) {
	return h.platformDecision(ctx, name, req, slug, only(decide))
}

// record is tenant t's record as its stream in the platform log holds it.
func (h *Handler) record(ctx context.Context, t tenant.ID) (tenancy.State, error) {
	stream, err := tenantStream(t)
	if err != nil {
		return tenancy.State{}, err
	}
	evs, _, err := h.x.Load(tenant.With(ctx, tenant.Platform), stream)
	if err != nil {
		return tenancy.State{}, err
	}
	var s tenancy.State
	for _, e := range evs {
		s = tenancy.Evolve(s, e)
	}
	return s, nil
}

// only is a decision of the tenant's record alone.
func only(decide func(tenancy.State, string) ([]domain.Event, error)) func(tenancy.State, string) (commands.Decision, error) {
	return func(s tenancy.State, by string) (commands.Decision, error) {
		evs, err := decide(s, by)
		return commands.Decision{Events: evs}, err
	}
}

// releases are the appends that free t's domains.
func releases(t tenant.ID, domains []string) ([]commands.Extra, error) {
	out := make([]commands.Extra, 0, len(domains))
	for _, dom := range domains {
		ds, err := domainStream(dom)
		if err != nil {
			return nil, err
		}
		out = append(out, commands.Extra{Stream: ds, Expected: streams.Any,
			Events: []domain.Event{tenancy.DomainReleased{Domain: dom, Tenant: t}}})
	}
	return out, nil
}

// platformDecision is platformChange for a decision that writes beside the
// tenant's record (a domain's claim).
func (h *Handler) platformDecision(ctx context.Context, name string, req commands.Request, slug string, decide func(tenancy.State, string) (commands.Decision, error)) (commands.Result, error) {
	p, err := platformAdmin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	t, err := tenant.ParseClient(slug)
	if err != nil {
		return commands.Result{}, domain.NotFoundf("tenant_not_found", "no such tenant")
	}
	return h.change(tenant.With(ctx, tenant.Platform), name, req, t, string(p.ID), decide)
}

func (h *Handler) change(pctx context.Context, name string, req commands.Request, t tenant.ID, by string, decide func(tenancy.State, string) (commands.Decision, error)) (commands.Result, error) {
	stream, err := tenantStream(t)
	if err != nil {
		return commands.Result{}, err
	}
	res, err := h.x.Run(pctx, commands.Call{Name: name, Request: req, Stream: stream, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		var s tenancy.State
		for _, e := range history {
			s = tenancy.Evolve(s, e)
		}
		return decide(s, by)
	}})
	if err != nil {
		return commands.Result{}, err
	}
	if err := h.catalog.WaitFor(pctx, res.Position); err != nil {
		return commands.Result{}, err
	}
	res.ID = string(t)
	return res, nil
}

func tenantAdmin(ctx context.Context) (tenant.ID, user.Principal, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", user.Principal{}, err
	}
	p, err := user.From(ctx)
	if err != nil {
		return "", p, err
	}
	if !p.Has(user.Admin) {
		return "", p, domain.Forbiddenf("only the tenant's admins change its branding and settings")
	}
	return t, p, nil
}

// ChangeBranding replaces the ctx tenant's branding.
func (h *Handler) ChangeBranding(ctx context.Context, req commands.Request, b tenancy.Branding) (commands.Result, error) {
	t, p, err := tenantAdmin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.change(tenant.With(ctx, tenant.Platform), "change_branding", req, t, string(p.ID), only(func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideBranding(s, b, by, h.now())
	}))
}

// ChangeSettings merges patch into the ctx tenant's settings.
func (h *Handler) ChangeSettings(ctx context.Context, req commands.Request, patch tenancy.SettingsPatch) (commands.Result, error) {
	t, p, err := tenantAdmin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	return h.change(tenant.With(ctx, tenant.Platform), "change_settings", req, t, string(p.ID), only(func(s tenancy.State, by string) ([]domain.Event, error) {
		return tenancy.DecideSettings(s, patch.Apply(s.Settings), by, h.now())
	}))
}

func (h *Handler) validateAdmin(a FirstAdmin) error {
	return prefixFields("admin.", h.admins.ValidateFirstAdmin(a.Email, a.Name, a.Password))
}

// prefixFields names fields of a nested object ("admin.email").
func prefixFields(prefix string, err error) error {
	var de *domain.Error
	if err == nil || !errors.As(err, &de) || de.Field == "" {
		return err
	}
	out := *de
	out.Field = prefix + de.Field
	return &out
}

// ChangeDomains replaces a tenant's custom domains (platform
// administrators). New domains are claimed and dropped ones released in the
// same atomic append, so a domain is never served for two tenants.
func (h *Handler) ChangeDomains(ctx context.Context, req commands.Request, slug string, domains []string) (commands.Result, error) {
	p, err := platformAdmin(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	t, err := tenant.ParseClient(slug)
	if err != nil {
		return commands.Result{}, domain.NotFoundf("tenant_not_found", "no such tenant")
	}
	next, err := tenancy.ValidateDomains(domains, h.baseDomain)
	if err != nil {
		return commands.Result{}, err
	}
	for i, d := range next {
		if owner, ok := h.catalog.ByDomain(d); ok && owner != t {
			return commands.Result{}, domain.Rejectf("domain_taken", "domains[%d] %q is served for tenant %s", i, d, owner)
		}
	}
	pctx := tenant.With(ctx, tenant.Platform)
	stream, err := tenantStream(t)
	if err != nil {
		return commands.Result{}, err
	}
	res, err := h.x.Run(pctx, commands.Call{Name: "change_domains", Request: req, Stream: stream, Decide: func(ctx context.Context, history []domain.Event) (commands.Decision, error) {
		var s tenancy.State
		for _, e := range history {
			s = tenancy.Evolve(s, e)
		}
		evs, err := tenancy.DecideDomains(s, next, string(p.ID), h.now())
		if err != nil || len(evs) == 0 {
			return commands.Decision{Events: evs}, err
		}
		d := commands.Decision{Events: evs}
		for i, dom := range next {
			if slices.Contains(s.Domains, dom) {
				continue
			}
			claim, err := h.claim(ctx, i, dom, t)
			if err != nil {
				return commands.Decision{}, err
			}
			d.Extras = append(d.Extras, claim)
		}
		dropped := slices.DeleteFunc(slices.Clone(s.Domains), func(dom string) bool { return slices.Contains(next, dom) })
		freed, err := releases(t, dropped)
		d.Extras = append(d.Extras, freed...)
		return d, err
	}})
	if err != nil {
		return commands.Result{}, err
	}
	if err := h.catalog.WaitFor(pctx, res.Position); err != nil {
		return commands.Result{}, err
	}
	res.ID = string(t)
	return res, nil
}

// claim is the write that takes a custom domain for t: it expects the
// domain's claim stream as it is now (new, or last released), so a
// concurrent claim by another tenant makes the whole append fail and retry.
func (h *Handler) claim(pctx context.Context, i int, dom string, t tenant.ID) (commands.Extra, error) {
	ds, err := domainStream(dom)
	if err != nil {
		return commands.Extra{}, err
	}
	evs, recs, err := h.x.Load(pctx, ds)
	if err != nil {
		return commands.Extra{}, err
	}
	if n := len(evs); n > 0 {
		if c, ok := evs[n-1].(tenancy.DomainClaimed); ok && c.Tenant != t {
			return commands.Extra{}, domain.Rejectf("domain_taken", "domains[%d] %q is served for tenant %s", i, dom, c.Tenant)
		}
	}
	return commands.Extra{Stream: ds, Expected: streams.Exactly(streams.Version(len(recs))),
		Events: []domain.Event{tenancy.DomainClaimed{Domain: dom, Tenant: t}}}, nil
}
