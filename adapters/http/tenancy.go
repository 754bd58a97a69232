package http

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Catalog is the tenant catalog as the API reads it.
type Catalog interface {
	Get(t tenant.ID) (tenancy.State, bool)
	ByDomain(host string) (tenant.ID, bool)
	List() []tenancy.State
}

// HostTenants resolves the tenant as CONTRACT.md says: from the Host header
// (<slug>.<base domain>, or a custom domain of the tenant), else from
// X-Tenant; both naming different tenants is 400 tenant_mismatch; an
// unknown tenant 404 tenant_not_found; a suspended one 403
// tenant_suspended.
type HostTenants struct {
	BaseDomain string
	Catalog    Catalog
}

// Resolve implements TenantResolver.
func (h HostTenants) Resolve(c *fiber.Ctx) (tenant.ID, error) {
	fromHost, hostNamed, err := h.fromHost(c.Hostname())
	if err != nil {
		return "", err
	}
	header := strings.TrimSpace(c.Get("X-Tenant"))
	var t tenant.ID
	switch {
	case hostNamed && header != "" && header != string(fromHost):
		return "", NewProblem(fiber.StatusBadRequest, "tenant_mismatch", "the host name and X-Tenant name different tenants")
	case hostNamed:
		t = fromHost
	case header != "":
		id, err := tenant.ParseClient(header)
		if err != nil {
			return "", NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
		}
		t = id
	default:
		return "", tenant.ErrNoTenant
	}
	s, ok := h.Catalog.Get(t)
	if !ok {
		return "", NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
	}
	if s.Suspended {
		return "", NewProblem(fiber.StatusForbidden, "tenant_suspended", "this tenant is suspended")
	}
	return t, nil
}

// fromHost reads the tenant a host name names: named is false for hosts
// that name none (the base domain itself, an IP address, localhost).
func (h HostTenants) fromHost(host string) (t tenant.ID, named bool, err error) {
	host = tenancy.NormalizeDomain(host)
	if host == "" {
		return "", false, nil
	}
	if slug, ok := strings.CutSuffix(host, "."+h.BaseDomain); ok {
		if strings.Contains(slug, ".") {
			return "", true, NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
		}
		id, err := tenant.ParseClient(slug)
		if err != nil {
			return "", true, NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
		}
		return id, true, nil
	}
	if id, ok := h.Catalog.ByDomain(host); ok {
		return id, true, nil
	}
	return "", false, nil
}

// Tenancy is the tenants resource: the public branding, a tenant's
// branding and settings (/api/v1), and the platform's tenants (/admin/v1).
type Tenancy struct {
	Handler *tenancycmd.Handler
	Catalog Catalog
	// Rebuild rebuilds one read model of the ctx tenant from its events;
	// nil: rebuilds are not available.
	Rebuild func(ctx context.Context, readModel string) error
	// Health reports every tenant's projection as this instance knows it,
	// with its poisoned events; nil: not available.
	Health func(ctx context.Context) ([]TenantHealth, error)
	// Progress reports how far the ctx tenant's log reaches (head) and how
	// far each read model has projected it; nil: not available.
	Progress func(ctx context.Context) (head streams.Position, readModels map[string]streams.Position, err error)
	// Archive writes at path a zip of everything the ctx tenant holds;
	// nil: archives are not available.
	Archive func(ctx context.Context, path string) error
	// Delete deletes the ctx tenant's data once its tombstone is in the
	// catalog; nil: deletion is not available.
	Delete func(ctx context.Context) error
}

// PlanCatalog is a catalog that knows the plans: the plan routes are
// mounted, and the plans' quotas held, when the Catalog is one.
type PlanCatalog interface {
	Plan(name string) (tenancy.Plan, bool)
	Plans() []tenancy.Plan
	// PlanOf returns the plan of tenant t, false when it has none.
	PlanOf(t tenant.ID) (tenancy.Plan, bool)
}

