package http

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// SSOProviders runs the sign-in at a tenant's OpenID Connect provider.
type SSOProviders interface {
	// AuthURL is where the person is sent to sign in: the authorization
	// code flow, with state, nonce and the PKCE challenge of verifier.
	AuthURL(ctx context.Context, s identity.SSO, redirect, state, nonce, verifier string) (string, error)
	// Exchange trades code for the provider's ID token and checks it
	// (signature, issuer, audience, expiry, nonce).
	Exchange(ctx context.Context, s identity.SSO, redirect, code, verifier, nonce string) (identitycmd.SSOIdentity, error)
}

// SSO is single sign-on per tenant: its admins configure it
// (GET/PUT/DELETE /api/v1/auth/sso), people sign in through it
// (GET /api/v1/auth/sso/start, then the provider, then
// GET /api/v1/auth/sso/callback), ending in the tokens of a password
// login.
type SSO struct {
	Handler   *identitycmd.Handler
	Providers SSOProviders
	// Seal and Open keep a sign-in's state in a cookie, sealed for the
	// tenant: a cookie of one tenant's sign-in opens for no other.
	Seal func(t tenant.ID, state []byte) ([]byte, error)
	Open func(t tenant.ID, sealed []byte) ([]byte, error)
}

type ssoRoutes struct {
	*api
	res    SSO
	warned *warnings
}

// warnings logs a tenant's provider failures at most once per
// warnEvery: anonymous sign-in starts reach them, and a dead provider
// would otherwise write a line per request.
type warnings struct {
	mu   sync.Mutex
	last map[tenant.ID]time.Time
}

const warnEvery = time.Minute

// warn logs msg for tenant t unless it was logged for t within warnEvery.
func (a ssoRoutes) warn(t tenant.ID, msg string, err error) {
	now := time.Now()
	a.warned.mu.Lock()
	if now.Sub(a.warned.last[t]) < warnEvery {
		a.warned.mu.Unlock()
		return
	}
	if len(a.warned.last) >= 10_000 {
		clear(a.warned.last) // bounded; at worst a line more per tenant
	}
	a.warned.last[t] = now
	a.warned.mu.Unlock()
	a.deps.Logger.Warn(msg, "tenant", string(t), "err", err, "next_after", warnEvery)
}

type ssoView struct {
	Issuer            string              `json:"issuer"`
	ClientID          string              `json:"client_id"`
	SecretFingerprint string              `json:"client_secret_fingerprint"`
	Domains           []string            `json:"domains"`
	Groups            map[string][]string `json:"groups"`
	Required          bool                `json:"required"`
}

// Mount implements Resource.
func (res SSO) Mount(r Routes) {
	a := ssoRoutes{api: r.a, res: res, warned: &warnings{last: map[tenant.ID]time.Time{}}}
	v1 := r.Tenant()
	v1.Get("/auth/sso", a.read).Doc(Doc{Summary: "The tenant's single sign-on, its client secret never shown (admin)", Answer: ssoView{}})
	v1.Put("/auth/sso", a.configure).Doc(Doc{Summary: "Sign the tenant's people in through its OpenID Connect provider (admin)", Body: identitycmd.ConfigureSSO{}, Answer: ssoView{}, Options: true})
	v1.Delete("/auth/sso", a.remove).Doc(Doc{Summary: "End the tenant's single sign-on (admin)", Answer: CommandResult})
	r.Platform().Delete("/tenants/:slug/sso", a.removeForTenant).Doc(Doc{Summary: "End a tenant's single sign-on (its passwords sign in again): the way back in when its provider fails", Answer: CommandResult})
	pub := r.Public()
	pub.Get("/api/v1/auth/sso/start", a.start).Doc(Doc{Summary: "Sign in through the tenant's provider: a redirect there (return_to: a path of this site to come back to with the tokens)", Status: 302, Query: []string{"return_to"}})
	pub.Get("/api/v1/auth/sso/callback", a.callback).Doc(Doc{Summary: "Where the provider sends the person back: the tokens of a login", Answer: tokenView{}, Query: []string{"code", "state"}, SeeOther: true})
}

