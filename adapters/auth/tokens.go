package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// ErrInvalidToken wraps every reason an access token is refused.
var ErrInvalidToken = errors.New("auth: invalid token")

// Key is an Ed25519 signing key with its key id.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
}

// NewKey returns a random key; its id is derived from its public key.
func NewKey() (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	return keyOf(priv), nil
}

func keyOf(priv ed25519.PrivateKey) Key {
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return Key{ID: hex.EncodeToString(sum[:8]), Private: priv}
}

// MarshalKey encodes k as PKCS#8 PEM for storage.
func MarshalKey(k Key) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"kid": k.ID}, Bytes: der}), nil
}

// UnmarshalKey decodes a key written by MarshalKey.
func UnmarshalKey(b []byte) (Key, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Key{}, errors.New("auth: not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("auth: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Key{}, errors.New("auth: not an Ed25519 key")
	}
	key := keyOf(priv)
	if kid := block.Headers["kid"]; kid != "" && kid != key.ID {
		return Key{}, errors.New("auth: key id does not match the key")
	}
	return key, nil
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	Issuer    string        // default "atrium"
	Audience  string        // default "atrium-api"
	AccessTTL time.Duration // default 15 minutes
	// Keys verify tokens; the first also signs. Keep a retired key listed
	// until the tokens it signed have expired.
	Keys []Key
	Now  func() time.Time
}

// Issuer signs and verifies access tokens.
type Issuer struct {
	cfg  IssuerConfig
	keys map[string]ed25519.PublicKey
}

// NewIssuer returns an issuer; it needs at least one key.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = "atrium"
	}
	if cfg.Audience == "" {
		cfg.Audience = "atrium-api"
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("auth: issuer needs a signing key")
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range cfg.Keys {
		keys[k.ID] = k.Private.Public().(ed25519.PublicKey)
	}
	return &Issuer{cfg: cfg, keys: keys}, nil
}

// Claims are what an access token says.
type Claims struct {
	Subject   user.ID
	Tenant    tenant.ID // empty for a platform administrator's token
	Roles     []user.Role
	SessionID string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Tenant string   `json:"tenant,omitempty"`
	Roles  []string `json:"roles"`
	SID    string   `json:"sid"`
}

// Issue signs an access token for c; it returns the token and its lifetime.
func (i *Issuer) Issue(c Claims) (string, time.Duration, error) {
	now := i.cfg.Now()
	roles := make([]string, len(c.Roles))
	for j, r := range c.Roles {
		roles[j] = string(r)
	}
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: i.cfg.Issuer, Subject: string(c.Subject), Audience: jwt.ClaimStrings{i.cfg.Audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.cfg.AccessTTL)), ID: uuid.NewString(),
		},
		Tenant: string(c.Tenant), Roles: roles, SID: c.SessionID,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	signer := i.cfg.Keys[0]
	tok.Header["kid"] = signer.ID
	s, err := tok.SignedString(signer.Private)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign: %w", err)
	}
	return s, i.cfg.AccessTTL, nil
}

// Verify checks an access token: EdDSA only, a known key id, this issuer
// and audience, not expired (30 s leeway).
func (i *Issuer) Verify(token string) (Claims, error) {
	var claims jwtClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := i.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return pub, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(i.cfg.Issuer), jwt.WithAudience(i.cfg.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(i.cfg.Now),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c := Claims{Subject: user.ID(claims.Subject), SessionID: claims.SID}
	if claims.Tenant != "" {
		t, err := tenant.Parse(claims.Tenant)
		if err != nil {
			return Claims{}, fmt.Errorf("%w: tenant claim: %w", ErrInvalidToken, err)
		}
		c.Tenant = t
	}
	for _, r := range claims.Roles {
		c.Roles = append(c.Roles, user.Role(r))
	}
	if claims.IssuedAt != nil {
		c.IssuedAt = claims.IssuedAt.Time
	}
	c.ExpiresAt = claims.ExpiresAt.Time
	if c.Subject == "" || c.SessionID == "" {
		return Claims{}, fmt.Errorf("%w: missing subject or session", ErrInvalidToken)
	}
	return c, nil
}

// JWKS returns the public keys as a JSON Web Key Set (RFC 7517, RFC 8037).
func (i *Issuer) JWKS() ([]byte, error) {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range i.cfg.Keys {
		pub := k.Private.Public().(ed25519.PublicKey)
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: k.ID, Use: "sig", Alg: "EdDSA"})
	}
	return json.Marshal(set)
}

// NewRefreshToken returns an opaque refresh token and the hash to store.
func NewRefreshToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken is what the store keeps of a refresh token.
func HashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
