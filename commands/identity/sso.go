package identity

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// SSOSecrets keeps the tenants' OpenID Connect client secrets, sealed
// with the operator's key.
type SSOSecrets interface {
	// Fingerprint names secret without revealing it.
	Fingerprint(t tenant.ID, secret []byte) string
	// Store seals secret and keeps it under t and its fingerprint.
	Store(ctx context.Context, t tenant.ID, fingerprint string, secret []byte) error
}

// Providers checks an issuer before a tenant is pointed at it.
type Providers interface {
	// Check fetches the issuer's discovery document: an error says why
	// it cannot be used (unreachable, a forbidden address, not a
	// provider).
	Check(ctx context.Context, issuer string) error
}

// UseSSO sets what single sign-on needs: where client secrets are kept
// and how issuers are checked. Without it, ConfigureSSO is refused.
func (h *Handler) UseSSO(secrets SSOSecrets, providers Providers) {
	h.ssoSecrets, h.providers = secrets, providers
}

// ConfigureSSO points the ctx tenant's single sign-on at an OpenID
// Connect provider.
type ConfigureSSO struct {
	Request      commands.Request    `json:"-"`
	Issuer       string              `json:"issuer"`
	ClientID     string              `json:"client_id"`
	ClientSecret string              `json:"client_secret"`
	Domains      []string            `json:"domains"`
	Groups       map[string][]string `json:"groups"`
	Required     bool                `json:"required"`
}

// maxClientSecret bounds a client secret.
const maxClientSecret = 1024

func ssoStream(t tenant.ID) (streams.Name, error) {
	return streams.NewName(t, identity.SSOCategory, identity.SSOStreamID)
}

// ConfigureSSO sets the ctx tenant's single sign-on (its admins): the
// configuration is checked, the issuer's discovery document fetched and
// the secret sealed before the event that records its fingerprint. A
// secret left out keeps the one configured for the same client.
func (h *Handler) ConfigureSSO(ctx context.Context, c ConfigureSSO) (commands.Result, error) {
	t, p, err := h.tenantAdmin(ctx, "configure single sign-on")
	if err != nil {
		return commands.Result{}, err
	}
	if err := h.canWrite(t); err != nil {
		return commands.Result{}, err
	}
	if h.ssoSecrets == nil || h.providers == nil {
		return commands.Result{}, domain.Rejectf("sso_unavailable", "single sign-on is not available on this server")
	}
	s, err := identity.ValidateSSO(c.Issuer, c.ClientID, c.Domains, c.Groups, c.Required)
	if err != nil {
		return commands.Result{}, err
	}
	if len(c.ClientSecret) > maxClientSecret {
		return commands.Result{}, domain.Invalidf("client_secret", "invalid_client_secret", "client_secret is at most 1024 bytes")
	}
	tctx := tenant.With(ctx, t)
	if res, ok, err := h.x.Answered(tctx, c.Request); ok || err != nil {
		return res, err
	}
	n, err := ssoStream(t)
	if err != nil {
		return commands.Result{}, err
	}
	evs, recs, err := h.x.Load(tctx, n)
	if err != nil {
		return commands.Result{}, err
	}
	// What Run would refuse (a stale If-Match, a key reused) is refused
	// before the secret is kept.
	if res, done, err := h.x.Precheck(tctx, c.Request, n, recs); done || err != nil {
		return res, err
	}
	var was identity.SSO
	for _, e := range evs {
		was = identity.EvolveSSO(was, e)
	}
	switch {
	case c.ClientSecret != "":
		s.SecretFingerprint = h.ssoSecrets.Fingerprint(t, []byte(c.ClientSecret))
	case was.Configured() && was.Issuer == s.Issuer && was.ClientID == s.ClientID:
		s.SecretFingerprint = was.SecretFingerprint
	default:
		return commands.Result{}, domain.Invalidf("client_secret", "invalid_client_secret", "client_secret is required for a new issuer or client")
	}
	if err := h.providers.Check(ctx, s.Issuer); err != nil {
		// What the issuer answered is not told: it may be a service of the
		// operator's network the issuer redirected to.
		return commands.Result{}, domain.Invalidf("issuer", "issuer_unusable", "the issuer's discovery document could not be fetched, or is not an OpenID Connect provider's for this issuer")
	}
	if c.ClientSecret != "" {
		if err := h.ssoSecrets.Store(ctx, t, s.SecretFingerprint, []byte(c.ClientSecret)); err != nil {
			return commands.Result{}, err
		}
	}
	return h.x.Run(tctx, commands.Call{Name: "configure_sso", Request: c.Request, Stream: n, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		return commands.Decision{Events: []domain.Event{identity.SSOConfigured{Tenant: t, SSO: s, By: string(p.ID), At: h.now().UTC()}}}, nil
	}})
}