type tenancyRoutes struct {
	*api
	res   Tenancy
	plans PlanCatalog // nil when the catalog knows no plans
}

// Mount implements Resource.
func (res Tenancy) Mount(r Routes) {
	plans, _ := res.Catalog.(PlanCatalog)
	a := tenancyRoutes{api: r.a, res: res, plans: plans}
	r.Public().Get("/api/v1/branding", a.branding).Doc(Doc{Summary: "The tenant's branding (public)", Answer: brandingView{}})
	r.Public().Get("/", func(c *fiber.Ctx) error { return a.home(c, res.Catalog) }).Doc(Doc{Summary: "The tenant's page, or the platform's", Media: "text/html"})
	v1 := r.Tenant()
	v1.Put("/branding", a.putBranding).Doc(Doc{Summary: "Change the branding (admin)", Body: brandingBody{}, Answer: brandingView{}, Options: true})
	v1.Get("/settings", a.getSettings).Doc(Doc{Summary: "The tenant's settings (admin)", Answer: tenancy.Settings{}})
	v1.Put("/settings", a.putSettings).Doc(Doc{Summary: "Change the settings given (admin)", Body: map[string]any{}, Answer: tenancy.Settings{}, Options: true})
	admin := r.Platform()
	admin.Post("/tenants", a.provisionTenant).Doc(Doc{Summary: "Create, provision and open a tenant", Body: map[string]any{}, Answer: tenantView{}, Status: 201})
	admin.Get("/tenants", a.listTenants).Doc(Doc{Summary: "The tenants", Answer: List([]tenantView(nil), "")})
	admin.Get("/health", a.health).Doc(Doc{Summary: "Every tenant's state, projection and poisoned events, as the instance asked knows them", Answer: List([]tenantHealthView(nil), "")})
	admin.Post("/tenants/:slug/suspend", a.suspendTenant).Doc(Doc{Summary: "Stop serving a tenant", Answer: tenantView{}})
	admin.Post("/tenants/:slug/resume", a.resumeTenant).Doc(Doc{Summary: "Serve a suspended tenant again", Answer: tenantView{}})
	admin.Post("/tenants/:slug/offboard", a.offboardTenant).Doc(Doc{Summary: "Start a tenant's offboarding: read-only from now on (its commands 403 tenant_read_only); with {\"confirm\": \"<slug>\"}, delete a read-only tenant's data for good, its slug kept, once its archive was taken and while its log still ends there (409 archive_required, archive_stale)", Answer: offboardView{}})
	admin.Download("/tenants/:slug/archive", "tenant-archive.zip", a.archive).Doc(Doc{Summary: "A read-only tenant's archive: its log with the hash chain, read tables and documents (zip)", Media: "application/zip"})
	admin.Put("/tenants/:slug/domains", a.changeDomains).Doc(Doc{Summary: "Set a tenant's custom domains", Answer: tenantView{}})
	admin.Put("/tenants/:slug/limits", a.changeLimits).Doc(Doc{Summary: "Set a tenant's request limits", Answer: tenantView{}})
	if plans != nil {
		admin.Get("/plans", a.listPlans).Doc(Doc{Summary: "The plans", Answer: List([]planView(nil), "")})
		admin.Put("/plans/:name", a.definePlan).Doc(Doc{Summary: "Define a plan, or change its limits (every tenant on it at once)", Body: tenancy.PlanLimits{}, Answer: planView{}})
		admin.Put("/tenants/:slug/plan", a.changePlan).Doc(Doc{Summary: "Put a tenant on a plan (\"\" for none)", Body: planBody{}, Answer: tenantView{}})
	}
	admin.Post("/tenants/:slug/projections/:name/rebuild", a.rebuildReadModel).Doc(Doc{Summary: "Rebuild one read model of a tenant from its events", Answer: rebuildView{}, Status: 202})
	admin.Get("/tenants/:slug/projections", a.projections).Doc(Doc{Summary: "How far each read model of a tenant has projected its log", Answer: progressView{}})
}

