// Package identity is who may sign in: users (platform-wide, one per email
// address) and their memberships in tenants, each with roles. Credentials
// are not here: events hold no secret.
package identity

import (
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// Stream categories: accounts ("platform.user-<id>"), the address each one
// claims ("platform.email-<hash>"), memberships ("<tenant>.member-<user
// id>") and each tenant's security log ("<tenant>.security-log").
const (
	UserCategory     = "user"
	EmailCategory    = "email"
	MemberCategory   = "member"
	SecurityCategory = "security"
)

// Events.
type (
	// Registered: a person got a platform account ("platform.user-<id>").
	// Tenant is the tenant whose admin created it (empty for the platform's
	// own administrators).
	Registered struct {
		UserID string    `json:"user_id"`
		Email  string    `json:"email"`
		Name   string    `json:"name"`
		Tenant tenant.ID `json:"tenant,omitempty"`
		At     time.Time `json:"at"`
	}
	// EmailClaimed reserves an address for one user ("platform.email-<hash>").
	EmailClaimed struct {
		Email  string `json:"email"`
		UserID string `json:"user_id"`
	}
	// MemberAdded: a user joined a tenant with roles ("<tenant>.member-<user id>").
	MemberAdded struct {
		Tenant tenant.ID   `json:"tenant"`
		UserID string      `json:"user_id"`
		Email  string      `json:"email"`
		Name   string      `json:"name"`
		Roles  []user.Role `json:"roles"`
		By     string      `json:"by"`
		At     time.Time   `json:"at"`
	}
	// MemberInvited: a tenant's admin asked a person to join with roles
	// ("<tenant>.member-<user id>"). The membership is pending until the
	// person signs in to the tenant with their own credentials (MemberJoined):
	// an admin never sets or learns the credentials of an account that
	// existed before.
	MemberInvited struct {
		Tenant tenant.ID   `json:"tenant"`
		UserID string      `json:"user_id"`
		Email  string      `json:"email"`
		Name   string      `json:"name"`
		Roles  []user.Role `json:"roles"`
		By     string      `json:"by"`
		At     time.Time   `json:"at"`
	}
	// MemberJoined: an invited person signed in to the tenant, accepting
	// the invitation.
	MemberJoined struct {
		Tenant tenant.ID `json:"tenant"`
		UserID string    `json:"user_id"`
		At     time.Time `json:"at"`
	}
	// CrossTenantAttempt: a token of one tenant was presented on another.
	// It is recorded in both tenants' logs ("<tenant>.security-log"): the
	// route's pattern, and the path cut to a bounded length.
	CrossTenantAttempt struct {
		UserID        string    `json:"user_id"`
		TokenTenant   tenant.ID `json:"token_tenant"`
		RequestTenant tenant.ID `json:"request_tenant"`
		Method        string    `json:"method"`
		Route         string    `json:"route,omitempty"`
		Path          string    `json:"path"`
		At            time.Time `json:"at"`
	}
)

func (Registered) EventName() string         { return "user.registered.v1" }
func (EmailClaimed) EventName() string       { return "user.email_claimed.v1" }
func (MemberAdded) EventName() string        { return "member.added.v1" }
func (MemberInvited) EventName() string      { return "member.invited.v1" }
func (MemberJoined) EventName() string       { return "member.joined.v1" }
func (CrossTenantAttempt) EventName() string { return "security.cross_tenant_attempt.v1" }

// NormalizeEmail lower-cases and trims an address and checks it.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndex(e, "@"):], ".") {
		return "", domain.Invalidf("email", "invalid_email", "email must be an address such as ada@example.com")
	}
	return e, nil
}

// ValidateName checks a person's display name.
func ValidateName(n string) (string, error) {
	return domain.Text("name", n, 120, true)
}

// ValidateRoles checks tenant roles: at least one, each known, no repeats.
func ValidateRoles(roles []string) ([]user.Role, error) {
	if len(roles) == 0 {
		return nil, domain.Invalidf("roles", "invalid_roles", "a member needs at least one role")
	}
	out := make([]user.Role, 0, len(roles))
	for _, r := range roles {
		role, ok := user.ParseRole(r)
		if !ok {
			return nil, domain.Invalidf("roles", "invalid_roles", "unknown role %q", r)
		}
		if !slices.Contains(out, role) {
			out = append(out, role)
		}
	}
	return out, nil
}

// Member is a user's membership in a tenant, folded from its stream.
// Pending is true for an invitation not accepted yet: such a member holds
// its roles but cannot act until it signs in once.
type Member struct {
	UserID  string
	Email   string
	Name    string
	Roles   []user.Role
	Since   time.Time
	Pending bool
	// SSOIssuer and SSOSubject are the person the tenant's provider named
	// at their first sign-in through it: the membership is theirs, not the
	// email's next holder's.
	SSOIssuer  string
	SSOSubject string
}

// Status names a membership's state as reads show it.
func (m Member) Status() string {
	if m.Pending {
		return StatusInvited
	}
	return StatusActive
}

// Membership states.
const (
	StatusActive  = "active"
	StatusInvited = "invited"
)

// EvolveMember applies a membership event.
func EvolveMember(m Member, e domain.Event) Member {
	switch e := e.(type) {
	case MemberAdded:
		m = Member{UserID: e.UserID, Email: e.Email, Name: e.Name, Roles: e.Roles, Since: e.At}
	case MemberInvited:
		m = Member{UserID: e.UserID, Email: e.Email, Name: e.Name, Roles: e.Roles, Since: e.At, Pending: true}
	case MemberJoined:
		m.Pending = false
	case SSOLinked:
		m.SSOIssuer, m.SSOSubject = e.Issuer, e.Subject
	}
	return m
}
