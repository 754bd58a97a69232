// Package identity holds the commands of sign-in: adding members to a
// tenant, logging in, rotating refresh tokens (a reused one revokes the
// whole login), logging out, and bootstrapping the platform administrator.
// Password hashes and sessions live behind the ports below, never in
// events.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// Credentials keeps password hashes outside the event log, by scope and
// user id. A scope is a tenant (the password that signs the person in to
// that tenant, set by its admins or by the platform) or tenant.Platform
// (a platform administrator's own): no password set in one tenant signs
// anyone in to another tenant or to the platform.
type Credentials interface {
	SetPasswordHash(ctx context.Context, scope tenant.ID, userID, hash string) error
	// PasswordHash returns ErrNotFound when the user has none in scope.
	PasswordHash(ctx context.Context, scope tenant.ID, userID string) (string, error)
}

// Session is one login: the refresh token it accepts now, the ones it
// accepted before (presenting one of those again revokes it).
type Session struct {
	ID        string      `json:"id"`
	UserID    string      `json:"user_id"`
	Tenant    tenant.ID   `json:"tenant"`
	Current   string      `json:"current"`
	Retired   []string    `json:"retired"`
	Revoked   bool        `json:"revoked"`
	ExpiresAt time.Time   `json:"expires_at"`
	Roles     []user.Role `json:"roles"`
}

// Sessions keeps logins. Update is a compare-and-set on the revision Get
// returned, failing with ErrStale when the session changed meanwhile.
type Sessions interface {
	Create(ctx context.Context, s Session) error
	Get(ctx context.Context, id string) (Session, uint64, error)
	Update(ctx context.Context, s Session, revision uint64) error
}

// Passwords hashes and checks passwords. Hashing is the most expensive
// thing a request can ask for, so an implementation may bound how much of
// it runs at once and refuse beyond with ErrBusy; ctx carries the tenant
// for fair scheduling and the deadline of the request.
type Passwords interface {
	Hash(ctx context.Context, pw string) (string, error)
	Check(ctx context.Context, hash, pw string) (bool, error)
	// Dummy spends the time of a check, for unknown users.
	Dummy(ctx context.Context, pw string) error
}

// Tokens issues access tokens.
type Tokens interface {
	Issue(userID user.ID, t tenant.ID, roles []user.Role, sessionID string) (token string, ttl time.Duration, err error)
}

// Errors of the ports and the commands.
var (
	ErrNotFound           = errors.New("identity: not found")
	ErrStale              = errors.New("identity: changed meanwhile")
	ErrInvalidCredentials = errors.New("identity: invalid credentials")
	ErrInvalidRefresh     = errors.New("identity: invalid refresh token")
	ErrRefreshReused      = errors.New("identity: refresh token reused; the login is revoked")
	ErrWeakPassword       = errors.New("identity: password must be 10 to 256 bytes long")
	// ErrBusy: too many password checks are running or waiting; nothing
	// was done, try again shortly.
	ErrBusy = errors.New("identity: too many password checks at once")
)

// Handler runs the identity commands.
type Handler struct {
	x          *commands.Executor
	creds      Credentials
	sessions   Sessions
	passwords  Passwords
	tokens     Tokens
	now        func() time.Time
	refreshTTL time.Duration
	active     *activeCache
	seats      func(ctx context.Context, t tenant.ID) (release func(), err error)
	ssoSecrets SSOSecrets
	providers  Providers
	writable   func(t tenant.ID) error
}

// CheckWritable sets the check every write of identity into a tenant
// passes first (a tenant being offboarded is read-only); nil: none.
func (h *Handler) CheckWritable(check func(t tenant.ID) error) { h.writable = check }

// canWrite is the writable check of t.
func (h *Handler) canWrite(t tenant.ID) error {
	if h.writable == nil || t == tenant.Platform {
		return nil
	}
	return h.writable(t)
}