type brandingView struct {
	Tenant       string `json:"tenant"`
	Name         string `json:"name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

// branding is public: an SPA themes itself before its user logs in. A
// token presented anyway must be the tenant's, as on every route.
func (a tenancyRoutes) branding(c *fiber.Ctx) error {
	t, err := a.deps.Tenants.Resolve(c)
	if err != nil {
		return err
	}
	if c.Get(fiber.HeaderAuthorization) != "" {
		if _, err := a.authenticate(tenant.With(c.UserContext(), t), c); err != nil {
			return err
		}
	}
	s, _ := a.res.Catalog.Get(t)
	b := s.Branding
	return WriteJSON(c, fiber.StatusOK, brandingView{Tenant: string(t), Name: b.Name, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, AccentColor: b.AccentColor})
}

type brandingBody struct {
	Name         *string `json:"name"`
	LogoURL      *string `json:"logo_url"`
	PrimaryColor *string `json:"primary_color"`
	AccentColor  *string `json:"accent_color"`
}

func (a tenancyRoutes) putBranding(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b brandingBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	t, _ := tenant.From(c.UserContext())
	s, _ := a.res.Catalog.Get(t)
	next := s.Branding
	for dst, src := range map[*string]*string{&next.Name: b.Name, &next.LogoURL: b.LogoURL, &next.PrimaryColor: b.PrimaryColor, &next.AccentColor: b.AccentColor} {
		if src != nil {
			*dst = *src
		}
	}
	res, err := a.res.Handler.ChangeBranding(c.UserContext(), req, next)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return WriteJSON(c, fiber.StatusOK, brandingView{Tenant: string(t), Name: next.Name, LogoURL: next.LogoURL, PrimaryColor: next.PrimaryColor, AccentColor: next.AccentColor})
}

type expensePolicyBody struct {
	Categories           *[]string               `json:"categories"`
	ReceiptRequiredAbove *money.Money            `json:"receipt_required_above"`
	CategoryCeilings     *map[string]money.Money `json:"category_ceilings"`
	MaxReceiptBytes      *int64                  `json:"max_receipt_bytes"`
}

type settingsBody struct {
	Currency                   *money.Currency                            `json:"currency"`
	Currencies                 *[]money.Currency                          `json:"currencies"`
	TimeZone                   *string                                    `json:"time_zone"`
	InvoiceValidationThreshold *money.Money                               `json:"invoice_validation_threshold"`
	ExpensePolicy              *expensePolicyBody                         `json:"expense_policy"`
	CurrencyPolicies           *map[money.Currency]tenancy.CurrencyPolicy `json:"currency_policies"`
}

func (b settingsBody) patch() tenancy.SettingsPatch {
	p := tenancy.SettingsPatch{Currency: b.Currency, Currencies: b.Currencies, TimeZone: b.TimeZone,
		InvoiceValidationThreshold: b.InvoiceValidationThreshold, CurrencyPolicies: b.CurrencyPolicies}
	if e := b.ExpensePolicy; e != nil {
		p.ExpensePolicy = &tenancy.ExpensePolicyPatch{Categories: e.Categories, ReceiptRequiredAbove: e.ReceiptRequiredAbove,
			CategoryCeilings: e.CategoryCeilings, MaxReceiptBytes: e.MaxReceiptBytes}
	}
	return p
}

// settingsView is the settings as clients read them: every list and map
// present, the accepted currencies of settings recorded before there was
// a choice spelled out.
func settingsView(s tenancy.Settings) tenancy.Settings {
	if s.ExpensePolicy.CategoryCeilings == nil {
		s.ExpensePolicy.CategoryCeilings = map[string]money.Money{}
	}
	s.Currencies = s.Accepted()
	policies := make(map[money.Currency]tenancy.CurrencyPolicy, len(s.CurrencyPolicies))
	for c, p := range s.CurrencyPolicies {
		if p.CategoryCeilings == nil {
			p.CategoryCeilings = map[string]int64{}
		}
		policies[c] = p
	}
	s.CurrencyPolicies = policies
	return s
}

func requireAdmin(ctx context.Context) error {
	p, err := user.From(ctx)
	if err != nil {
		return err
	}
	if !p.Has(user.Admin) {
		return domain.Forbiddenf("only the tenant's admins read its settings")
	}
	return nil
}

func (a tenancyRoutes) getSettings(c *fiber.Ctx) error {
	if err := requireAdmin(c.UserContext()); err != nil {
		return err
	}
	t, _ := tenant.From(c.UserContext())
	s, _ := a.res.Catalog.Get(t)
	return WriteJSON(c, fiber.StatusOK, settingsView(s.Settings))
}

func (a tenancyRoutes) putSettings(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b settingsBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	res, err := a.res.Handler.ChangeSettings(c.UserContext(), req, b.patch())
	if err != nil {
		return err
	}
	t, _ := tenant.From(c.UserContext())
	s, _ := a.res.Catalog.Get(t)
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return WriteJSON(c, fiber.StatusOK, settingsView(s.Settings))
}

// platform authenticates a platform administrator for /admin routes, with
// a token that names no tenant.
func (a *api) platform(c *fiber.Ctx) error {
	p, err := a.authenticate(c.UserContext(), c)
	if err != nil {
		return err
	}
	if !p.Has(user.PlatformAdmin) {
		return domain.Forbiddenf("platform administrators only")
	}
	c.SetUserContext(user.With(c.UserContext(), p))
	return c.Next()
}

type tenantView struct {
	Slug      string           `json:"slug"`
	Name      string           `json:"name"`
	Domains   []string         `json:"domains"`
	Branding  tenancy.Branding `json:"branding"`
	Settings  tenancy.Settings `json:"settings"`
	Limits    tenancy.Limits   `json:"limits"`
	Plan      string           `json:"plan"`
	Suspended bool             `json:"suspended"`
	ReadOnly  bool             `json:"read_only"`
	Since     time.Time        `json:"since"`
}

type planView struct {
	Name   string             `json:"name"`
	Limits tenancy.PlanLimits `json:"limits"`
	At     time.Time          `json:"defined_at"`
}

type planBody struct {
	Plan *string `json:"plan"`
}

func viewPlan(p tenancy.Plan) planView { return planView{Name: p.Name, Limits: p.Limits, At: p.At} }

func (a tenancyRoutes) listPlans(c *fiber.Ctx) error {
	plans := a.plans.Plans()
	out := make([]planView, len(plans))
	for i, p := range plans {
		out[i] = viewPlan(p)
	}
	return WriteJSON(c, fiber.StatusOK, List(out, ""))
}

// definePlan defines a plan, or changes its limits.
func (a tenancyRoutes) definePlan(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b tenancy.PlanLimits
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	name := c.Params("name")
	if _, err := a.res.Handler.DefinePlan(c.UserContext(), req, name, b); err != nil {
		return err
	}
	p, _ := a.plans.Plan(name)
	return WriteJSON(c, fiber.StatusOK, viewPlan(p))
}

// changePlan puts a tenant on a plan.
func (a tenancyRoutes) changePlan(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b planBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	if b.Plan == nil {
		return FieldProblem("plan", `plan is required: a plan's name, or "" for none`)
	}
	if _, err := a.res.Handler.ChangePlan(c.UserContext(), req, c.Params("slug"), *b.Plan); err != nil {
		return err
	}
	s, _ := a.res.Catalog.Get(tenant.ID(c.Params("slug")))
	return WriteJSON(c, fiber.StatusOK, viewTenant(s))
}

