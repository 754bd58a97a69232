package http

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
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
		return "", problem(fiber.StatusBadRequest, "tenant_mismatch", "the host name and X-Tenant name different tenants")
	case hostNamed:
		t = fromHost
	case header != "":
		id, err := tenant.ParseClient(header)
		if err != nil {
			return "", problem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
		}
		t = id
	default:
		return "", tenant.ErrNoTenant
	}
	s, ok := h.Catalog.Get(t)
	if !ok {
		return "", problem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
	}
	if s.Suspended {
		return "", problem(fiber.StatusForbidden, "tenant_suspended", "this tenant is suspended")
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
			return "", true, problem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
		}
		id, err := tenant.ParseClient(slug)
		if err != nil {
			return "", true, problem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
		}
		return id, true, nil
	}
	if id, ok := h.Catalog.ByDomain(host); ok {
		return id, true, nil
	}
	return "", false, nil
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
func (a *api) branding(c *fiber.Ctx) error {
	t, err := a.deps.Tenants.Resolve(c)
	if err != nil {
		return err
	}
	if c.Get(fiber.HeaderAuthorization) != "" {
		if _, err := a.authenticate(tenant.With(c.UserContext(), t), c); err != nil {
			return err
		}
	}
	s, _ := a.deps.Catalog.Get(t)
	b := s.Branding
	return writeJSON(c, fiber.StatusOK, brandingView{Tenant: string(t), Name: b.Name, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, AccentColor: b.AccentColor})
}

type brandingBody struct {
	Name         *string `json:"name"`
	LogoURL      *string `json:"logo_url"`
	PrimaryColor *string `json:"primary_color"`
	AccentColor  *string `json:"accent_color"`
}

