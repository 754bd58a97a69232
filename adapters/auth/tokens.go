package auth

import (
	"bytes"
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
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// ErrInvalidToken wraps every reason an access token is refused.
var ErrInvalidToken = errors.New("auth: invalid token")

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// Key is an Ed25519 signing key with its key id (the JWT "kid").
type Key struct {
	ID      string
	Private ed25519.PrivateKey
}

// NewKey returns a random key; its id is the first 16 hex characters of
// the SHA-256 of its public key.
func NewKey() (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("auth: key: %w", err)
	}
	return keyOf(priv), nil
}

func keyOf(priv ed25519.PrivateKey) Key {
	return Key{ID: keyID(priv.Public().(ed25519.PublicKey)), Private: priv}
}

func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

const pemType = "PRIVATE KEY"

// MarshalKey encodes k as a PKCS#8 PEM block with its id in a "kid"
// header, for storing on disk.
func MarshalKey(k Key) ([]byte, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil, errors.New("auth: not an Ed25519 private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	block := &pem.Block{Type: pemType, Bytes: der}
	if k.ID != "" {
		block.Headers = map[string]string{"kid": k.ID}
	}
	return pem.EncodeToMemory(block), nil
}

// UnmarshalKey decodes a key written by MarshalKey. The id is the "kid"
// header; without one, it is derived from the public key as NewKey does.
func UnmarshalKey(b []byte) (Key, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemType {
		return Key{}, errors.New("auth: not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("auth: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Key{}, fmt.Errorf("auth: a %T, not an Ed25519 key", k)
	}
	key := keyOf(priv)
	if kid := block.Headers["kid"]; kid != "" {
		key.ID = kid
	}
	return key, nil
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	Issuer    string        // "iss"; default "atrium"
	Audience  string        // "aud"; default "atrium-api"
	AccessTTL time.Duration // lifetime of an access token; default 15 minutes
	// Keys verify tokens; the first also signs. To rotate, put the new key
	// first and keep the old one listed until the tokens it signed have
	// expired (AccessTTL), then drop it.
	Keys []Key
	Now  func() time.Time // default time.Now
}

// Issuer signs and verifies access tokens. It is safe for concurrent use.
type Issuer struct {
	iss, aud string
	ttl      time.Duration
	now      func() time.Time
	signer   Key
	keys     []Key // in the configured order, for the JWKS
	public   map[string]ed25519.PublicKey
	parser   *jwt.Parser
	verified verified
}

// NewIssuer returns an issuer. It needs at least one key; every key needs
// an id of its own and a valid Ed25519 private key.
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
	if cfg.AccessTTL < 0 {
		return nil, errors.New("auth: negative access token lifetime")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("auth: issuer needs a signing key")
	}
	i := &Issuer{
		iss: cfg.Issuer, aud: cfg.Audience, ttl: cfg.AccessTTL, now: cfg.Now,
		signer: cfg.Keys[0], keys: slices.Clone(cfg.Keys), public: make(map[string]ed25519.PublicKey, len(cfg.Keys)),
		verified: verified{max: MaxVerified},
	}
	for n, k := range cfg.Keys {
		if k.ID == "" {
			return nil, fmt.Errorf("auth: key %d has no id", n)
		}
		if len(k.Private) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("auth: key %q is not an Ed25519 private key", k.ID)
		}
		if _, dup := i.public[k.ID]; dup {
			return nil, fmt.Errorf("auth: key id %q listed twice", k.ID)
		}
		i.public[k.ID] = k.Private.Public().(ed25519.PublicKey)
	}
	i.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(i.iss), jwt.WithAudience(i.aud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(i.now),
		// One spelling per token: base64url without padding, unused bits
		// zero (see compact below for the characters).
		jwt.WithStrictDecoding(),
	)
	return i, nil
}

// Claims are what an access token says.
type Claims struct {
	Subject   user.ID
	Tenant    tenant.ID // empty for a platform administrator's token
	Roles     []user.Role
	SessionID string
	// Set by Verify; Issue ignores them and sets its own.
	ExpiresAt time.Time
	IssuedAt  time.Time
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Tenant string   `json:"tenant,omitempty"`
	Roles  []string `json:"roles"`
	SID    string   `json:"sid"`
}

