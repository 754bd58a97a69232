package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

var epoch = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func mustKey(t *testing.T) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustIssuer(t *testing.T, cfg IssuerConfig) *Issuer {
	t.Helper()
	i, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustIssue(t *testing.T, i *Issuer, c Claims) string {
	t.Helper()
	tok, _, err := i.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sign builds a token by hand, signed by key under kid.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// valid returns the claims an issuer with the defaults would set at epoch.
func valid() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "atrium", "aud": "atrium-api", "sub": "u-1", "sid": "s-1", "tenant": "acme", "roles": []string{"finance"},
		"iat": epoch.Unix(), "nbf": epoch.Unix(), "exp": epoch.Add(15 * time.Minute).Unix(), "jti": "j-1",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for n := 0; n < len(kv); n += 2 {
		if kv[n+1] == nil {
			delete(out, kv[n].(string))
			continue
		}
		out[kv[n].(string)] = kv[n+1]
	}
	return out
}

// rewritePayload changes the payload of tok and keeps its signature.
func rewritePayload(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, _ = json.Marshal(m)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

func TestIssueVerify(t *testing.T) {
	key := mustKey(t)
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{key}, Now: at(epoch)})
	tests := []struct {
		name      string
		claims    Claims
		withError bool
	}{
		{"member with roles", Claims{Subject: "u-1", Tenant: "acme", Roles: []user.Role{user.Finance, user.Manager}, SessionID: "s-1"}, false},
		{"member without roles", Claims{Subject: "u-2", Tenant: "acme", SessionID: "s-2"}, false},
		{"platform administrator", Claims{Subject: "u-3", Roles: []user.Role{user.PlatformAdmin}, SessionID: "s-3"}, false},
		{"times given are ignored", Claims{Subject: "u-4", Tenant: "acme", SessionID: "s-4", ExpiresAt: epoch.Add(time.Hour * 24 * 365), IssuedAt: epoch.Add(-time.Hour)}, false},
		{"no subject", Claims{Tenant: "acme", SessionID: "s-5"}, true},
		{"no session", Claims{Subject: "u-6", Tenant: "acme"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, ttl, err := iss.Issue(tc.claims)
			if (err != nil) != tc.withError {
				t.Fatalf("Issue: %v", err)
			}
			if err != nil {
				return
			}
			if ttl != 15*time.Minute {
				t.Fatalf("lifetime %v", ttl)
			}
			got, err := iss.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.claims
			want.IssuedAt, want.ExpiresAt = epoch, epoch.Add(15*time.Minute)
			if got.Subject != want.Subject || got.Tenant != want.Tenant || !slices.Equal(got.Roles, want.Roles) ||
				got.SessionID != want.SessionID || !got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Fatalf("Verify = %+v, want %+v", got, want)
			}
		})
	}
}

