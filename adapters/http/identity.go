package http

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/adapters/auth"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections/memberlist"
)

// BearerAuth authenticates "Authorization: Bearer <access token>": a valid
// signature, an open login, and a token of the request's tenant. A token of
// another tenant is refused with a *CrossTenant error, which the API
// answers 403 tenant_mismatch and records in both tenants' security logs.
type BearerAuth struct {
	Issuer   *auth.Issuer
	Identity *identitycmd.Handler
}

// CrossTenant is a valid token of one tenant presented on another.
type CrossTenant struct {
	UserID        string
	SessionID     string
	TokenTenant   tenant.ID
	RequestTenant tenant.ID
}

func (e *CrossTenant) Error() string {
	return fmt.Sprintf("a token of %s presented on %s", e.TokenTenant, e.RequestTenant)
}

// maxLoggedPath bounds the request path a security event records.
const maxLoggedPath = 256

// attempt is what the security logs record of it: the route and a bounded
// part of the path, never more.
func (e *CrossTenant) attempt(c *fiber.Ctx) identity.CrossTenantAttempt {
	path := c.Path()
	if len(path) > maxLoggedPath {
		path = strings.ToValidUTF8(path[:maxLoggedPath], "") + "…"
	}
	return identity.CrossTenantAttempt{UserID: e.UserID, TokenTenant: e.TokenTenant, RequestTenant: e.RequestTenant,
		Method: metricMethod(c.Method()), Route: c.Route().Path, Path: path}
}

// Authenticate implements Authenticator.
func (b BearerAuth) Authenticate(ctx context.Context, c *fiber.Ctx) (user.Principal, error) {
	h := c.Get(fiber.HeaderAuthorization)
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return user.Principal{}, user.ErrNoPrincipal
	}
	claims, err := b.Issuer.Verify(strings.TrimSpace(raw))
	if err != nil {
		return user.Principal{}, user.ErrNoPrincipal
	}
	active, err := b.Identity.Active(ctx, claims.SessionID)
	if err != nil {
		return user.Principal{}, err
	}
	if !active {
		return user.Principal{}, user.ErrNoPrincipal
	}
	reqTenant, _ := tenant.From(ctx)
	if claims.Tenant != reqTenant {
		if claims.Tenant != "" && reqTenant != "" {
			return user.Principal{}, &CrossTenant{UserID: string(claims.Subject), SessionID: claims.SessionID,
				TokenTenant: claims.Tenant, RequestTenant: reqTenant}
		}
		return user.Principal{}, NewProblem(fiber.StatusForbidden, "tenant_mismatch", "this token was issued for another tenant")
	}
	return user.Principal{ID: claims.Subject, Roles: claims.Roles, SessionID: claims.SessionID}, nil
}

// Identity is the sign-in and membership resource: signing in, refreshing
// and out (/api/v1/auth/*), the signing keys (/.well-known/jwks.json), the
// caller (/api/v1/me) and the tenant's members (/api/v1/users).
type Identity struct {
	Handler *identitycmd.Handler
	Issuer  *auth.Issuer
	Members *memberlist.Queries
}

// identityRoutes are Identity's handlers.
type identityRoutes struct {
	*api
	res Identity
}

// Mount implements Resource.
func (res Identity) Mount(r Routes) {
	a := identityRoutes{api: r.a, res: res}
	pub := r.Public()
	pub.Get("/.well-known/jwks.json", a.jwks).Doc(Doc{Summary: "The keys access tokens are signed with", Answer: jwkSet{}, Media: "application/jwk-set+json"})
	pub.Post("/api/v1/auth/login", a.login).Doc(Doc{Summary: "Sign in: a tenant's member (with the tenant's host or X-Tenant), else a platform administrator", Body: loginBody{}, Answer: tokenView{}})
	pub.Post("/api/v1/auth/refresh", a.refresh).Doc(Doc{Summary: "A new access token for a refresh token, which is rotated", Body: refreshBody{}, Answer: tokenView{}})
	pub.Post("/api/v1/auth/logout", a.authenticated, a.logout).Doc(Doc{Summary: "End the caller's login", Status: 204, Bearer: true})
	v1 := r.Tenant()
	v1.Get("/me", a.me).Doc(Doc{Summary: "The caller", Answer: meView{}})
	v1.Post("/users", a.addUser).Doc(Doc{Summary: "Add a member (admin)", Body: addUserBody{}, Answer: userView{}, Status: 201})
	v1.Get("/users", a.listUsers).Doc(Doc{Summary: "The tenant's members", Answer: List([]userView(nil), ""), Query: []string{"limit", "cursor"}})
}

// optionalTenant resolves the tenant when the request names one: auth
// routes without one act on the platform's administrators.
func (a *api) optionalTenant(c *fiber.Ctx) (context.Context, error) {
	t, err := a.deps.Tenants.Resolve(c)
	if errors.Is(err, tenant.ErrNoTenant) {
		return c.UserContext(), nil
	}
	if err != nil {
		return nil, err
	}
	return tenant.With(c.UserContext(), t), nil
}

type tokenView struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