func viewSSO(s identity.SSO) ssoView {
	v := ssoView{Issuer: s.Issuer, ClientID: s.ClientID, SecretFingerprint: s.SecretFingerprint, Domains: s.Domains, Groups: map[string][]string{}, Required: s.Required}
	for g, roles := range s.Groups {
		for _, r := range roles {
			v.Groups[g] = append(v.Groups[g], string(r))
		}
	}
	if v.Domains == nil {
		v.Domains = []string{}
	}
	return v
}

func (a ssoRoutes) read(c *fiber.Ctx) error {
	s, err := a.res.Handler.ReadSSO(c.UserContext())
	if err != nil {
		return err
	}
	if !s.Configured() {
		return NewProblem(fiber.StatusNotFound, "sso_not_configured", "the tenant has no single sign-on")
	}
	return WriteJSON(c, fiber.StatusOK, viewSSO(s))
}

func (a ssoRoutes) configure(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var cmd identitycmd.ConfigureSSO
	if err := Decode(c, &cmd, false); err != nil {
		return err
	}
	cmd.Request = req
	res, err := a.res.Handler.ConfigureSSO(c.UserContext(), cmd)
	if err != nil {
		return err
	}
	s, err := a.res.Handler.ReadSSO(c.UserContext())
	if err != nil {
		return err
	}
	SetETag(c, uint64(res.Version))
	return WriteJSON(c, fiber.StatusOK, viewSSO(s))
}

func (a ssoRoutes) remove(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	res, err := a.res.Handler.RemoveSSO(c.UserContext(), req)
	if err != nil {
		return err
	}
	return Answer(c, fiber.StatusOK, res)
}

func (a ssoRoutes) removeForTenant(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	t, err := a.slugTenant(c)
	if err != nil {
		return err
	}
	res, err := a.res.Handler.RemoveTenantSSO(c.UserContext(), req, t)
	if err != nil {
		return err
	}
	return Answer(c, fiber.StatusOK, res)
}

// ssoCookie holds a sign-in between start and callback.
const (
	ssoCookie     = "atrium_sso"
	ssoCookiePath = "/api/v1/auth/sso"
	ssoWindow     = 10 * time.Minute
)

// ssoState is what the cookie seals.
type ssoState struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r,omitempty"`
	Until    time.Time `json:"u"`
}

// ssoTenant is the tenant a sign-in is for, by its host or X-Tenant, under
// the failed-login limits of the address.
func (a ssoRoutes) ssoTenant(c *fiber.Ctx) (context.Context, tenant.ID, string, error) {
	t, err := a.deps.Tenants.Resolve(c)
	if errors.Is(err, tenant.ErrNoTenant) {
		return nil, "", "", NewProblem(fiber.StatusBadRequest, "tenant_required", "name the tenant by its host or X-Tenant")
	}
	if err != nil {
		return nil, "", "", err
	}
	address := c.IP()
	account := string(t) + "\x00sso\x00" + address
	if wait := a.logins.admit(address, account); wait > 0 {
		p := NewProblem(fiber.StatusTooManyRequests, "too_many_attempts", "too many sign-in attempts; wait and try again")
		p.RetryAfter = retryAfter(wait)
		return nil, "", "", p
	}
	return tenant.With(c.UserContext(), t), t, account, nil
}

// redirectURI is this tenant's callback, as the person's browser reaches
// it (the provider's client must list it).
func redirectURI(c *fiber.Ctx) string {
	return c.BaseURL() + "/api/v1/auth/sso/callback"
}