func TestIssuedToken(t *testing.T) {
	key := mustKey(t)
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{key}, Now: at(epoch), AccessTTL: 5 * time.Minute, Issuer: "id.example", Audience: "api.example"})
	tok, ttl, err := iss.Issue(Claims{Subject: "u-1", Tenant: "acme", Roles: []user.Role{user.Sales}, SessionID: "s-1"})
	if err != nil || ttl != 5*time.Minute {
		t.Fatal(ttl, err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] != key.ID {
		t.Fatalf("header %v", parsed.Header)
	}
	c := parsed.Claims.(jwt.MapClaims)
	for name, want := range map[string]any{
		"iss": "id.example", "sub": "u-1", "tenant": "acme", "sid": "s-1",
		"iat": float64(epoch.Unix()), "nbf": float64(epoch.Unix()), "exp": float64(epoch.Add(5 * time.Minute).Unix()),
	} {
		if c[name] != want {
			t.Errorf("%s = %v, want %v", name, c[name], want)
		}
	}
	if aud, _ := c.GetAudience(); !slices.Equal(aud, []string{"api.example"}) {
		t.Errorf("aud = %v", aud)
	}
	if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "sales" {
		t.Errorf("roles = %v", c["roles"])
	}
	if jti, _ := c["jti"].(string); len(jti) != 36 {
		t.Errorf("jti = %v", c["jti"])
	}
	again := mustIssue(t, iss, Claims{Subject: "u-1", Tenant: "acme", SessionID: "s-1"})
	p2, _, _ := jwt.NewParser().ParseUnverified(again, jwt.MapClaims{})
	if p2.Claims.(jwt.MapClaims)["jti"] == c["jti"] {
		t.Error("two tokens share a jti")
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, other := mustKey(t), mustKey(t)
	pub := key.Private.Public().(ed25519.PublicKey)
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{key}, Now: at(epoch)})
	member := Claims{Subject: "u-1", Tenant: "acme", Roles: []user.Role{user.Finance}, SessionID: "s-1"}
	tok := mustIssue(t, iss, member)
	issuedAt := func(now time.Time) *Issuer { return mustIssuer(t, IssuerConfig{Keys: []Key{key}, Now: at(now)}) }
	parts := strings.Split(tok, ".")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		token     string
		verifier  *Issuer
		withError error
	}{
		{"own token", tok, iss, nil},
		{"hand-made token with every claim", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, valid()), iss, nil},
		{"signed by another key", mustIssue(t, mustIssuer(t, IssuerConfig{Keys: []Key{other}, Now: at(epoch)}), member), iss, ErrInvalidToken},
		{"another key under our kid", sign(t, jwt.SigningMethodEdDSA, other.Private, key.ID, valid()), iss, ErrInvalidToken},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, key.Private, "0123456789abcdef", valid()), iss, ErrInvalidToken},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, key.Private, "", valid()), iss, ErrInvalidToken},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.ID, valid()), iss, ErrInvalidToken},
		{"alg none, signature of ours kept", func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + key.ID + `","typ":"JWT"}`))
			return h + "." + parts[1] + "." + parts[2]
		}(), iss, ErrInvalidToken},
		{"HS256 with the public key as secret", sign(t, jwt.SigningMethodHS256, []byte(pub), key.ID, valid()), iss, ErrInvalidToken},
		{"HS256 with the public key in base64url", sign(t, jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(pub)), key.ID, valid()), iss, ErrInvalidToken},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, key.ID, valid()), iss, ErrInvalidToken},
		{"wrong audience", mustIssue(t, mustIssuer(t, IssuerConfig{Keys: []Key{key}, Audience: "another-api", Now: at(epoch)}), member), iss, ErrInvalidToken},
		{"no audience", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "aud", nil)), iss, ErrInvalidToken},
		{"audience among others", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "aud", []string{"atrium-api", "another-api"})), iss, ErrInvalidToken},
		{"audience as a one-element list", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "aud", []string{"atrium-api"})), iss, nil},
		{"wrong issuer", mustIssue(t, mustIssuer(t, IssuerConfig{Keys: []Key{key}, Issuer: "someone-else", Now: at(epoch)}), member), iss, ErrInvalidToken},
		{"no issuer", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "iss", nil)), iss, ErrInvalidToken},
		{"issuer differs in case", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "iss", "Atrium")), iss, ErrInvalidToken},
		{"expired", tok, issuedAt(epoch.Add(20 * time.Minute)), ErrInvalidToken},
		{"expired beyond the leeway", tok, issuedAt(epoch.Add(15*time.Minute + 31*time.Second)), ErrInvalidToken},
		{"expired within the leeway", tok, issuedAt(epoch.Add(15*time.Minute + 29*time.Second)), nil},
		{"not yet valid", tok, issuedAt(epoch.Add(-time.Minute)), ErrInvalidToken},
		{"issued within the leeway ahead", tok, issuedAt(epoch.Add(-29 * time.Second)), nil},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "exp", nil)), iss, ErrInvalidToken},
		{"exp not a number", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "exp", "tomorrow")), iss, ErrInvalidToken},
		{"no subject", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "sub", nil)), iss, ErrInvalidToken},
		{"no session", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "sid", nil)), iss, ErrInvalidToken},
		{"tenant not a slug", sign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with(valid(), "tenant", "Acme Inc")), iss, ErrInvalidToken},
		{"tampered tenant", rewritePayload(t, tok, func(m map[string]any) { m["tenant"] = "globex" }), iss, ErrInvalidToken},
		{"tampered roles", rewritePayload(t, tok, func(m map[string]any) { m["roles"] = []string{"admin"} }), iss, ErrInvalidToken},
		{"tampered expiry", rewritePayload(t, tok, func(m map[string]any) { m["exp"] = epoch.Add(time.Hour * 24).Unix() }), issuedAt(epoch.Add(time.Hour)), ErrInvalidToken},
		{"tenant removed", rewritePayload(t, tok, func(m map[string]any) { delete(m, "tenant") }), iss, ErrInvalidToken},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(mustIssue(t, iss, member), ".")[2], iss, ErrInvalidToken},
		{"signature removed", parts[0] + "." + parts[1] + ".", iss, ErrInvalidToken},
		{"two parts", parts[0] + "." + parts[1], iss, ErrInvalidToken},
		{"garbage", "not.a.token", iss, ErrInvalidToken},
		{"empty", "", iss, ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.verifier.Verify(tc.token)
			if !errors.Is(err, tc.withError) || (tc.withError == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.withError)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old, cur := mustKey(t), mustKey(t)
	now := at(epoch)
	signedByOld := mustIssue(t, mustIssuer(t, IssuerConfig{Keys: []Key{old}, Now: now}), Claims{Subject: "u", SessionID: "s"})
	rotated := mustIssuer(t, IssuerConfig{Keys: []Key{cur, old}, Now: now})
	signedByCur := mustIssue(t, rotated, Claims{Subject: "u", SessionID: "s"})
	if p, _, _ := jwt.NewParser().ParseUnverified(signedByCur, jwt.MapClaims{}); p.Header["kid"] != cur.ID {
		t.Fatalf("a rotated issuer signs with %v, want the first key %s", p.Header["kid"], cur.ID)
	}
	tests := []struct {
		name      string
		keys      []Key
		token     string
		withError error
	}{
		{"old key alone", []Key{old}, signedByOld, nil},
		{"old key still listed", []Key{cur, old}, signedByOld, nil},
		{"old key removed", []Key{cur}, signedByOld, ErrInvalidToken},
		{"new key's token", []Key{cur}, signedByCur, nil},
		{"new key's token before the new key is listed", []Key{old}, signedByCur, ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mustIssuer(t, IssuerConfig{Keys: tc.keys, Now: now}).Verify(tc.token)
			if !errors.Is(err, tc.withError) || (tc.withError == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.withError)
			}
		})
	}
}