func viewTenant(s tenancy.State) tenantView {
	d := s.Domains
	if d == nil {
		d = []string{}
	}
	return tenantView{Slug: string(s.ID), Name: s.Name, Domains: d, Branding: s.Branding, Settings: settingsView(s.Settings), Limits: s.Limits, Plan: s.Plan, Suspended: s.Suspended, ReadOnly: s.ReadOnly, Since: s.Since}
}

type provisionBody struct {
	Slug     string           `json:"slug"`
	Name     string           `json:"name"`
	Domains  []string         `json:"domains"`
	Branding tenancy.Branding `json:"branding"`
	Settings settingsBody     `json:"settings"`
	Admin    *struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	} `json:"admin"`
}

func (a tenancyRoutes) provisionTenant(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b provisionBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	var admin tenancycmd.FirstAdmin
	if b.Admin != nil {
		admin = tenancycmd.FirstAdmin{Email: b.Admin.Email, Name: b.Admin.Name, Password: b.Admin.Password}
	}
	res, err := a.res.Handler.Provision(c.UserContext(), tenancycmd.ProvisionTenant{
		Request: req, Slug: b.Slug, Name: b.Name, Domains: b.Domains, Branding: b.Branding, Settings: b.Settings.patch(), Admin: admin,
	})
	if err != nil {
		return err
	}
	s, _ := a.res.Catalog.Get(tenant.ID(b.Slug))
	c.Set(fiber.HeaderLocation, "/admin/v1/tenants/"+b.Slug)
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return WriteJSON(c, fiber.StatusCreated, viewTenant(s))
}