// validReturnTo accepts a path of this site: "/..." and nothing that
// leaves it ("//host", "/\host"), at most 512 bytes, printable.
func validReturnTo(s string) bool {
	return s == "" || len(s) <= 512 && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "/\\") &&
		strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) < 0
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// start sends the person to the tenant's provider, its state (PKCE
// verifier, nonce, where to come back) sealed in a cookie for ten
// minutes.
func (a ssoRoutes) start(c *fiber.Ctx) error {
	ctx, t, _, err := a.ssoTenant(c)
	if err != nil {
		return err
	}
	returnTo := c.Query("return_to")
	if !validReturnTo(returnTo) {
		return FieldProblem("return_to", "return_to must be a path of this site, starting with one /")
	}
	s, err := a.res.Handler.SSOOf(ctx)
	if err != nil {
		return err
	}
	if !s.Configured() {
		return NewProblem(fiber.StatusNotFound, "sso_not_configured", "the tenant has no single sign-on")
	}
	st := ssoState{ReturnTo: strings.Clone(returnTo), Until: time.Now().Add(ssoWindow)}
	for _, v := range []*string{&st.State, &st.Nonce, &st.Verifier} {
		if *v, err = randomToken(); err != nil {
			return err
		}
	}
	to, err := a.res.Providers.AuthURL(ctx, s, redirectURI(c), st.State, st.Nonce, st.Verifier)
	if err != nil {
		a.warn(t, "sso: the tenant's provider", err)
		return NewProblem(fiber.StatusBadGateway, "sso_provider_unavailable", "the tenant's identity provider cannot be reached")
	}
	plain, err := json.Marshal(st)
	if err != nil {
		return err
	}
	sealed, err := a.res.Seal(t, plain)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: ssoCookie, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: ssoCookiePath,
		MaxAge: int(ssoWindow.Seconds()), HTTPOnly: true, Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteLaxMode})
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(to, fiber.StatusFound)
}

func ssoStateInvalid() *Problem {
	return NewProblem(fiber.StatusBadRequest, "sso_state_invalid", "this sign-in was not started here, or took more than ten minutes: start again")
}

// callback takes the person back from the provider: the state must be the
// one sealed for this tenant, the code is exchanged with the PKCE
// verifier, the ID token checked, and the person signed in as
// identitycmd.SignInSSO says.
func (a ssoRoutes) callback(c *fiber.Ctx) error {
	ctx, t, account, err := a.ssoTenant(c)
	if err != nil {
		return err
	}
	address := c.IP()
	// Only a code the provider refused, after a sign-in this server
	// started, counts against the address's failed logins (each costs a
	// call to the provider): a state or a cookie that is not one guesses
	// nothing (its state is 256 random bits), and counting it would let
	// any page lock an office out of its logins with links to this route.
	fail := func(p *Problem) error {
		a.logins.failed(address, account)
		return p
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Cookies(ssoCookie))
	if err != nil || len(raw) == 0 || len(raw) > 4096 {
		return ssoStateInvalid()
	}
	plain, err := a.res.Open(t, raw)
	if err != nil {
		return ssoStateInvalid()
	}
	var st ssoState
	if err := json.Unmarshal(plain, &st); err != nil || time.Now().After(st.Until) || c.Query("state") != st.State {
		return ssoStateInvalid()
	}
	// The cookie is spent, whatever comes of it.
	c.Cookie(&fiber.Cookie{Name: ssoCookie, Value: "", Path: ssoCookiePath, MaxAge: -1, HTTPOnly: true,
		Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteLaxMode})
	if e := c.Query("error"); e != "" {
		return NewProblem(fiber.StatusUnauthorized, "sso_refused", "the identity provider did not sign the person in")
	}
	code := c.Query("code")
	if code == "" || len(code) > 2048 {
		return FieldProblem("code", "the provider's code is missing")
	}
	s, err := a.res.Handler.SSOOf(ctx)
	if err != nil {
		return err
	}
	if !s.Configured() {
		return NewProblem(fiber.StatusNotFound, "sso_not_configured", "the tenant has no single sign-on")
	}
	id, err := a.res.Providers.Exchange(ctx, s, redirectURI(c), strings.Clone(code), st.Verifier, st.Nonce)
	if err != nil {
		a.warn(t, "sso: sign-in refused", err)
		return fail(NewProblem(fiber.StatusUnauthorized, "sso_refused", "the identity provider's answer was refused"))
	}
	// A person the provider vouched for and the tenant refuses (a domain,
	// no role, another person's address) guessed nothing: not counted.
	pair, err := a.res.Handler.SignInSSO(ctx, id)
	if err != nil {
		return err
	}
	a.logins.succeeded(account)
	if st.ReturnTo == "" {
		return writeTokens(c, pair)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	frag := url.Values{"access_token": {pair.AccessToken}, "refresh_token": {pair.RefreshToken}, "token_type": {"Bearer"},
		"expires_in": {strconv.FormatInt(int64(pair.ExpiresIn.Seconds()), 10)}}
	return c.Redirect(st.ReturnTo+"#"+frag.Encode(), fiber.StatusSeeOther)
}