func TestNewIssuer(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	tests := []struct {
		name      string
		cfg       IssuerConfig
		withError bool
	}{
		{"one key", IssuerConfig{Keys: []Key{k1}}, false},
		{"two keys", IssuerConfig{Keys: []Key{k1, k2}}, false},
		{"no key", IssuerConfig{}, true},
		{"key without id", IssuerConfig{Keys: []Key{{Private: k1.Private}}}, true},
		{"key without private key", IssuerConfig{Keys: []Key{{ID: "k"}}}, true},
		{"truncated private key", IssuerConfig{Keys: []Key{{ID: "k", Private: k1.Private[:32]}}}, true},
		{"id listed twice", IssuerConfig{Keys: []Key{k1, {ID: k1.ID, Private: k2.Private}}}, true},
		{"negative lifetime", IssuerConfig{Keys: []Key{k1}, AccessTTL: -time.Minute}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewIssuer(tc.cfg); (err != nil) != tc.withError {
				t.Fatalf("NewIssuer: %v", err)
			}
		})
	}
	// The issuer keeps its own copy of the keys.
	keys := []Key{k1}
	iss := mustIssuer(t, IssuerConfig{Keys: keys})
	keys[0] = k2
	tok := mustIssue(t, iss, Claims{Subject: "u", SessionID: "s"})
	if _, err := mustIssuer(t, IssuerConfig{Keys: []Key{k1}}).Verify(tok); err != nil {
		t.Fatalf("changing the caller's slice changed the signing key: %v", err)
	}
}