func (a tenancyRoutes) listTenants(c *fiber.Ctx) error {
	all := a.res.Catalog.List()
	items := make([]tenantView, len(all))
	for i, s := range all {
		items[i] = viewTenant(s)
	}
	return WriteJSON(c, fiber.StatusOK, List(items, ""))
}

func (a tenancyRoutes) suspendTenant(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b struct {
		Reason string `json:"reason"`
	}
	if err := Decode(c, &b, true); err != nil {
		return err
	}
	if _, err := a.res.Handler.Suspend(c.UserContext(), req, c.Params("slug"), b.Reason); err != nil {
		return err
	}
	s, _ := a.res.Catalog.Get(tenant.ID(c.Params("slug")))
	return WriteJSON(c, fiber.StatusOK, viewTenant(s))
}

type offboardBody struct {
	// Confirm, the tenant's slug, deletes its data for good: only once it
	// is read-only.
	Confirm string `json:"confirm"`
}

// offboardView is where a tenant's offboarding stands.
type offboardView struct {
	Tenant   string `json:"tenant"`
	ReadOnly bool   `json:"read_only"`
	Deleted  bool   `json:"deleted"`
	// Archive is where its archive is taken, until it is deleted.
	Archive string `json:"archive,omitempty"`
}

// offboardTenant starts a tenant's offboarding: read-only from now on;
// with {"confirm": "<slug>"}, a read-only tenant's data is deleted, its
// record kept as a tombstone (asked again, what remains is deleted).
func (a tenancyRoutes) offboardTenant(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b offboardBody
	if err := Decode(c, &b, true); err != nil {
		return err
	}
	slug := strings.Clone(c.Params("slug"))
	if b.Confirm == "" {
		if _, err := a.res.Handler.Offboard(c.UserContext(), req, slug); err != nil {
			return err
		}
		return WriteJSON(c, fiber.StatusOK, offboardView{Tenant: slug, ReadOnly: true, Archive: "/admin/v1/tenants/" + slug + "/archive"})
	}
	if a.res.Delete == nil {
		return NewProblem(fiber.StatusNotImplemented, "not_supported", "deleting a tenant is not available here")
	}
	if _, err := a.res.Handler.Delete(c.UserContext(), req, slug, b.Confirm); err != nil {
		return err
	}
	if err := a.res.Delete(tenant.With(c.UserContext(), tenant.ID(slug))); err != nil {
		return err
	}
	return WriteJSON(c, fiber.StatusOK, offboardView{Tenant: slug, ReadOnly: true, Deleted: true})
}