// CheckSeats sets the check a membership passes before anything of it is
// written: the tenant's plan's seats (nil: none). The seat it finds is
// held until release, called once the membership is written or refused.
func (h *Handler) CheckSeats(check func(ctx context.Context, t tenant.ID) (release func(), err error)) {
	h.seats = check
}

// NewHandler returns the identity handler. Active remembers open logins
// as ActiveCache's defaults say; CacheActive changes that.
func NewHandler(x *commands.Executor, creds Credentials, sessions Sessions, passwords Passwords, tokens Tokens, now func() time.Time) *Handler {
	var ac ActiveCache
	ac.setDefaults()
	return &Handler{x: x, creds: creds, sessions: sessions, passwords: passwords,
		tokens: tokens, now: now, refreshTTL: 30 * 24 * time.Hour, active: newActiveCache(ac)}
}

// Events are the identity events, for the registry.
func Events() []domain.Event {
	return []domain.Event{identity.Registered{}, identity.EmailClaimed{}, identity.MemberAdded{}, identity.MemberInvited{},
		identity.MemberJoined{}, identity.CrossTenantAttempt{}, identity.SSOConfigured{}, identity.SSORemoved{}, identity.SSOLinked{}}
}

func emailStream(email string) (streams.Name, error) {
	sum := sha256.Sum256([]byte(email))
	return streams.NewName(tenant.Platform, identity.EmailCategory, hex.EncodeToString(sum[:16]))
}

// userByEmail returns the user id registered with email, or "".
func (h *Handler) userByEmail(ctx context.Context, email string) (string, error) {
	n, err := emailStream(email)
	if err != nil {
		return "", err
	}
	evs, _, err := h.x.Load(tenant.With(ctx, tenant.Platform), n)
	if err != nil || len(evs) == 0 {
		return "", err
	}
	c, ok := evs[0].(identity.EmailClaimed)
	if !ok {
		return "", fmt.Errorf("email stream holds %T", evs[0])
	}
	return c.UserID, nil
}

// member returns the user's membership in t (tenant.Platform for platform
// administrators), or ok false.
func (h *Handler) member(ctx context.Context, t tenant.ID, userID string) (identity.Member, bool, error) {
	if !isUUID(userID) { // names no account
		return identity.Member{}, false, nil
	}
	n, err := streams.NewName(t, identity.MemberCategory, userID)
	if err != nil {
		return identity.Member{}, false, err
	}
	evs, _, err := h.x.Load(tenant.With(ctx, t), n)
	if err != nil {
		return identity.Member{}, false, err
	}
	var m identity.Member
	for _, e := range evs {
		m = identity.EvolveMember(m, e)
	}
	return m, m.UserID != "", nil
}

// errEmailTaken stops a registration that found the address taken.
var errEmailTaken = errors.New("identity: email taken meanwhile")

// ensureUser returns the account registered with email, registering one
// when there is none (created true). It writes no credential: accounts are
// identities, passwords belong to scopes (see Credentials). t is the
// tenant whose admin asks (tenant.Platform for the platform's own).
func (h *Handler) ensureUser(ctx context.Context, t tenant.ID, email, name string) (id string, created bool, err error) {
	if id, err := h.userByEmail(ctx, email); err != nil || id != "" {
		return id, false, err
	}
	// A random id: nothing a client sends names an account.
	id = uuid.NewString()
	us, err := streams.NewName(tenant.Platform, identity.UserCategory, id)
	if err != nil {
		return "", false, err
	}
	es, err := emailStream(email)
	if err != nil {
		return "", false, err
	}
	origin := t
	if origin == tenant.Platform {
		origin = ""
	}
	pctx := tenant.With(ctx, tenant.Platform)
	_, err = h.x.Run(pctx, commands.Call{Request: commands.Request{CommandID: uuid.NewString()}, Stream: us, New: true, Decide: func(ctx context.Context, _ []domain.Event) (commands.Decision, error) {
		if other, err := h.userByEmail(ctx, email); err != nil {
			return commands.Decision{}, err
		} else if other != "" {
			return commands.Decision{}, errEmailTaken
		}
		return commands.Decision{
			Events: []domain.Event{identity.Registered{UserID: id, Email: email, Name: name, Tenant: origin, At: h.now().UTC()}},
			Extras: []commands.Extra{{Stream: es, Expected: streams.NoStream, Events: []domain.Event{identity.EmailClaimed{Email: email, UserID: id}}}},
		}, nil
	}})
	if errors.Is(err, errEmailTaken) || errors.Is(err, commands.ErrContention) {
		// Someone registered this address meanwhile: theirs it is.
		id, err := h.userByEmail(ctx, email)
		return id, false, err
	}
	if err != nil {
		return "", false, err
	}
	return id, true, nil
}

