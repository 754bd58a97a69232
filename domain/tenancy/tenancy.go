// Package tenancy is the tenant catalog's aggregate: a client company's
// registration on the platform, its domains, branding and configuration,
// and whether it is served. Each tenant's record lives in the platform
// stream "platform.tenant-<slug>".
package tenancy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// Stream categories of the platform log: each tenant's record
// ("platform.tenant-<slug>") and each custom domain's claim
// ("platform.domain-<hash>").
const (
	Category       = "tenant"
	DomainCategory = "domain"
)

// Branding is how a tenant's SPA themes itself.
type Branding struct {
	Name         string `json:"name"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
	AccentColor  string `json:"accent_color"`
}

// ExpensePolicy is checked when an expense claim is submitted.
type ExpensePolicy struct {
	Categories           []string               `json:"categories"`
	ReceiptRequiredAbove money.Money            `json:"receipt_required_above"`
	CategoryCeilings     map[string]money.Money `json:"category_ceilings"`
	MaxReceiptBytes      int64                  `json:"max_receipt_bytes"`
}

// Settings is a tenant's configuration. Currency is its primary currency:
// InvoiceValidationThreshold and ExpensePolicy's amounts are in it.
// Currencies are all the currencies it accepts documents and payments in,
// Currency among them; for each of the others, CurrencyPolicies holds the
// same policies in that currency, so every accepted currency has them all.
type Settings struct {
	Currency money.Currency `json:"currency"`
	// Currencies is nil in settings recorded before tenants chose several:
	// those accept Currency only.
	Currencies                 []money.Currency                  `json:"currencies"`
	TimeZone                   string                            `json:"time_zone"`
	InvoiceValidationThreshold money.Money                       `json:"invoice_validation_threshold"`
	ExpensePolicy              ExpensePolicy                     `json:"expense_policy"`
	CurrencyPolicies           map[money.Currency]CurrencyPolicy `json:"currency_policies"`
}

// DefaultSettings are a new tenant's settings in currency c.
func DefaultSettings(c money.Currency) Settings {
	return Settings{
		Currency: c, Currencies: []money.Currency{c}, TimeZone: "UTC",
		InvoiceValidationThreshold: money.New(1_000_000, c),
		ExpensePolicy: ExpensePolicy{
			Categories:           []string{"travel", "meals", "lodging", "supplies", "training", "other"},
			ReceiptRequiredAbove: money.New(2_500, c),
			CategoryCeilings:     map[string]money.Money{},
			MaxReceiptBytes:      10 << 20,
		},
	}
}

// Events of the catalog.
type (
	// Provisioned: a client company was registered and its resources created.
	Provisioned struct {
		Tenant        tenant.ID `json:"tenant"`
		Name          string    `json:"name"`
		Domains       []string  `json:"domains"`
		Branding      Branding  `json:"branding"`
		Settings      Settings  `json:"settings"`
		ProvisionedBy string    `json:"provisioned_by"`
		At            time.Time `json:"at"`
	}
	// DomainsChanged: the custom domains the tenant is served at changed.
	DomainsChanged struct {
		Tenant  tenant.ID `json:"tenant"`
		Domains []string  `json:"domains"`
		By      string    `json:"by"`
		At      time.Time `json:"at"`
	}
	// BrandingChanged: the tenant's branding changed.
	BrandingChanged struct {
		Tenant   tenant.ID `json:"tenant"`
		Branding Branding  `json:"branding"`
		By       string    `json:"by"`
		At       time.Time `json:"at"`
	}
	// SettingsChanged: the tenant's configuration changed.
	SettingsChanged struct {
		Tenant   tenant.ID `json:"tenant"`
		Settings Settings  `json:"settings"`
		By       string    `json:"by"`
		At       time.Time `json:"at"`
	}
	// Suspended: the tenant is no longer served.
	Suspended struct {
		Tenant tenant.ID `json:"tenant"`
		Reason string    `json:"reason,omitempty"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// LimitsChanged: the platform changed how much of the service the
	// tenant may use at once.
	LimitsChanged struct {
		Tenant tenant.ID `json:"tenant"`
		Limits Limits    `json:"limits"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// OffboardingStarted: the tenant is leaving. It is read-only from now
	// on (its reads answer, its commands are refused) so that its archive
	// is the whole of it.
	OffboardingStarted struct {
		Tenant tenant.ID `json:"tenant"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// Archived: a read-only tenant's archive was taken, its log then
	// ending at Head; its deletion checks that nothing was written since.
	Archived struct {
		Tenant tenant.ID `json:"tenant"`
		Head   uint64    `json:"head"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// Deleted: an offboarded tenant's data was deleted. The record stays,
	// a tombstone, so its slug is never silently given to another
	// company.
	Deleted struct {
		Tenant tenant.ID `json:"tenant"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// Resumed: a suspended tenant is served again.
	Resumed struct {
		Tenant tenant.ID `json:"tenant"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// DomainClaimed holds a custom domain for one tenant, in the platform
	// stream "platform.domain-<hash>", so no two tenants share a domain.
	DomainClaimed struct {
		Domain string    `json:"domain"`
		Tenant tenant.ID `json:"tenant"`
	}
	// DomainReleased frees a custom domain.
	DomainReleased struct {
		Domain string    `json:"domain"`
		Tenant tenant.ID `json:"tenant"`
	}
)

func (Provisioned) EventName() string     { return "tenant.provisioned.v1" }
func (DomainsChanged) EventName() string  { return "tenant.domains_changed.v1" }
func (BrandingChanged) EventName() string { return "tenant.branding_changed.v1" }
func (SettingsChanged) EventName() string { return "tenant.settings_changed.v1" }
func (Suspended) EventName() string       { return "tenant.suspended.v1" }
func (Resumed) EventName() string         { return "tenant.resumed.v1" }
func (OffboardingStarted) EventName() string {
	return "tenant.offboarding_started.v1"
}
func (Archived) EventName() string       { return "tenant.archived.v1" }
func (Deleted) EventName() string        { return "tenant.deleted.v1" }
func (LimitsChanged) EventName() string  { return "tenant.limits_changed.v1" }
func (DomainClaimed) EventName() string  { return "tenant.domain_claimed.v1" }
func (DomainReleased) EventName() string { return "tenant.domain_released.v1" }

// State is one tenant's catalog record.
type State struct {
	ID       tenant.ID
	Name     string
	Domains  []string
	Branding Branding
	Settings Settings
	Limits   Limits
	// Plan is the name of the tenant's plan, "" for none.
	Plan      string
	Suspended bool
	// ReadOnly: the tenant is being offboarded; it writes nothing more.
	ReadOnly bool
	// Archived: its archive was taken, its log then ending at ArchivedHead.
	Archived     bool
	ArchivedHead uint64
	// Deleted: its data is gone; the record is a tombstone.
	Deleted bool
	Since   time.Time
}

// Limits bound a tenant's use of the service, set by the platform, never by
// the tenant's own admins. A zero field takes the platform's default.
type Limits struct {
	// RequestsPerSecond is the sustained rate of the tenant's API requests.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Burst is how many requests may come at once above that rate.
	Burst int `json:"burst"`
	// ConcurrentRequests is how many of its requests are served at once.
	ConcurrentRequests int `json:"concurrent_requests"`
}

// DefaultLimits are the limits of a tenant the platform set none for, on a
// machine with cpus CPUs: 25 requests a second per CPU (a few percent of
// what a CPU serves), bursts of twice that, and half the CPUs (at least
// one) in flight at once, so that no tenant alone takes more than a small
// share of the machine. The platform sets more for a tenant that needs it.
func DefaultLimits(cpus int) Limits {
	cpus = max(1, cpus)
	return Limits{RequestsPerSecond: float64(25 * cpus), Burst: 50 * cpus, ConcurrentRequests: max(1, cpus/2)}
}

// Or returns l with its zero fields taken from def.
func (l Limits) Or(def Limits) Limits {
	if l.RequestsPerSecond <= 0 {
		l.RequestsPerSecond = def.RequestsPerSecond
	}
	if l.Burst <= 0 {
		l.Burst = def.Burst
	}
	if l.ConcurrentRequests <= 0 {
		l.ConcurrentRequests = def.ConcurrentRequests
	}
	return l
}

// Limit bounds: enough for any one company, small enough that a typo does
// not hand one tenant the whole service.
const (
	maxRequestsPerSecond = 100_000
	maxBurst             = 1_000_000
	maxConcurrent        = 10_000
)

// Validate checks l, naming the field at fault.
func (l Limits) Validate() error {
	switch {
	case l.RequestsPerSecond != 0 && !(l.RequestsPerSecond >= 1 && l.RequestsPerSecond <= maxRequestsPerSecond):
		return domain.Invalidf("requests_per_second", "invalid_limit", "requests_per_second must be 0 (the default) or from 1 to %d", maxRequestsPerSecond)
	case l.Burst < 0 || l.Burst > maxBurst:
		return domain.Invalidf("burst", "invalid_limit", "burst must be from 0 (the default) to %d", maxBurst)
	case l.ConcurrentRequests < 0 || l.ConcurrentRequests > maxConcurrent:
		return domain.Invalidf("concurrent_requests", "invalid_limit", "concurrent_requests must be from 0 (the default) to %d", maxConcurrent)
	}
	return nil
}

// DecideLimits changes a tenant's limits.
func DecideLimits(s State, l Limits, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if l == s.Limits {
		return nil, nil
	}
	return []domain.Event{LimitsChanged{Tenant: s.ID, Limits: l, By: by, At: at.UTC()}}, nil
}

// Exists reports whether the tenant was provisioned.
func (s State) Exists() bool { return s.ID != "" }

// served is nil for a tenant that exists and was not deleted, else the
// not-found error every change of a tenant answers: a deleted tenant's
// record is a tombstone, which nothing changes any more (but its deletion,
// asked again to finish).
func (s State) served() error {
	if !s.Exists() || s.Deleted {
		return domain.NotFoundf("tenant_not_found", "no such tenant")
	}
	return nil
}

// writable is served, and refuses a read-only tenant (being offboarded):
// what its archive holds of it (branding, settings) no longer changes.
func (s State) writable() error {
	if err := s.served(); err != nil {
		return err
	}
	if s.ReadOnly {
		return &domain.Error{Kind: domain.Forbidden, Code: "tenant_read_only", Message: "this tenant is being offboarded: it is read-only"}
	}
	return nil
}

// Evolve applies one event.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case Provisioned:
		s = State{ID: e.Tenant, Name: e.Name, Domains: e.Domains, Branding: e.Branding, Settings: e.Settings, Since: e.At}
	case DomainsChanged:
		s.Domains = e.Domains
	case BrandingChanged:
		s.Branding = e.Branding
	case SettingsChanged:
		s.Settings = e.Settings
	case Suspended:
		s.Suspended = true
	case Resumed:
		s.Suspended = false
	case OffboardingStarted:
		s.ReadOnly = true
	case Archived:
		s.Archived, s.ArchivedHead = true, e.Head
	case Deleted:
		s.Deleted, s.ReadOnly, s.Domains = true, true, nil
	case LimitsChanged:
		s.Limits = e.Limits
	case PlanChanged:
		s.Plan = e.Plan
	}
	return s
}

var (
	domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	colorPattern  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	categoryName  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
)

// NormalizeDomain lower-cases a host name and strips a port and a final dot.
func NormalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if h, _, ok := strings.Cut(d, ":"); ok {
		d = h
	}
	return strings.TrimSuffix(d, ".")
}

// ValidateDomains normalizes and checks custom domains: valid host names,
// no duplicates, none under the platform's base domain.
func ValidateDomains(domains []string, baseDomain string) ([]string, error) {
	if len(domains) > 20 {
		return nil, domain.Invalidf("domains", "invalid_domains", "at most 20 domains")
	}
	out := make([]string, 0, len(domains))
	for i, d := range domains {
		n := NormalizeDomain(d)
		field := fmt.Sprintf("domains[%d]", i)
		if len(n) > 253 || !domainPattern.MatchString(n) {
			return nil, domain.Invalidf(field, "invalid_domain", "%q is not a host name", d)
		}
		if n == baseDomain || strings.HasSuffix(n, "."+baseDomain) {
			return nil, domain.Invalidf(field, "invalid_domain", "%q is under the platform's own domain", d)
		}
		if slices.Contains(out, n) {
			return nil, domain.Invalidf(field, "invalid_domain", "%q is listed twice", d)
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func text(field, v string, max int, required bool) error {
	_, err := domain.Text(field, v, max, required)
	return err
}

// ValidateBranding checks branding; name is required.
func ValidateBranding(b Branding) error {
	if err := text("branding.name", b.Name, 120, true); err != nil {
		return err
	}
	validURL := logoURL(b.LogoURL)
	if b.LogoURL != "" && (len(b.LogoURL) > 2000 || !validURL) {
		return domain.Invalidf("branding.logo_url", "invalid_url", "logo_url must be an http(s) URL or a path")
	}
	for field, c := range map[string]string{"branding.primary_color": b.PrimaryColor, "branding.accent_color": b.AccentColor} {
		if c != "" && !colorPattern.MatchString(c) {
			return domain.Invalidf(field, "invalid_color", "%s must be a color such as #1a2b3c", field)
		}
	}
	return nil
}

// ValidateSettings checks settings, naming the first field that is wrong.
func ValidateSettings(s Settings) error {
	if _, err := money.ParseCurrency(string(s.Currency)); err != nil {
		return domain.Invalidf("currency", "invalid_currency", "currency must be an ISO 4217 code such as EUR")
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "" || s.TimeZone == "Local" {
		return domain.Invalidf("time_zone", "invalid_time_zone", "time_zone must be an IANA zone such as Europe/Paris")
	}
	amount := func(field string, m money.Money) error {
		if m.Currency != s.Currency {
			return domain.Invalidf(field, "currency_mismatch", "%s must be in %s", field, s.Currency)
		}
		return policyAmount(field, m.Amount)
	}
	if err := amount("invoice_validation_threshold", s.InvoiceValidationThreshold); err != nil {
		return err
	}
	p := s.ExpensePolicy
	if len(p.Categories) == 0 || len(p.Categories) > 50 {
		return domain.Invalidf("expense_policy.categories", "invalid_categories", "between 1 and 50 categories")
	}
	for i, c := range p.Categories {
		if !categoryName.MatchString(c) || slices.Contains(p.Categories[:i], c) {
			return domain.Invalidf(fmt.Sprintf("expense_policy.categories[%d]", i), "invalid_category", "categories are distinct lower-case words")
		}
	}
	if err := amount("expense_policy.receipt_required_above", p.ReceiptRequiredAbove); err != nil {
		return err
	}
	for _, c := range slices.Sorted(maps.Keys(p.CategoryCeilings)) {
		if !slices.Contains(p.Categories, c) {
			return domain.Invalidf("expense_policy.category_ceilings."+c, "unknown_category", "%q is not one of the categories", c)
		}
		if err := amount("expense_policy.category_ceilings."+c, p.CategoryCeilings[c]); err != nil {
			return err
		}
	}
	if p.MaxReceiptBytes < 1024 || p.MaxReceiptBytes > 50<<20 {
		return domain.Invalidf("expense_policy.max_receipt_bytes", "invalid_size", "max_receipt_bytes must be between 1 KiB and 50 MiB")
	}
	return validateCurrencies(s)
}

// Provision is the command registering a tenant.
type Provision struct {
	Tenant     tenant.ID
	Name       string
	Domains    []string
	Branding   Branding
	Settings   Settings
	BaseDomain string
	By         string
	At         time.Time
}

// DecideProvision validates a new tenant's record.
func DecideProvision(s State, c Provision) (Provisioned, error) {
	if s.Deleted {
		return Provisioned{}, domain.WrongStatef("tenant_exists", "tenant %s was deleted: a deleted tenant's slug is never given again", c.Tenant)
	}
	if s.Exists() {
		return Provisioned{}, domain.WrongStatef("tenant_exists", "tenant %s already exists", c.Tenant)
	}
	if _, err := tenant.ParseClient(string(c.Tenant)); err != nil {
		return Provisioned{}, domain.Invalidf("slug", "invalid_slug", "slug must match ^[a-z][a-z0-9]{1,30}$ and not be reserved")
	}
	if err := text("name", c.Name, 120, true); err != nil {
		return Provisioned{}, err
	}
	domains, err := ValidateDomains(c.Domains, c.BaseDomain)
	if err != nil {
		return Provisioned{}, err
	}
	if c.Branding.Name == "" {
		c.Branding.Name = c.Name
	}
	if err := ValidateBranding(c.Branding); err != nil {
		return Provisioned{}, err
	}
	if err := ValidateSettings(c.Settings); err != nil {
		return Provisioned{}, err
	}
	return Provisioned{Tenant: c.Tenant, Name: strings.TrimSpace(c.Name), Domains: domains, Branding: c.Branding,
		Settings: c.Settings, ProvisionedBy: c.By, At: c.At.UTC()}, nil
}

// DecideSuspend suspends a served tenant.
func DecideSuspend(s State, reason, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if s.Suspended {
		return nil, nil // already suspended: nothing to do
	}
	if err := text("reason", reason, 500, false); err != nil {
		return nil, err
	}
	return []domain.Event{Suspended{Tenant: s.ID, Reason: strings.TrimSpace(reason), By: by, At: at.UTC()}}, nil
}

// DecideOffboard starts a tenant's offboarding: read-only from then on.
func DecideOffboard(s State, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if s.ReadOnly {
		return nil, nil
	}
	return []domain.Event{OffboardingStarted{Tenant: s.ID, By: by, At: at.UTC()}}, nil
}

// DecideArchived records that a read-only tenant's archive was taken,
// its log then ending at head.
func DecideArchived(s State, head uint64, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if !s.ReadOnly {
		return nil, domain.WrongStatef("tenant_not_read_only", "a tenant is archived once it is read-only")
	}
	if s.Archived && s.ArchivedHead == head {
		return nil, nil
	}
	return []domain.Event{Archived{Tenant: s.ID, Head: head, By: by, At: at.UTC()}}, nil
}

// DecideDelete deletes a read-only tenant whose archive holds its whole
// log: head is where its log ends now, which must be where it ended when
// the archive was taken.
// Deciding it again for a deleted tenant writes nothing (the deletion of
// what remains is retried).
func DecideDelete(s State, confirm string, head uint64, by string, at time.Time) ([]domain.Event, error) {
	switch {
	case !s.Exists():
		return nil, domain.NotFoundf("tenant_not_found", "no such tenant")
	case confirm != string(s.ID):
		return nil, domain.Invalidf("confirm", "confirmation_required", "confirm must be the tenant's slug: its data is deleted for good")
	case s.Deleted:
		return nil, nil
	case !s.ReadOnly:
		return nil, domain.WrongStatef("tenant_not_read_only", "a tenant is deleted once it is read-only: POST /admin/v1/tenants/{slug}/offboard first, and take its archive (GET /admin/v1/tenants/{slug}/archive) before deleting it")
	case !s.Archived:
		return nil, domain.WrongStatef("archive_required", "take the tenant's archive (GET /admin/v1/tenants/{slug}/archive) before deleting it")
	case s.ArchivedHead != head:
		return nil, domain.WrongStatef("archive_stale", "the tenant's log moved from %d to %d since its archive was taken: take it again before deleting it", s.ArchivedHead, head)
	}
	return []domain.Event{Deleted{Tenant: s.ID, By: by, At: at.UTC()}}, nil
}

// DecideResume resumes a suspended tenant.
func DecideResume(s State, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if !s.Suspended {
		return nil, nil
	}
	return []domain.Event{Resumed{Tenant: s.ID, By: by, At: at.UTC()}}, nil
}

// DecideBranding replaces the branding.
func DecideBranding(s State, b Branding, by string, at time.Time) ([]domain.Event, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	if err := ValidateBranding(b); err != nil {
		return nil, err
	}
	if b == s.Branding {
		return nil, nil
	}
	return []domain.Event{BrandingChanged{Tenant: s.ID, Branding: b, By: by, At: at.UTC()}}, nil
}

// DecideSettings replaces the settings with next, already merged by the caller.
func DecideSettings(s State, next Settings, by string, at time.Time) ([]domain.Event, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	if err := ValidateSettings(next); err != nil {
		return nil, err
	}
	return []domain.Event{SettingsChanged{Tenant: s.ID, Settings: next, By: by, At: at.UTC()}}, nil
}

// SettingsPatch holds the fields of a settings change; nil fields keep
// their value. Lists and maps are replaced whole.
type SettingsPatch struct {
	Currency                   *money.Currency
	Currencies                 *[]money.Currency
	TimeZone                   *string
	InvoiceValidationThreshold *money.Money
	ExpensePolicy              *ExpensePolicyPatch
	CurrencyPolicies           *map[money.Currency]CurrencyPolicy
}

// ExpensePolicyPatch holds the fields of an expense policy change.
type ExpensePolicyPatch struct {
	Categories           *[]string
	ReceiptRequiredAbove *money.Money
	CategoryCeilings     *map[string]money.Money
	MaxReceiptBytes      *int64
}

// Apply returns s with the patch's fields replaced. A tenant that accepts
// its currency only goes on accepting its currency only when the currency
// changes and the patch names no currencies.
func (p SettingsPatch) Apply(s Settings) Settings {
	if p.Currency != nil {
		if p.Currencies == nil && (s.Currencies == nil || slices.Equal(s.Currencies, []money.Currency{s.Currency})) {
			s.Currencies = []money.Currency{*p.Currency}
		}
		s.Currency = *p.Currency
	}
	if p.Currencies != nil {
		s.Currencies = *p.Currencies
	}
	if p.CurrencyPolicies != nil {
		s.CurrencyPolicies = *p.CurrencyPolicies
	}
	if p.TimeZone != nil {
		s.TimeZone = *p.TimeZone
	}
	if p.InvoiceValidationThreshold != nil {
		s.InvoiceValidationThreshold = *p.InvoiceValidationThreshold
	}
	if e := p.ExpensePolicy; e != nil {
		if e.Categories != nil {
			s.ExpensePolicy.Categories = *e.Categories
		}
		if e.ReceiptRequiredAbove != nil {
			s.ExpensePolicy.ReceiptRequiredAbove = *e.ReceiptRequiredAbove
		}
		if e.CategoryCeilings != nil {
			s.ExpensePolicy.CategoryCeilings = *e.CategoryCeilings
		}
		if e.MaxReceiptBytes != nil {
			s.ExpensePolicy.MaxReceiptBytes = *e.MaxReceiptBytes
		}
	}
	return s
}

// DecideDomains replaces the custom domains, already validated.
func DecideDomains(s State, domains []string, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if slices.Equal(domains, s.Domains) {
		return nil, nil
	}
	return []domain.Event{DomainsChanged{Tenant: s.ID, Domains: domains, By: by, At: at.UTC()}}, nil
}

// logoURL reports whether u is an absolute http(s) URL with a host, or a
// path on this service ("/logo.svg"; not "//host/…", which browsers read
// as another host), with no spaces or control characters.
func logoURL(u string) bool {
	if strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) || strings.Contains(u, "\\") {
		return false
	}
	switch {
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		rest := u[strings.Index(u, "//")+2:]
		host, _, _ := strings.Cut(rest, "/")
		return host != "" && !strings.ContainsAny(host, "@")
	case strings.HasPrefix(u, "/"):
		return !strings.HasPrefix(u, "//")
	}
	return false
}
