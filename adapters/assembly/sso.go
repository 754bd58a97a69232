package assembly

import (
	"context"
	"strings"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/oidc"
	"github.com/atrium-platform/atrium/adapters/secretbox"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// Purposes of what single sign-on seals: the tenants' client secrets
// (kept in the secrets store as "sso-<fingerprint>") and the state of a
// sign-in (in the person's cookie, for ten minutes).
const (
	purposeSSOClient = "sso.client"
	purposeSSOState  = "sso.state"
	ssoSecretPrefix  = "sso-"
)

// ssoSecrets seals the tenants' OpenID Connect client secrets with the
// operator's key and keeps them in the secrets store.
type ssoSecrets struct{ p *Process }

func (ssoSecrets) Fingerprint(_ tenant.ID, secret []byte) string {
	return secretbox.Fingerprint(secret)
}

func (s ssoSecrets) Store(ctx context.Context, t tenant.ID, fingerprint string, secret []byte) error {
	sealed, err := s.p.box.Seal(string(t), purposeSSOClient, secret)
	if err != nil {
		return err
	}
	return s.p.Secrets.PutSealed(ctx, t, ssoSecretPrefix+fingerprint, sealed)
}

// secret is the ctx tenant's client secret kept under fingerprint.
func (s ssoSecrets) secret(ctx context.Context, fingerprint string) (string, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	sealed, err := s.p.Secrets.Sealed(ctx, t, ssoSecretPrefix+fingerprint)
	if err != nil {
		return "", err
	}
	b, err := s.p.box.Open(string(t), purposeSSOClient, sealed)
	return string(b), err
}

// isSSOSecret reports whether a secrets store name is a client secret's.
func isSSOSecret(name string) bool {
	return strings.HasPrefix(name, ssoSecretPrefix) || strings.HasPrefix(name, strings.ReplaceAll(ssoSecretPrefix, "-", "_"))
}

// openSSO gives identity its single sign-on and returns its HTTP
// resource.
func (p *Process) openSSO() atriumhttp.SSO {
	secrets := ssoSecrets{p}
	providers := oidc.New(oidc.Config{AllowPrivate: p.cfg.SSOAllowPrivateIssuers, Secret: secrets.secret})
	p.Identity.UseSSO(secrets, providers)
	return atriumhttp.SSO{Handler: p.Identity, Providers: providers,
		Seal: func(t tenant.ID, state []byte) ([]byte, error) { return p.box.Seal(string(t), purposeSSOState, state) },
		Open: func(t tenant.ID, sealed []byte) ([]byte, error) {
			return p.box.Open(string(t), purposeSSOState, sealed)
		},
	}
}
