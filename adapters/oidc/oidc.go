// Package oidc signs people in through their tenant's own OpenID Connect
// provider: the authorization code flow with PKCE (S256), the ID token
// checked for its signature (the provider's published keys), issuer,
// audience (the tenant's client), expiry and nonce, with
// github.com/coreos/go-oidc and golang.org/x/oauth2. Every request to a
// provider goes through a client that dials only the addresses the
// operator allows and reads at most 1 MiB of an answer: a tenant's admin
// chooses the issuer URL.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/atrium-platform/atrium/adapters/erp/webhook"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/identity"
)

// Config configures the providers' client.
type Config struct {
	// AllowPrivate lets issuers be on loopback, private and link-local
	// addresses (a provider inside the operator's network).
	AllowPrivate bool
	// Timeout bounds each request to a provider; default 10 s.
	Timeout time.Duration
	// Secret returns the ctx tenant's client secret kept under
	// fingerprint.
	Secret func(ctx context.Context, fingerprint string) (string, error)
}

// Providers talks to the tenants' providers. Discovery documents (and
// with them the providers' keys) are kept for discoveryTTL, for at most
// maxProviders issuers.
type Providers struct {
	cfg    Config
	client *http.Client

	flights singleflight.Group
	mu      sync.Mutex
	known   map[string]discovered
}

type discovered struct {
	p   *gooidc.Provider
	err error
	at  time.Time
	// failed is when discovering a kept provider again last failed: it is
	// not tried again for failureTTL, as a provider never discovered.
	failed time.Time
}

const (
	discoveryTTL = 10 * time.Minute
	failureTTL   = 10 * time.Second
	maxProviders = 1000
	maxAnswer    = 1 << 20
)

// New returns the providers' client.
func New(cfg Config) *Providers {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	c := webhook.GuardedClient(cfg.Timeout, cfg.AllowPrivate)
	c.Transport = limited{c.Transport}
	// A provider's answers are its own: a redirect elsewhere is not
	// followed (it could lead inside the operator's network).
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Providers{cfg: cfg, client: c, known: map[string]discovered{}}
}

// limited reads at most maxAnswer bytes of an answer.
type limited struct{ rt http.RoundTripper }

func (l limited) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxAnswer), resp.Body}
	return resp, nil
}

var _ identitycmd.Providers = (*Providers)(nil)

// Check fetches issuer's discovery document afresh; the one kept stays
// until then.
func (p *Providers) Check(ctx context.Context, issuer string) error {
	_, err := p.discover(ctx, issuer)
	return err
}

// provider is issuer's provider: kept, or discovered (one discovery of an
// issuer at a time, a failure remembered for failureTTL, so requests for
// a slow or dead provider do not each call it).
func (p *Providers) provider(ctx context.Context, issuer string) (*gooidc.Provider, error) {
	p.mu.Lock()
	d, ok := p.known[issuer]
	p.mu.Unlock()
	switch {
	case ok && d.err != nil && time.Since(d.at) < failureTTL:
		return nil, d.err
	case ok && d.err == nil && (time.Since(d.at) < discoveryTTL || time.Since(d.failed) < failureTTL):
		return d.p, nil
	}
	prov, err := p.discover(ctx, issuer)
	if err != nil && ok && d.err == nil {
		return d.p, nil // the provider did not answer again: what it said last holds
	}
	return prov, err
}

