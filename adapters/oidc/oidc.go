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

	mu    sync.Mutex
	known map[string]discovered
}

type discovered struct {
	p  *gooidc.Provider
	at time.Time
}

const (
	discoveryTTL = 10 * time.Minute
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

// Check fetches issuer's discovery document, afresh.
func (p *Providers) Check(ctx context.Context, issuer string) error {
	p.mu.Lock()
	delete(p.known, issuer)
	p.mu.Unlock()
	_, err := p.provider(ctx, issuer)
	return err
}

func (p *Providers) provider(ctx context.Context, issuer string) (*gooidc.Provider, error) {
	p.mu.Lock()
	d, ok := p.known[issuer]
	p.mu.Unlock()
	if ok && time.Since(d.at) < discoveryTTL {
		return d.p, nil
	}
	// The keys are fetched later with the context of the provider's
	// creation: one that outlives this request, with the guarded client.
	pctx := gooidc.ClientContext(context.WithoutCancel(ctx), p.client)
	dctx, cancel := context.WithTimeout(pctx, p.cfg.Timeout)
	defer cancel()
	prov, err := gooidc.NewProvider(dctx, issuer)
	if err != nil {
		return nil, err
	}
	// NewProvider keeps dctx for the keys: make one that stays.
	prov = providerConfig(prov, issuer).NewProvider(pctx)
	p.mu.Lock()
	if len(p.known) >= maxProviders {
		for k := range p.known { // any one: they are fetched again when needed
			delete(p.known, k)
			break
		}
	}
	p.known[issuer] = discovered{p: prov, at: time.Now()}
	p.mu.Unlock()
	return prov, nil
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
