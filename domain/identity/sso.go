package identity

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// SSOCategory and SSOStreamID name a tenant's single sign-on
// configuration: "<tenant>.sso-config".
const (
	SSOCategory = "sso"
	SSOStreamID = "config"
)

// SSO is a tenant's single sign-on through its own OpenID Connect
// provider. The client secret is never in it: SecretFingerprint names it,
// kept sealed elsewhere.
type SSO struct {
	Issuer            string `json:"issuer"`
	ClientID          string `json:"client_id"`
	SecretFingerprint string `json:"secret_fingerprint"`
	// Domains are the email domains whose people may sign in; one of
	// them not yet a member becomes one on first sign-in.
	Domains []string `json:"domains"`
	// Groups maps the provider's groups to the roles a new member gets.
	Groups map[string][]user.Role `json:"groups"`
	// Required refuses the members' passwords: SSO only.
	Required bool `json:"required"`
}

// Configured reports whether the tenant has single sign-on.
func (s SSO) Configured() bool { return s.Issuer != "" }

// Allows reports whether email's domain is one of s's.
func (s SSO) Allows(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return at > 0 && slices.Contains(s.Domains, strings.ToLower(email[at+1:]))
}

// RolesOf are the roles groups map to, each once, in the order of
// user.Roles; none when no group is mapped.
func (s SSO) RolesOf(groups []string) []user.Role {
	var out []user.Role
	for _, g := range groups {
		for _, r := range s.Groups[g] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

type (
	// SSOConfigured: the tenant's admin set its single sign-on.
	SSOConfigured struct {
		Tenant tenant.ID `json:"tenant"`
		SSO    SSO       `json:"sso"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// SSOLinked: a member signed in through the tenant's provider, which
	// named them Subject ("<tenant>.member-<user id>"); only that person
	// signs in as this member through that issuer from now on.
	SSOLinked struct {
		Tenant  tenant.ID `json:"tenant"`
		UserID  string    `json:"user_id"`
		Issuer  string    `json:"issuer"`
		Subject string    `json:"subject"`
		At      time.Time `json:"at"`
	}
	// SSORemoved: the tenant signs in with passwords only again.
	SSORemoved struct {
		Tenant tenant.ID `json:"tenant"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
)

func (SSOConfigured) EventName() string { return "sso.configured.v1" }
func (SSORemoved) EventName() string    { return "sso.removed.v1" }
func (SSOLinked) EventName() string     { return "member.sso_linked.v1" }

// EvolveSSO applies one event to a tenant's single sign-on.
func EvolveSSO(s SSO, e domain.Event) SSO {
	switch e := e.(type) {
	case SSOConfigured:
		return e.SSO
	case SSORemoved:
		return SSO{}
	}
	return s
}

// Bounds of a configuration: enough for any company, small enough that
// the configuration stays a small event.
const (
	maxSSODomains = 50
	maxSSOGroups  = 100
	maxGroupName  = 256
	maxClientID   = 256
	maxIssuer     = 2048
)

var domainName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// ValidateSSO checks what an admin sends, naming the field at fault, and
// returns it normalised (domains in lower case, sorted, once each; roles
// validated). The issuer is https, or http on a loopback address (a
// provider on the same machine).
func ValidateSSO(issuer, clientID string, domains []string, groups map[string][]string, required bool) (SSO, error) {
	u, err := url.Parse(issuer)
	switch {
	case len(issuer) > maxIssuer || err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return SSO{}, domain.Invalidf("issuer", "invalid_issuer", "issuer must be the provider's URL, https, with no query")
	case u.Scheme != "https" && (u.Scheme != "http" || !loopback(u.Hostname())):
		return SSO{}, domain.Invalidf("issuer", "invalid_issuer", "issuer must be https (http only on a loopback address)")
	}
	if clientID == "" || len(clientID) > maxClientID || strings.IndexFunc(clientID, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return SSO{}, domain.Invalidf("client_id", "invalid_client_id", "client_id must be 1 to 256 printable characters, no spaces")
	}
	if len(domains) == 0 || len(domains) > maxSSODomains {
		return SSO{}, domain.Invalidf("domains", "invalid_domains", "domains must name 1 to 50 email domains")
	}
	s := SSO{Issuer: issuer, ClientID: clientID, Required: required, Groups: map[string][]user.Role{}}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if len(d) > 253 || !domainName.MatchString(d) {
			return SSO{}, domain.Invalidf("domains", "invalid_domains", "%q is not an email domain", d)
		}
		if !slices.Contains(s.Domains, d) {
			s.Domains = append(s.Domains, d)
		}
	}
	slices.Sort(s.Domains)
	if len(groups) > maxSSOGroups {
		return SSO{}, domain.Invalidf("groups", "invalid_groups", "groups maps at most 100 of the provider's groups")
	}
	for g, roles := range groups {
		if g == "" || len(g) > maxGroupName || strings.IndexFunc(g, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return SSO{}, domain.Invalidf("groups", "invalid_groups", "a group's name is 1 to 256 printable characters")
		}
		rs, err := ValidateRoles(roles)
		if err != nil {
			return SSO{}, domain.Invalidf("groups", "invalid_role", "group %q: %v", g, err)
		}
		s.Groups[g] = rs
	}
	return s, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