// Issue signs an access token for c with the first key, and returns it
// with its lifetime. It sets iat, nbf and exp from the issuer's clock, iss,
// aud, a random jti, sub, and the custom claims "tenant", "roles" and
// "sid"; the header carries the key id. A subject and a session id are
// required.
func (i *Issuer) Issue(c Claims) (token string, expiresIn time.Duration, err error) {
	if c.Subject == "" || c.SessionID == "" {
		return "", 0, errors.New("auth: a token needs a subject and a session id")
	}
	now := i.now().Truncate(time.Second)
	roles := make([]string, len(c.Roles))
	for j, r := range c.Roles {
		roles[j] = string(r)
	}
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: i.iss, Subject: string(c.Subject), Audience: jwt.ClaimStrings{i.aud},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)), ID: uuid.NewString(),
		},
		Tenant: string(c.Tenant), Roles: roles, SID: c.SessionID,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = i.signer.ID
	s, err := tok.SignedString(i.signer.Private)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign: %w", err)
	}
	return s, i.ttl, nil
}

// Verify checks an access token and returns its claims: EdDSA only, signed
// by a listed key named by its kid, exactly this issuer and audience, exp
// present and not past, nbf and iat not in the future (each with 30 s of
// leeway), a subject and a session id. Every refusal wraps ErrInvalidToken.
// A token that passed is remembered until it expires (see verified), and
// not checked again.
func (i *Issuer) Verify(token string) (Claims, error) {
	key := sha256.Sum256([]byte(token))
	now := i.now()
	if c, ok := i.verified.get(key, now); ok {
		return c, nil
	}
	c, err := i.verify(token)
	if err != nil {
		return Claims{}, err
	}
	i.verified.put(key, c, now)
	return c, nil
}

// verify is Verify without the memory of verified tokens.
func (i *Issuer) verify(token string) (Claims, error) {
	if !compact(token) {
		return Claims{}, fmt.Errorf("%w: not a compact JWT", ErrInvalidToken)
	}
	var claims jwtClaims
	_, err := i.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := i.public[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return pub, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(claims.Audience) != 1 {
		return Claims{}, fmt.Errorf("%w: audience %q, want only %q", ErrInvalidToken, []string(claims.Audience), i.aud)
	}
	if claims.Subject == "" || claims.SID == "" {
		return Claims{}, fmt.Errorf("%w: missing subject or session", ErrInvalidToken)
	}
	c := Claims{Subject: user.ID(claims.Subject), SessionID: claims.SID, ExpiresAt: claims.ExpiresAt.Time}
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
	return c, nil
}

// JWKS returns every listed key's public half as a JSON Web Key Set
// (RFC 7517, with RFC 8037's OKP keys), signing key first.
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
	}{Keys: make([]jwk, 0, len(i.keys))}
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(i.public[k.ID]),
			Kid: k.ID, Use: "sig", Alg: "EdDSA",
		})
	}
	return json.Marshal(set)
}

// SignDocument signs a document other than a token (an audit export's
// last line) with the key tokens are signed with now, and names the key:
// a reader checks it against the keys /.well-known/jwks.json publishes.
// msg must start with a prefix of its own document kind: one that looks
// like a token's signing input (a base64url JWT header, "eyJ") is refused,
// so that no document's signature is ever a token's.
func (i *Issuer) SignDocument(msg []byte) (keyID string, sig []byte, err error) {
	if bytes.HasPrefix(msg, []byte("eyJ")) {
		return "", nil, errors.New("auth: a document to sign must not look like a token")
	}
	return i.signer.ID, ed25519.Sign(i.signer.Private, msg), nil
}

// compact reports whether token is written in the compact form's alphabet
// only: base64url and the two dots. Go's base64 decoding skips CR and LF,
// so without this a token with line breaks inserted would verify as the
// same token.
func compact(token string) bool {
	dots := 0
	for i := range len(token) {
		switch c := token[i]; {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}