// archive answers a read-only tenant's archive: a zip of its log with its
// hash chain, its read tables and its documents.
func (a tenancyRoutes) archive(c *fiber.Ctx) (io.ReadCloser, documents.Object, error) {
	t, err := a.slugTenant(c)
	if err != nil {
		return nil, documents.Object{}, err
	}
	if a.res.Archive == nil {
		return nil, documents.Object{}, NewProblem(fiber.StatusNotImplemented, "not_supported", "archives are not available here")
	}
	if s, _ := a.res.Catalog.Get(t); !s.ReadOnly {
		return nil, documents.Object{}, NewProblem(fiber.StatusConflict, "tenant_not_read_only",
			"a tenant is archived once it is read-only: POST /admin/v1/tenants/{slug}/offboard first")
	}
	return tempFile("", "atrium-archive-", "application/zip", func(path string) error {
		return a.res.Archive(tenant.With(c.UserContext(), t), path)
	})
}

func (a tenancyRoutes) changeDomains(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b struct {
		Domains []string `json:"domains"`
	}
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	if _, err := a.res.Handler.ChangeDomains(c.UserContext(), req, c.Params("slug"), b.Domains); err != nil {
		return err
	}
	s, _ := a.res.Catalog.Get(tenant.ID(c.Params("slug")))
	return WriteJSON(c, fiber.StatusOK, viewTenant(s))
}

// changeLimits sets a tenant's admission limits; zero fields take the
// platform's defaults.
func (a tenancyRoutes) changeLimits(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b tenancy.Limits
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	if _, err := a.res.Handler.ChangeLimits(c.UserContext(), req, c.Params("slug"), b); err != nil {
		return err
	}
	s, _ := a.res.Catalog.Get(tenant.ID(c.Params("slug")))
	return WriteJSON(c, fiber.StatusOK, viewTenant(s))
}

func (a tenancyRoutes) resumeTenant(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	if err := Decode(c, &emptyBody{}, true); err != nil {
		return err
	}
	if _, err := a.res.Handler.Resume(c.UserContext(), req, c.Params("slug")); err != nil {
		return err
	}
	s, _ := a.res.Catalog.Get(tenant.ID(c.Params("slug")))
	return WriteJSON(c, fiber.StatusOK, viewTenant(s))
}

// slugTenant is the tenant an admin route's :slug names, 404 when there is
// none.
func (a *api) slugTenant(c *fiber.Ctx) (tenant.ID, error) {
	t, err := tenant.ParseClient(c.Params("slug"))
	if err != nil {
		return "", NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
	}
	if _, ok := a.deps.Catalog.Get(t); !ok {
		return "", NewProblem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
	}
	return t, nil
}

// rebuildReadModel rebuilds one read model of a tenant from its events,
// without stopping the other tenants: 202, the replay runs on.
func (a tenancyRoutes) rebuildReadModel(c *fiber.Ctx) error {
	t, err := a.slugTenant(c)
	if err != nil {
		return err
	}
	if a.res.Rebuild == nil {
		return NewProblem(fiber.StatusNotImplemented, "not_supported", "rebuilds are not available here")
	}
	if err := a.res.Rebuild(tenant.With(c.UserContext(), t), c.Params("name")); err != nil {
		return rebuildRefused(err)
	}
	return WriteJSON(c, fiber.StatusAccepted, rebuildView{Tenant: string(t), ReadModel: c.Params("name"), Status: "rebuilding"})
}

// rebuildRefused words a rebuild's refusal: an unknown read model, or one
// that is never rebuilt.
func rebuildRefused(err error) error {
	switch {
	case errors.Is(err, projections.ErrUnknownReadModel):
		return NewProblem(fiber.StatusNotFound, "read_model_not_found", "no such read model")
	case errors.Is(err, projections.ErrNotRebuildable):
		return NewProblem(fiber.StatusConflict, "read_model_not_rebuildable", "this read model is evidence of the log (the audit chain) and is never rebuilt from it")
	}
	return err
}