// RemoveSSO ends the ctx tenant's single sign-on (its admins): its
// members sign in with passwords again, those who have one.
func (h *Handler) RemoveSSO(ctx context.Context, req commands.Request) (commands.Result, error) {
	t, p, err := h.tenantAdmin(ctx, "remove single sign-on")
	if err != nil {
		return commands.Result{}, err
	}
	return h.removeSSO(ctx, req, t, string(p.ID))
}

// RemoveTenantSSO ends tenant t's single sign-on for the platform's
// administrators: the way back in for a tenant whose provider is gone or
// misconfigured while it refuses passwords.
func (h *Handler) RemoveTenantSSO(ctx context.Context, req commands.Request, t tenant.ID) (commands.Result, error) {
	p, err := user.From(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	if !p.Has(user.PlatformAdmin) {
		return commands.Result{}, domain.Forbiddenf("only platform administrators remove a tenant's single sign-on this way")
	}
	return h.removeSSO(ctx, req, t, string(p.ID))
}

func (h *Handler) removeSSO(ctx context.Context, req commands.Request, t tenant.ID, by string) (commands.Result, error) {
	if err := h.canWrite(t); err != nil {
		return commands.Result{}, err
	}
	n, err := ssoStream(t)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(tenant.With(ctx, t), commands.Call{Name: "remove_sso", Request: req, Stream: n, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		var s identity.SSO
		for _, e := range history {
			s = identity.EvolveSSO(s, e)
		}
		if !s.Configured() {
			return commands.Decision{}, domain.NotFoundf("sso_not_configured", "the tenant has no single sign-on")
		}
		return commands.Decision{Events: []domain.Event{identity.SSORemoved{Tenant: t, By: by, At: h.now().UTC()}}}, nil
	}})
}

// ReadSSO is the ctx tenant's single sign-on, for its admins.
func (h *Handler) ReadSSO(ctx context.Context) (identity.SSO, error) {
	t, _, err := h.tenantAdmin(ctx, "read single sign-on")
	if err != nil {
		return identity.SSO{}, err
	}
	return h.sso(tenant.With(ctx, t))
}

// SSOOf is the ctx tenant's single sign-on, for the sign-in flow (no
// caller: the person is signing in).
func (h *Handler) SSOOf(ctx context.Context) (identity.SSO, error) {
	return h.sso(ctx)
}

func (h *Handler) sso(ctx context.Context) (identity.SSO, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return identity.SSO{}, err
	}
	if t == tenant.Platform {
		return identity.SSO{}, nil
	}
	n, err := ssoStream(t)
	if err != nil {
		return identity.SSO{}, err
	}
	evs, _, err := h.x.Load(ctx, n)
	if err != nil {
		return identity.SSO{}, err
	}
	var s identity.SSO
	for _, e := range evs {
		s = identity.EvolveSSO(s, e)
	}
	return s, nil
}

// tenantAdmin is the ctx tenant and its admin calling, or a refusal.
func (h *Handler) tenantAdmin(ctx context.Context, what string) (tenant.ID, user.Principal, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", user.Principal{}, err
	}
	p, err := user.From(ctx)
	if err != nil {
		return "", user.Principal{}, err
	}
	if t == tenant.Platform || !p.Has(user.Admin) {
		return "", user.Principal{}, domain.Forbiddenf("only the tenant's admins %s", what)
	}
	return t, p, nil
}

// SSOIdentity is a person as the tenant's provider vouched for them in an
// ID token whose signature, issuer, audience, expiry and nonce were
// checked.
type SSOIdentity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
}

func ssoRefused(code, format string, args ...any) error {
	return &domain.Error{Kind: domain.Forbidden, Code: code, Message: fmt.Sprintf(format, args...)}
}