func (p *Providers) discover(ctx context.Context, issuer string) (*gooidc.Provider, error) {
	v, err, _ := p.flights.Do(issuer, func() (any, error) {
		// The keys are fetched later with the context of the provider's
		// creation: one that outlives this request, with the guarded
		// client.
		pctx := gooidc.ClientContext(context.WithoutCancel(ctx), p.client)
		dctx, cancel := context.WithTimeout(pctx, p.cfg.Timeout)
		defer cancel()
		prov, err := gooidc.NewProvider(dctx, issuer)
		if err == nil {
			prov = providerConfig(prov, issuer).NewProvider(pctx)
		}
		p.remember(issuer, discovered{p: prov, err: err, at: time.Now()})
		return prov, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*gooidc.Provider), nil
}

// remember keeps what a discovery found; a failure does not replace a
// provider kept, but notes when it failed.
func (p *Providers) remember(issuer string, d discovered) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if was, ok := p.known[issuer]; ok && d.err != nil && was.err == nil {
		was.failed = d.at
		p.known[issuer] = was
		return
	}
	if _, ok := p.known[issuer]; !ok && len(p.known) >= maxProviders {
		for k := range p.known { // any one: it is discovered again when needed
			delete(p.known, k)
			break
		}
	}
	p.known[issuer] = d
}

// providerConfig is what prov's discovery document said.
func providerConfig(prov *gooidc.Provider, issuer string) *gooidc.ProviderConfig {
	var c gooidc.ProviderConfig
	_ = prov.Claims(&c) // decoded once already by NewProvider
	c.IssuerURL = issuer
	return &c
}

func (p *Providers) oauth(ctx context.Context, s identity.SSO, redirect string) (*gooidc.Provider, *oauth2.Config, error) {
	prov, err := p.provider(ctx, s.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("the tenant's provider: %w", err)
	}
	secret, err := p.cfg.Secret(ctx, s.SecretFingerprint)
	if err != nil {
		return nil, nil, err
	}
	return prov, &oauth2.Config{ClientID: s.ClientID, ClientSecret: secret, Endpoint: prov.Endpoint(), RedirectURL: redirect,
		Scopes: []string{gooidc.ScopeOpenID, "email", "profile", "groups"}}, nil
}

// AuthURL is where the person is sent to sign in at s's provider.
func (p *Providers) AuthURL(ctx context.Context, s identity.SSO, redirect, state, nonce, verifier string) (string, error) {
	_, c, err := p.oauth(ctx, s, redirect)
	if err != nil {
		return "", err
	}
	return c.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// ErrRefused is the error of a code or an ID token the provider or the
// checks refused.
var ErrRefused = errors.New("oidc: refused")

// Exchange trades the code the provider sent back for its ID token, and
// checks it.
func (p *Providers) Exchange(ctx context.Context, s identity.SSO, redirect, code, verifier, nonce string) (identitycmd.SSOIdentity, error) {
	prov, c, err := p.oauth(ctx, s, redirect)
	if err != nil {
		return identitycmd.SSOIdentity{}, err
	}
	xctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, p.client), p.cfg.Timeout)
	defer cancel()
	tok, err := c.Exchange(xctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return identitycmd.SSOIdentity{}, fmt.Errorf("%w: the code: %v", ErrRefused, err) //nolint:errorlint // the cause is told, not matched
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return identitycmd.SSOIdentity{}, fmt.Errorf("%w: no ID token", ErrRefused)
	}
	idt, err := prov.Verifier(&gooidc.Config{ClientID: s.ClientID}).Verify(xctx, raw)
	if err != nil {
		return identitycmd.SSOIdentity{}, fmt.Errorf("%w: the ID token: %v", ErrRefused, err) //nolint:errorlint // the cause is told, not matched
	}
	if idt.Nonce != nonce {
		return identitycmd.SSOIdentity{}, fmt.Errorf("%w: the ID token is not this sign-in's", ErrRefused)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Name          string   `json:"name"`
		Groups        []string `json:"groups"`
	}
	if err := idt.Claims(&claims); err != nil {
		return identitycmd.SSOIdentity{}, fmt.Errorf("%w: the ID token's claims: %v", ErrRefused, err) //nolint:errorlint // the cause is told, not matched
	}
	return identitycmd.SSOIdentity{Issuer: idt.Issuer, Subject: idt.Subject, Email: claims.Email, EmailVerified: claims.EmailVerified,
		Name: claims.Name, Groups: claims.Groups}, nil
}