func (a *api) putBranding(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	var b brandingBody
	if err := decode(c, &b, false); err != nil {
		return err
	}
	t, _ := tenant.From(c.UserContext())
	s, _ := a.deps.Catalog.Get(t)
	next := s.Branding
	for dst, src := range map[*string]*string{&next.Name: b.Name, &next.LogoURL: b.LogoURL, &next.PrimaryColor: b.PrimaryColor, &next.AccentColor: b.AccentColor} {
		if src != nil {
			*dst = *src
		}
	}
	res, err := a.deps.Tenancy.ChangeBranding(c.UserContext(), req, next)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return writeJSON(c, fiber.StatusOK, brandingView{Tenant: string(t), Name: next.Name, LogoURL: next.LogoURL, PrimaryColor: next.PrimaryColor, AccentColor: next.AccentColor})
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

func (a *api) getSettings(c *fiber.Ctx) error {
	if err := requireAdmin(c.UserContext()); err != nil {
		return err
	}
	t, _ := tenant.From(c.UserContext())
	s, _ := a.deps.Catalog.Get(t)
	return writeJSON(c, fiber.StatusOK, settingsView(s.Settings))
}

func (a *api) putSettings(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	var b settingsBody
	if err := decode(c, &b, false); err != nil {
		return err
	}
	res, err := a.deps.Tenancy.ChangeSettings(c.UserContext(), req, b.patch())
	if err != nil {
		return err
	}
	t, _ := tenant.From(c.UserContext())
	s, _ := a.deps.Catalog.Get(t)
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return writeJSON(c, fiber.StatusOK, settingsView(s.Settings))
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
	Suspended bool             `json:"suspended"`
	Since     time.Time        `json:"since"`
}

func viewTenant(s tenancy.State) tenantView {
	d := s.Domains
	if d == nil {
		d = []string{}
	}
	return tenantView{Slug: string(s.ID), Name: s.Name, Domains: d, Branding: s.Branding, Settings: settingsView(s.Settings), Limits: s.Limits, Suspended: s.Suspended, Since: s.Since}
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

func (a *api) provisionTenant(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	var b provisionBody
	if err := decode(c, &b, false); err != nil {
		return err
	}
	var admin tenancycmd.FirstAdmin
	if b.Admin != nil {
		admin = tenancycmd.FirstAdmin{Email: b.Admin.Email, Name: b.Admin.Name, Password: b.Admin.Password}
	}
	res, err := a.deps.Tenancy.Provision(c.UserContext(), tenancycmd.ProvisionTenant{
		Request: req, Slug: b.Slug, Name: b.Name, Domains: b.Domains, Branding: b.Branding, Settings: b.Settings.patch(), Admin: admin,
	})
	if err != nil {
		return err
	}
	s, _ := a.deps.Catalog.Get(tenant.ID(b.Slug))
	c.Set(fiber.HeaderLocation, "/admin/v1/tenants/"+b.Slug)
	c.Set(fiber.HeaderETag, etag(uint64(res.Version)))
	return writeJSON(c, fiber.StatusCreated, viewTenant(s))
}

func (a *api) listTenants(c *fiber.Ctx) error {
	all := a.deps.Catalog.List()
	items := make([]tenantView, len(all))
	for i, s := range all {
		items[i] = viewTenant(s)
	}
	return writeJSON(c, fiber.StatusOK, list(items, ""))
}

func (a *api) suspendTenant(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	var b struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &b, true); err != nil {
		return err
	}
	if _, err := a.deps.Tenancy.Suspend(c.UserContext(), req, c.Params("slug"), b.Reason); err != nil {
		return err
	}
	s, _ := a.deps.Catalog.Get(tenant.ID(c.Params("slug")))
	return writeJSON(c, fiber.StatusOK, viewTenant(s))
}

func (a *api) changeDomains(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	var b struct {
		Domains []string `json:"domains"`
	}
	if err := decode(c, &b, false); err != nil {
		return err
	}
	if _, err := a.deps.Tenancy.ChangeDomains(c.UserContext(), req, c.Params("slug"), b.Domains); err != nil {
		return err
	}
	s, _ := a.deps.Catalog.Get(tenant.ID(c.Params("slug")))
	return writeJSON(c, fiber.StatusOK, viewTenant(s))
}

// changeLimits sets a tenant's admission limits; zero fields take the
// platform's defaults.
func (a *api) changeLimits(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	var b tenancy.Limits
	if err := decode(c, &b, false); err != nil {
		return err
	}
	if _, err := a.deps.Tenancy.ChangeLimits(c.UserContext(), req, c.Params("slug"), b); err != nil {
		return err
	}
	s, _ := a.deps.Catalog.Get(tenant.ID(c.Params("slug")))
	return writeJSON(c, fiber.StatusOK, viewTenant(s))
}

func (a *api) resumeTenant(c *fiber.Ctx) error {
	req, err := request(c)
	if err != nil {
		return err
	}
	if err := decode(c, &emptyBody{}, true); err != nil {
		return err
	}
	if _, err := a.deps.Tenancy.Resume(c.UserContext(), req, c.Params("slug")); err != nil {
		return err
	}
	s, _ := a.deps.Catalog.Get(tenant.ID(c.Params("slug")))
	return writeJSON(c, fiber.StatusOK, viewTenant(s))
}

// rebuildReadModel rebuilds one read model of a tenant from its events,
// without stopping the other tenants: 202, the replay runs on.
func (a *api) rebuildReadModel(c *fiber.Ctx) error {
	t, err := tenant.ParseClient(c.Params("slug"))
	if err != nil {
		return problem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
	}
	if _, ok := a.deps.Catalog.Get(t); !ok {
		return problem(fiber.StatusNotFound, "tenant_not_found", "no such tenant")
	}
	if a.deps.Rebuild == nil {
		return problem(fiber.StatusNotImplemented, "not_supported", "rebuilds are not available here")
	}
	if err := a.deps.Rebuild(tenant.With(c.UserContext(), t), c.Params("name")); err != nil {
		if errors.Is(err, projections.ErrUnknownReadModel) {
			return problem(fiber.StatusNotFound, "read_model_not_found", "no such read model")
		}
		return err
	}
	return writeJSON(c, fiber.StatusAccepted, map[string]string{"tenant": string(t), "read_model": c.Params("name"), "status": "rebuilding"})
}