// AddMember adds a person to the ctx tenant with roles.
type AddMember struct {
	Request  commands.Request
	Email    string
	Name     string
	Password string
	Roles    []string
}

// AddMember invites a person to the ctx tenant (role admin) with the
// password that signs them in to this tenant, and to nowhere else: a
// person with no account gets one; a person who has one keeps it, and its
// passwords elsewhere, untouched. The membership is pending until the
// person signs in to the tenant once. The answer, the members list, the
// sign-in and the time taken are the same whether or not the address had
// an account: a tenant admin learns nothing of other tenants, and sets
// nothing that works in them.
func (h *Handler) AddMember(ctx context.Context, c AddMember) (commands.Result, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	p, err := user.From(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	if !p.Has(user.Admin) {
		return commands.Result{}, domain.Forbiddenf("only the tenant's admins add members")
	}
	return h.addMember(ctx, t, string(p.ID), c, true)
}

// EnsureFirstAdmin makes the person an admin of the ctx tenant, for
// provisioning by a platform administrator, with the password that signs
// them in to this tenant: it validates first, and succeeds again when they
// already are one, so a provisioning retried after a failure does not trip
// on it. A person who has an account keeps its passwords elsewhere.
func (h *Handler) EnsureFirstAdmin(ctx context.Context, email, name, password string) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	by := ""
	if p, err := user.From(ctx); err == nil {
		by = string(p.ID)
	}
	_, err = h.addMember(ctx, t, by, AddMember{Email: email, Name: name, Password: password, Roles: []string{string(user.Admin)}}, false)
	if errors.Is(err, &domain.Error{Code: "member_exists"}) {
		return nil
	}
	return err
}

// ValidateFirstAdmin checks what EnsureFirstAdmin would refuse, without
// writing.
func (h *Handler) ValidateFirstAdmin(email, name, password string) error {
	_, _, err := validateMember(email, name, password)
	return err
}

func validateMember(email, name, password string) (string, string, error) {
	e, err := identity.NormalizeEmail(email)
	if err != nil {
		return "", "", err
	}
	n, err := identity.ValidateName(name)
	if err != nil {
		return "", "", err
	}
	if len(password) < 10 || len(password) > 256 {
		return "", "", domain.Invalidf("password", "weak_password", "password must be 10 to 256 bytes long")
	}
	return e, n, nil
}