// SignInSSO opens a login of the ctx tenant for the person its provider
// vouched for: a member signs in with their roles; a person of an allowed
// domain who is not one becomes a member, with the roles their groups map
// to (and takes a seat of the tenant's plan). It ends in the same tokens
// as a password login.
func (h *Handler) SignInSSO(ctx context.Context, id SSOIdentity) (TokenPair, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return TokenPair{}, err
	}
	s, err := h.sso(ctx)
	if err != nil {
		return TokenPair{}, err
	}
	if !s.Configured() {
		return TokenPair{}, domain.NotFoundf("sso_not_configured", "the tenant has no single sign-on")
	}
	if id.Issuer != s.Issuer {
		return TokenPair{}, ssoRefused("sso_refused", "the identity was not vouched for by the tenant's provider")
	}
	if !id.EmailVerified {
		return TokenPair{}, ssoRefused("sso_email_unverified", "the provider has not verified the email address")
	}
	email, err := identity.NormalizeEmail(id.Email)
	if err != nil {
		return TokenPair{}, ssoRefused("sso_refused", "the provider gave no usable email address")
	}
	if !s.Allows(email) {
		return TokenPair{}, ssoRefused("sso_domain_not_allowed", "people of %s do not sign in to this tenant", email[strings.LastIndexByte(email, '@')+1:])
	}
	uid, err := h.userByEmail(ctx, email)
	if err != nil {
		return TokenPair{}, err
	}
	m, ok, err := h.member(ctx, t, uid)
	if err != nil {
		return TokenPair{}, err
	}
	switch {
	case !ok:
		if m, uid, err = h.ssoMember(ctx, t, s, email, id); err != nil {
			return TokenPair{}, err
		}
	case m.SSOIssuer == id.Issuer && m.SSOSubject != id.Subject:
		// The provider gives this address to someone else now: the
		// membership stays its first holder's.
		return TokenPair{}, ssoRefused("sso_subject_mismatch", "this address belongs to another person at the provider than the member's: an admin must remove the member first")
	default:
		if m.Pending {
			if err := h.join(ctx, t, uid); err != nil {
				return TokenPair{}, err
			}
		}
		if m.SSOIssuer != id.Issuer && h.canWrite(t) == nil {
			if err := h.link(ctx, t, uid, id); err != nil {
				return TokenPair{}, err
			}
		}
	}
	return h.open(ctx, Session{ID: uuid.NewString(), UserID: uid, Tenant: t, Roles: m.Roles, ExpiresAt: h.now().Add(h.refreshTTL)})
}

// ssoMember makes the person a member of t, with the roles their groups
// map to: no password, so they sign in through the provider only.
func (h *Handler) ssoMember(ctx context.Context, t tenant.ID, s identity.SSO, email string, id SSOIdentity) (identity.Member, string, error) {
	if err := h.canWrite(t); err != nil {
		return identity.Member{}, "", err
	}
	roles := s.RolesOf(id.Groups)
	if len(roles) == 0 {
		return identity.Member{}, "", ssoRefused("sso_no_role", "none of the person's groups at the provider is given a role in this tenant")
	}
	name, err := identity.ValidateName(id.Name)
	if err != nil || name == "" {
		name = email[:strings.LastIndexByte(email, '@')]
	}
	if h.seats != nil {
		release, err := h.seats(ctx, t)
		if err != nil {
			return identity.Member{}, "", err
		}
		defer release()
	}
	// The account is registered by single sign-on itself: the person is
	// nobody here until it is.
	uid, _, err := h.ensureUser(user.With(ctx, user.Principal{ID: "sso"}), t, email, name)
	if err != nil {
		return identity.Member{}, "", err
	}
	ms, err := streams.NewName(t, identity.MemberCategory, uid)
	if err != nil {
		return identity.Member{}, "", err
	}
	sctx := user.With(tenant.With(ctx, t), user.Principal{ID: user.ID(uid)})
	var m identity.Member
	_, err = h.x.Run(sctx, commands.Call{Name: "sso_member", Request: commands.Request{CommandID: uuid.NewString()}, Stream: ms, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		for _, e := range history {
			m = identity.EvolveMember(m, e)
		}
		if m.UserID != "" {
			return commands.Decision{}, nil // a member meanwhile: signs in as one
		}
		at := h.now().UTC()
		evs := []domain.Event{identity.MemberAdded{Tenant: t, UserID: uid, Email: email, Name: name, Roles: roles, By: "sso", At: at},
			identity.SSOLinked{Tenant: t, UserID: uid, Issuer: id.Issuer, Subject: id.Subject, At: at}}
		for _, e := range evs {
			m = identity.EvolveMember(m, e)
		}
		return commands.Decision{Events: evs}, nil
	}})
	return m, uid, err
}

// link records that the member uid of t is the person the provider names
// id.Subject, at their first sign-in through it.
func (h *Handler) link(ctx context.Context, t tenant.ID, uid string, id SSOIdentity) error {
	ms, err := streams.NewName(t, identity.MemberCategory, uid)
	if err != nil {
		return err
	}
	lctx := user.With(tenant.With(ctx, t), user.Principal{ID: user.ID(uid)})
	_, err = h.x.Run(lctx, commands.Call{Name: "sso_link", Request: commands.Request{CommandID: uuid.NewString()}, Stream: ms, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		var m identity.Member
		for _, e := range history {
			m = identity.EvolveMember(m, e)
		}
		if m.SSOIssuer == id.Issuer {
			if m.SSOSubject != id.Subject {
				return commands.Decision{}, ssoRefused("sso_subject_mismatch", "this address belongs to another person at the provider than the member's")
			}
			return commands.Decision{}, nil // linked meanwhile
		}
		return commands.Decision{Events: []domain.Event{identity.SSOLinked{Tenant: t, UserID: uid, Issuer: id.Issuer, Subject: id.Subject, At: h.now().UTC()}}}, nil
	}})
	return err
}