func TestJWKS(t *testing.T) {
	keys := []Key{mustKey(t), mustKey(t), mustKey(t)}
	tests := []struct {
		name      string
		keys      []Key
		withError error
	}{
		{"one key", keys[:1], nil},
		{"rotation", keys[:2], nil},
		{"three keys", keys, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := mustIssuer(t, IssuerConfig{Keys: tc.keys, Now: at(epoch)})
			raw, err := iss.JWKS()
			if !errors.Is(err, tc.withError) {
				t.Fatal(err)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if len(set.Keys) != len(tc.keys) {
				t.Fatalf("%d keys, want %d", len(set.Keys), len(tc.keys))
			}
			for n, k := range tc.keys {
				j := set.Keys[n]
				want := map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": k.ID, "use": "sig", "alg": "EdDSA",
					"x": base64.RawURLEncoding.EncodeToString(k.Private.Public().(ed25519.PublicKey))}
				if len(j) != len(want) {
					t.Errorf("key %d: %v", n, j)
				}
				for f, v := range want {
					if j[f] != v {
						t.Errorf("key %d: %s = %q, want %q", n, f, j[f], v)
					}
				}
			}
			// A relying party holding only the JWKS verifies the token.
			tok := mustIssue(t, iss, Claims{Subject: "u", SessionID: "s"})
			_, err = jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
				for _, j := range set.Keys {
					if j["kid"] == tk.Header["kid"] {
						x, err := base64.RawURLEncoding.DecodeString(j["x"])
						return ed25519.PublicKey(x), err
					}
				}
				return nil, errors.New("kid not in the set")
			}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(at(epoch)))
			if err != nil {
				t.Fatalf("verifying with the JWKS: %v", err)
			}
		})
	}
}

func TestMarshalKey(t *testing.T) {
	k := mustKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	encode := func(typ string, headers map[string]string, b []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: b})
	}
	marshal := func(k Key) []byte {
		b, err := MarshalKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name      string
		pem       []byte
		wantID    string
		withError bool
	}{
		{"round trip", marshal(k), k.ID, false},
		{"round trip of a chosen id", marshal(Key{ID: "2026-11", Private: k.Private}), "2026-11", false},
		{"no kid header: derived", encode("PRIVATE KEY", nil, der), k.ID, false},
		{"not PEM", []byte("not a key"), "", true},
		{"empty", nil, "", true},
		{"another block type", encode("PUBLIC KEY", nil, der), "", true},
		{"corrupt DER", encode("PRIVATE KEY", map[string]string{"kid": k.ID}, der[:len(der)-4]), "", true},
		{"RSA key", encode("PRIVATE KEY", nil, rsaDER), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnmarshalKey(tc.pem)
			if (err != nil) != tc.withError {
				t.Fatalf("UnmarshalKey: %v", err)
			}
			if err != nil {
				return
			}
			if got.ID != tc.wantID || !got.Private.Equal(k.Private) {
				t.Fatalf("got id %q, want %q; same key %v", got.ID, tc.wantID, got.Private.Equal(k.Private))
			}
		})
	}
	if b := marshal(k); !strings.Contains(string(b), "kid: "+k.ID) || !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("PEM:\n%s", b)
	}
	if _, err := MarshalKey(Key{ID: "k"}); err == nil {
		t.Fatal("MarshalKey of an empty key succeeded")
	}
}

func TestNewKey(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	if len(a.ID) != 16 || a.ID == b.ID || a.Private.Equal(b.Private) {
		t.Fatalf("keys %q %q", a.ID, b.ID)
	}
	if a.ID != keyID(a.Private.Public().(ed25519.PublicKey)) {
		t.Fatal("id is not derived from the public key")
	}
}

func TestConcurrentUse(t *testing.T) {
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{mustKey(t), mustKey(t)}})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for n := range 16 {
		wg.Go(func() {
			tok, _, err := iss.Issue(Claims{Subject: "u", Tenant: tenant.ID("t" + string(rune('a'+n))), SessionID: "s"})
			if err == nil {
				_, err = iss.Verify(tok)
			}
			if err == nil {
				_, err = iss.JWKS()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestSignDocumentRefusesWhatLooksLikeAToken: a document's signature is
// never one a token verifies with.
func TestSignDocumentRefusesWhatLooksLikeAToken(t *testing.T) {
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{mustKey(t)}})
	if _, _, err := iss.SignDocument([]byte(`eyJhbGciOiJFZERTQSJ9.e30`)); err == nil {
		t.Fatal("a token's signing input was signed as a document")
	}
	if kid, sig, err := iss.SignDocument([]byte("atrium.audit.export.v1\n")); err != nil || kid == "" || len(sig) != 64 {
		t.Fatalf("a document: %q %d %v", kid, len(sig), err)
	}
}