// addMember adds a membership of t, with password as the person's
// credential in t: an invitation (pending until the person signs in) when
// invite, else an active membership.
func (h *Handler) addMember(ctx context.Context, t tenant.ID, by string, c AddMember, invite bool) (commands.Result, error) {
	// Everything a refusal depends on is checked before anything is
	// written: the fields, the idempotency key, If-Match and an existing
	// membership.
	if err := h.canWrite(t); err != nil {
		return commands.Result{}, err
	}
	email, name, err := validateMember(c.Email, c.Name, c.Password)
	if err != nil {
		return commands.Result{}, err
	}
	var roles []user.Role
	if t == tenant.Platform {
		roles = []user.Role{user.PlatformAdmin}
	} else if roles, err = identity.ValidateRoles(c.Roles); err != nil {
		return commands.Result{}, err
	}
	tctx := tenant.With(ctx, t)
	if res, ok, err := h.x.Answered(tctx, c.Request); ok || err != nil {
		return res, err
	}
	uid, err := h.userByEmail(ctx, email)
	if err != nil {
		return commands.Result{}, err
	}
	if uid != "" {
		ms, err := streams.NewName(t, identity.MemberCategory, uid)
		if err != nil {
			return commands.Result{}, err
		}
		_, recs, err := h.x.Load(tctx, ms)
		if err != nil {
			return commands.Result{}, err
		}
		if res, done, err := h.x.Precheck(tctx, c.Request, ms, recs); done || err != nil {
			return res, err
		}
		if len(recs) > 0 {
			return commands.Result{}, memberExists(email)
		}
	} else if c.Request.IfMatch != nil && *c.Request.IfMatch != 0 {
		// No account, so no membership: at version 0.
		return commands.Result{}, fmt.Errorf("%w: the membership of %s does not exist", commands.ErrVersionConflict, email)
	}
	if h.seats != nil && t != tenant.Platform {
		release, err := h.seats(ctx, t)
		if err != nil {
			return commands.Result{}, err
		}
		defer release()
	}
	// The password first (it may be refused as busy), then the account,
	// then the membership: a failure leaves a password or an account that
	// signs nobody in anywhere, never a member without a password.
	hash, err := h.passwords.Hash(ctx, c.Password)
	if err != nil {
		if errors.Is(err, ErrBusy) || ctx.Err() != nil {
			return commands.Result{}, err
		}
		return commands.Result{}, domain.Invalidf("password", "weak_password", "password must be 10 to 256 bytes long")
	}
	if uid == "" {
		if uid, _, err = h.ensureUser(ctx, t, email, name); err != nil {
			return commands.Result{}, err
		}
	}
	if err := h.creds.SetPasswordHash(ctx, t, uid, hash); err != nil {
		return commands.Result{}, err
	}
	ms, err := streams.NewName(t, identity.MemberCategory, uid)
	if err != nil {
		return commands.Result{}, err
	}
	return h.x.Run(tctx, commands.Call{Name: "add_member", Request: c.Request, Stream: ms, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		if len(history) > 0 {
			return commands.Decision{}, memberExists(email)
		}
		at := h.now().UTC()
		if invite {
			return commands.Decision{Events: []domain.Event{identity.MemberInvited{
				Tenant: t, UserID: uid, Email: email, Name: name, Roles: roles, By: by, At: at,
			}}}, nil
		}
		return commands.Decision{Events: []domain.Event{identity.MemberAdded{
			Tenant: t, UserID: uid, Email: email, Name: name, Roles: roles, By: by, At: at,
		}}}, nil
	}})
}

func memberExists(email string) error {
	return domain.WrongStatef("member_exists", "%s is already a member", email)
}

// EnsurePlatformAdmin makes email a platform administrator, with password
// as their platform credential (registering an account when there is
// none). It does nothing when they are one already. Passwords a tenant set
// for the same address never sign anyone in to the platform.
func (h *Handler) EnsurePlatformAdmin(ctx context.Context, email, password string) (created bool, err error) {
	e, err := identity.NormalizeEmail(email)
	if err != nil {
		return false, err
	}
	if uid, err := h.userByEmail(ctx, e); err != nil {
		return false, err
	} else if uid != "" {
		if _, ok, err := h.member(ctx, tenant.Platform, uid); err != nil || ok {
			return false, err
		}
	}
	ctx = user.With(ctx, user.Principal{ID: "bootstrap", Roles: []user.Role{user.PlatformAdmin}})
	if _, err := h.addMember(ctx, tenant.Platform, "bootstrap", AddMember{Email: e, Name: "Platform administrator", Password: password}, false); err != nil {
		return false, err
	}
	return true, nil
}