func writeTokens(c *fiber.Ctx, p identitycmd.TokenPair) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return WriteJSON(c, fiber.StatusOK, tokenView{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer", ExpiresIn: int64(p.ExpiresIn.Seconds())})
}

func invalidCredentials() *Problem {
	return NewProblem(fiber.StatusUnauthorized, "invalid_credentials", "the email or the password is wrong")
}

func (a identityRoutes) login(c *fiber.Ctx) error {
	ctx, err := a.optionalTenant(c)
	if err != nil {
		return err
	}
	var b loginBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	pair, err := a.signIn(ctx, a.res.Handler, b.Email, b.Password, c.IP())
	if err != nil {
		return err
	}
	return writeTokens(c, pair)
}

// signIn checks an email and password of the ctx tenant's members (of the
// platform's administrators without one) under the failed-login limits,
// for the API and the console alike: too many failures of an address or
// an account wait (429 too_many_attempts); a success counts against
// neither.
func (a *api) signIn(ctx context.Context, h *identitycmd.Handler, email, password, address string) (identitycmd.TokenPair, error) {
	t, _ := tenant.From(ctx)
	account := string(t) + "\x00" + strings.ToLower(strings.TrimSpace(email)) + "\x00" + address
	if wait := a.logins.admit(address, account); wait > 0 {
		p := NewProblem(fiber.StatusTooManyRequests, "too_many_attempts", "too many login attempts; wait and try again")
		p.RetryAfter = retryAfter(wait)
		return identitycmd.TokenPair{}, p
	}
	if a.logins.isKnown(account) {
		ctx = auth.WithKnownClient(ctx)
	}
	pair, err := h.Login(ctx, email, password)
	switch {
	case errors.Is(err, identitycmd.ErrInvalidCredentials):
		a.logins.failed(address, account)
		return pair, invalidCredentials()
	case err == nil:
		a.logins.succeeded(account)
	}
	return pair, err
}

func (a identityRoutes) refresh(c *fiber.Ctx) error {
	ctx, err := a.optionalTenant(c)
	if err != nil {
		return err
	}
	var b refreshBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	pair, err := a.res.Handler.Refresh(ctx, b.RefreshToken)
	switch {
	case errors.Is(err, identitycmd.ErrRefreshReused):
		return NewProblem(fiber.StatusUnauthorized, "refresh_token_reused", "this refresh token was already used; the login is revoked")
	case errors.Is(err, identitycmd.ErrInvalidRefresh):
		return NewProblem(fiber.StatusUnauthorized, "invalid_refresh_token", "the refresh token is not valid")
	case err != nil:
		return err
	}
	return writeTokens(c, pair)
}

// authenticated resolves an optional tenant and requires a caller.
func (a identityRoutes) authenticated(c *fiber.Ctx) error {
	ctx, err := a.optionalTenant(c)
	if err != nil {
		return err
	}
	p, err := a.authenticate(ctx, c)
	if err != nil {
		return err
	}
	c.SetUserContext(user.With(ctx, p))
	return c.Next()
}

func (a identityRoutes) logout(c *fiber.Ctx) error {
	if err := a.res.Handler.Logout(c.UserContext()); err != nil {
		return err
	}
	c.Status(fiber.StatusNoContent)
	return nil
}

func (a identityRoutes) me(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, _ := user.From(ctx)
	t, _ := tenant.From(ctx)
	email := ""
	if m, err := a.res.Handler.Member(ctx, p.ID); err == nil {
		email = m.Email
	}
	roles := p.Roles
	if roles == nil {
		roles = []user.Role{}
	}
	return WriteJSON(c, fiber.StatusOK, meView{UserID: string(p.ID), Email: email, Tenant: string(t), Roles: roles})
}

type meView struct {
	UserID string      `json:"user_id"`
	Email  string      `json:"email"`
	Tenant string      `json:"tenant"`
	Roles  []user.Role `json:"roles"`
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

type addUserBody struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

type userView struct {
	UserID  string      `json:"user_id"`
	Email   string      `json:"email"`
	Name    string      `json:"name,omitempty"`
	Roles   []user.Role `json:"roles"`
	Status  string      `json:"status"`
	AddedAt *time.Time  `json:"added_at,omitempty"`
}

func (a identityRoutes) addUser(c *fiber.Ctx) error {
	req, err := Options(c)
	if err != nil {
		return err
	}
	var b addUserBody
	if err := Decode(c, &b, false); err != nil {
		return err
	}
	res, err := a.res.Handler.AddMember(c.UserContext(), identitycmd.AddMember{Request: req, Email: b.Email, Name: b.Name, Password: b.Password, Roles: b.Roles})
	if err != nil {
		return err
	}
	m, err := a.res.Handler.Member(c.UserContext(), user.ID(res.ID))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/api/v1/users/"+res.ID)
	return WriteJSON(c, fiber.StatusCreated, userView{UserID: m.UserID, Email: m.Email, Name: m.Name, Roles: m.Roles, Status: m.Status()})
}

func (a identityRoutes) listUsers(c *fiber.Ctx) error {
	n, err := Limit(c)
	if err != nil {
		return err
	}
	ms, next, err := a.res.Members.List(c.UserContext(), n, c.Query("cursor"))
	if err != nil {
		return err
	}
	items := make([]userView, len(ms))
	for i, m := range ms {
		at := m.AddedAt
		items[i] = userView{UserID: m.UserID, Email: m.Email, Name: m.Name, Roles: m.Roles, Status: m.Status, AddedAt: &at}
	}
	return WriteJSON(c, fiber.StatusOK, List(items, next))
}

func (a identityRoutes) jwks(c *fiber.Ctx) error {
	b, err := a.res.Issuer.JWKS()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(b)
}

// jwkSet describes /.well-known/jwks.json for the API description.
type jwkSet struct {
	Keys []map[string]any `json:"keys"`
}