type readModelView struct {
	Name     string `json:"name"`
	Position uint64 `json:"position"`
	Behind   uint64 `json:"behind"`
}

// projections answers how far each read model of a tenant has projected
// its log: what a rebuild's progress is read from.
func (a tenancyRoutes) projections(c *fiber.Ctx) error {
	t, err := a.slugTenant(c)
	if err != nil {
		return err
	}
	if a.res.Progress == nil {
		return NewProblem(fiber.StatusNotImplemented, "not_supported", "projection progress is not available here")
	}
	head, cps, err := a.res.Progress(tenant.With(c.UserContext(), t))
	if err != nil {
		return err
	}
	return WriteJSON(c, fiber.StatusOK, progressView{Tenant: string(t), Head: uint64(head), ReadModels: readModelViews(head, cps)})
}

// readModelViews are the read models' checkpoints against the head of
// the tenant's log, by name.
func readModelViews(head streams.Position, cps map[string]streams.Position) []readModelView {
	views := make([]readModelView, 0, len(cps))
	for name, pos := range cps {
		v := readModelView{Name: name, Position: uint64(pos)}
		if head > pos {
			v.Behind = uint64(head - pos)
		}
		views = append(views, v)
	}
	slices.SortFunc(views, func(x, y readModelView) int { return strings.Compare(x.Name, y.Name) })
	return views
}

type rebuildView struct {
	Tenant    string `json:"tenant"`
	ReadModel string `json:"read_model"`
	Status    string `json:"status"`
}

type progressView struct {
	Tenant     string          `json:"tenant"`
	Head       uint64          `json:"head"`
	ReadModels []readModelView `json:"read_models"`
}

// TenantHealth is a tenant's projection as one instance knows it.
type TenantHealth struct {
	Tenant tenant.ID
	// Here: this instance projects the tenant; else another does (a
	// shared read store), and Position and Head are not known here.
	Here       bool
	Subscribed bool
	Position   streams.Position
	Head       streams.Position
	CaughtUp   time.Time
	// Poisoned counts the tenant's events in the poison queue.
	Poisoned uint64
}

type tenantHealthView struct {
	Tenant     string     `json:"tenant"`
	Suspended  bool       `json:"suspended"`
	Projected  string     `json:"projected"` // here, elsewhere
	Subscribed bool       `json:"subscribed"`
	Position   uint64     `json:"position"`
	Head       uint64     `json:"head"`
	Lag        uint64     `json:"lag"`
	CaughtUpAt *time.Time `json:"caught_up_at"`
	Poisoned   uint64     `json:"poisoned"`
}

// health answers every tenant's state and projection: which are
// suspended, lagging, unsubscribed or have poisoned events.
func (a tenancyRoutes) health(c *fiber.Ctx) error {
	if a.res.Health == nil {
		return NewProblem(fiber.StatusNotImplemented, "not_supported", "health is not available here")
	}
	hs, err := a.res.Health(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]tenantHealthView, 0, len(hs))
	for _, h := range hs {
		s, _ := a.res.Catalog.Get(h.Tenant)
		v := tenantHealthView{Tenant: string(h.Tenant), Suspended: s.Suspended, Projected: "elsewhere", Poisoned: h.Poisoned}
		if h.Here {
			at := h.CaughtUp.UTC()
			v.Projected, v.Subscribed, v.Position, v.Head, v.CaughtUpAt = "here", h.Subscribed, uint64(h.Position), uint64(h.Head), &at
			if h.Head > h.Position {
				v.Lag = uint64(h.Head - h.Position)
			}
		}
		items = append(items, v)
	}
	return WriteJSON(c, fiber.StatusOK, List(items, ""))
}