// TokenPair is a login's answer.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// Login checks email and password against the ctx tenant's members (no
// tenant: the platform's administrators) and opens a login. Every refusal
// is ErrInvalidCredentials, whether or not the email exists.
func (h *Handler) Login(ctx context.Context, email, password string) (TokenPair, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		t = tenant.Platform
	}
	refuse := func() (TokenPair, error) {
		if err := h.passwords.Dummy(ctx, password); err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrInvalidCredentials
	}
	// A tenant that signs in through its provider only refuses every
	// password, whoever's: that says nothing of who is a member.
	if s, err := h.sso(tenant.With(ctx, t)); err != nil {
		return TokenPair{}, err
	} else if s.Required {
		return TokenPair{}, &domain.Error{Kind: domain.Forbidden, Code: "sso_required", Message: "this tenant signs in through its identity provider only: GET /api/v1/auth/sso/start"}
	}
	e, err := identity.NormalizeEmail(email)
	if err != nil {
		return refuse()
	}
	uid, err := h.userByEmail(ctx, e)
	if err != nil {
		return TokenPair{}, err
	}
	if uid == "" {
		return refuse()
	}
	m, ok, err := h.member(ctx, t, uid)
	if err != nil {
		return TokenPair{}, err
	}
	if !ok {
		return refuse()
	}
	hash, err := h.creds.PasswordHash(ctx, t, uid)
	if errors.Is(err, ErrNotFound) {
		return refuse()
	}
	if err != nil {
		return TokenPair{}, err
	}
	if ok, err := h.passwords.Check(ctx, hash, password); errors.Is(err, ErrBusy) || ctx.Err() != nil {
		return TokenPair{}, errors.Join(err, ctx.Err())
	} else if err != nil || !ok {
		return TokenPair{}, ErrInvalidCredentials
	}
	if m.Pending {
		// Signing in with one's own credentials accepts the invitation.
		if err := h.join(ctx, t, uid); err != nil {
			return TokenPair{}, err
		}
	}
	return h.open(ctx, Session{ID: uuid.NewString(), UserID: uid, Tenant: t, Roles: m.Roles, ExpiresAt: h.now().Add(h.refreshTTL)})
}

// open opens login s, with a new refresh secret: its tokens.
func (h *Handler) open(ctx context.Context, s Session) (TokenPair, error) {
	secret, secretHash, err := newSecret()
	if err != nil {
		return TokenPair{}, err
	}
	s.Current = secretHash
	if err := h.sessions.Create(ctx, s); err != nil {
		return TokenPair{}, err
	}
	return h.pair(s, secret)
}

// join accepts a pending invitation of uid to t.
func (h *Handler) join(ctx context.Context, t tenant.ID, uid string) error {
	if err := h.canWrite(t); err != nil {
		return err
	}
	ms, err := streams.NewName(t, identity.MemberCategory, uid)
	if err != nil {
		return err
	}
	jctx := user.With(tenant.With(ctx, t), user.Principal{ID: user.ID(uid)})
	_, err = h.x.Run(jctx, commands.Call{Request: commands.Request{CommandID: uuid.NewString()}, Stream: ms, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		var m identity.Member
		for _, e := range history {
			m = identity.EvolveMember(m, e)
		}
		if !m.Pending {
			return commands.Decision{}, nil
		}
		return commands.Decision{Events: []domain.Event{identity.MemberJoined{Tenant: t, UserID: uid, At: h.now().UTC()}}}, nil
	}})
	return err
}

func (h *Handler) pair(s Session, secret string) (TokenPair, error) {
	access, ttl, err := h.tokens.Issue(user.ID(s.UserID), tenantClaim(s.Tenant), s.Roles, s.ID)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: s.ID + "." + secret, ExpiresIn: ttl}, nil
}

// tenantClaim is the token's tenant: none for the platform.
func tenantClaim(t tenant.ID) tenant.ID {
	if t == tenant.Platform {
		return ""
	}
	return t
}

// Refresh exchanges a refresh token for a new pair and retires it. A
// retired token presented again revokes the login (ErrRefreshReused).
func (h *Handler) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	sid, secret, ok := strings.Cut(refreshToken, ".")
	if !ok || sid == "" || secret == "" {
		return TokenPair{}, ErrInvalidRefresh
	}
	for range 5 {
		s, rev, err := h.sessions.Get(ctx, sid)
		if errors.Is(err, ErrNotFound) {
			return TokenPair{}, ErrInvalidRefresh
		}
		if err != nil {
			return TokenPair{}, err
		}
		if t, err := tenant.From(ctx); err == nil && t != s.Tenant {
			return TokenPair{}, ErrInvalidRefresh
		}
		presented := hashSecret(secret)
		switch {
		case s.Revoked || h.now().After(s.ExpiresAt):
			return TokenPair{}, ErrInvalidRefresh
		case slices.Contains(s.Retired, presented):
			h.forgetSession(s)
			s.Revoked = true
			if err := h.sessions.Update(ctx, s, rev); errors.Is(err, ErrStale) {
				continue
			} else if err != nil {
				return TokenPair{}, err
			}
			return TokenPair{}, ErrRefreshReused
		case presented != s.Current:
			return TokenPair{}, ErrInvalidRefresh
		}
		// Roles may have changed since the login.
		if m, ok, err := h.member(ctx, s.Tenant, s.UserID); err != nil {
			return TokenPair{}, err
		} else if !ok {
			return TokenPair{}, ErrInvalidRefresh
		} else {
			s.Roles = m.Roles
		}
		next, nextHash, err := newSecret()
		if err != nil {
			return TokenPair{}, err
		}
		s.Retired = append(s.Retired, s.Current)
		if len(s.Retired) > 50 {
			s.Retired = s.Retired[len(s.Retired)-50:]
		}
		s.Current = nextHash
		if err := h.sessions.Update(ctx, s, rev); errors.Is(err, ErrStale) {
			continue
		} else if err != nil {
			return TokenPair{}, err
		}
		return h.pair(s, next)
	}
	return TokenPair{}, ErrInvalidRefresh
}

// Logout revokes the ctx principal's login; this process refuses it at
// once, others within ActiveCache.TTL.
func (h *Handler) Logout(ctx context.Context) error {
	p, err := user.From(ctx)
	if err != nil {
		return err
	}
	for range 5 {
		s, rev, err := h.sessions.Get(ctx, p.SessionID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		h.forgetSession(s)
		s.Revoked = true
		if err := h.sessions.Update(ctx, s, rev); !errors.Is(err, ErrStale) {
			return err
		}
	}
	return ErrStale
}

// RecordCrossTenant writes the attempt into both tenants' security logs
// ("<tenant>.security-log"), appended without reading them (not into one
// that is read-only).
func (h *Handler) RecordCrossTenant(ctx context.Context, a identity.CrossTenantAttempt) error {
	a.At = h.now().UTC()
	typ, data, err := h.x.Registry.Encode(a)
	if err != nil {
		return err
	}
	corr, cause := streams.Correlation(ctx)
	var errs []error
	for _, t := range []tenant.ID{a.TokenTenant, a.RequestTenant} {
		if h.canWrite(t) != nil {
			continue // a tenant being offboarded writes nothing more: the other one records it
		}
		n, err := streams.NewName(t, identity.SecurityCategory, "log")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ev := streams.EventData{ID: uuid.New(), Type: typ, Data: data, Metadata: streams.Metadata{
			Tenant: t, UserID: a.UserID, CorrelationID: corr, CausationID: cause,
		}}
		_, err = h.x.Store.Append(tenant.With(ctx, t), n, streams.Any, ev)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func newSecret() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(b)
	return secret, hashSecret(secret), nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Member returns a user's membership in the ctx tenant (no tenant: the
// platform's administrators), or ErrNotFound.
func (h *Handler) Member(ctx context.Context, userID user.ID) (identity.Member, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		t = tenant.Platform
	}
	m, ok, err := h.member(ctx, t, string(userID))
	if err != nil {
		return identity.Member{}, err
	}
	if !ok {
		return identity.Member{}, ErrNotFound
	}
	return m, nil
}

func isUUID(s string) bool { return commands.ValidID(s) }
