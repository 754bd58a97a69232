package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// fuzzNow is the fixed clock of the fuzz targets' issuer, so that the
// tokens of the seed corpus stay valid.
var fuzzNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fuzzKey is a key derived from name, the same in every run.
func fuzzKey(name string) Key {
	seed := sha256.Sum256([]byte(name))
	return keyOf(ed25519.NewKeyFromSeed(seed[:]))
}

// fuzzClaims are the claims Issue would set at fuzzNow, with a fixed jti.
func fuzzClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "atrium", "aud": []string{"atrium-api"}, "sub": "u-1", "sid": "s-1", "tenant": "acme", "roles": []string{"finance"},
		"iat": fuzzNow.Unix(), "nbf": fuzzNow.Unix(), "exp": fuzzNow.Add(15 * time.Minute).Unix(), "jti": "j-1",
	}
}

// fuzzSign signs claims by hand: the same claims and key give the same token.
func fuzzSign(tb testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// tokenFixture is an issuer with a fixed key and clock, and the tokens
// signed with its key: every other string must be refused.
type tokenFixture struct {
	iss    *Issuer
	key    Key
	signed []string
}

// sign signs claims by hand with the issuer's key under kid, and counts
// the token among those signed.
func (fx *tokenFixture) sign(tb testing.TB, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	tok := fuzzSign(tb, jwt.SigningMethodEdDSA, fx.key.Private, kid, claims)
	fx.signed = append(fx.signed, tok)
	return tok
}

func newTokenFixture(tb testing.TB) *tokenFixture {
	tb.Helper()
	key := fuzzKey("atrium fuzz signing key")
	iss, err := NewIssuer(IssuerConfig{Keys: []Key{key}, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		tb.Fatal(err)
	}
	fx := tokenFixture{iss: iss, key: key}
	fx.sign(tb, key.ID, fuzzClaims())
	for _, c := range []Claims{
		{Subject: "u-1", Tenant: "acme", Roles: []user.Role{user.Finance, user.Manager}, SessionID: "s-1"},
		{Subject: "root", Roles: []user.Role{user.PlatformAdmin}, SessionID: "s-2"},
	} {
		tok, _, err := iss.Issue(c)
		if err != nil {
			tb.Fatal(err)
		}
		fx.signed = append(fx.signed, tok)
	}
	for _, tok := range fx.signed {
		if _, err := iss.Verify(tok); err != nil {
			tb.Fatalf("a token of the fixture does not verify: %v", err)
		}
	}
	return &fx
}

// verify checks one Verify: a refusal wraps ErrInvalidToken, and claims
// accepted are whole.
func (fx *tokenFixture) verify(t *testing.T, token string) (Claims, bool) {
	t.Helper()
	c, err := fx.iss.Verify(token)
	if err != nil {
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify(%q): %v, which is not ErrInvalidToken", token, err)
		}
		return Claims{}, false
	}
	if c.Subject == "" || c.SessionID == "" || c.ExpiresAt.IsZero() {
		t.Fatalf("Verify(%q) accepted claims without subject, session or expiry: %+v", token, c)
	}
	if c.Tenant != "" {
		if _, err := tenant.Parse(string(c.Tenant)); err != nil {
			t.Fatalf("Verify(%q) accepted the tenant %q: %v", token, c.Tenant, err)
		}
	}
	return c, true
}

// signedPart is a token's header and payload, what its signature covers.
func signedPart(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return token
	}
	return token[:i]
}

// FuzzVerify hands arbitrary strings to Verify: none is accepted unless
// its header and payload are those of a token signed with the issuer's
// key (no forgery: alg none, another algorithm, another key, edited
// claims), and none panics.
func FuzzVerify(f *testing.F) {
	fx := newTokenFixture(f)
	key, other := fx.key, fuzzKey("another key")
	pub := key.Private.Public().(ed25519.PublicKey)
	valid := fx.signed[0]
	parts := strings.Split(valid, ".")
	b64url := base64.RawURLEncoding.EncodeToString
	seeds := []string{
		valid,
		"",
		"...",
		b64url([]byte(`{"alg":"none","typ":"JWT","kid":"`+key.ID+`"}`)) + "." + parts[1] + ".",
		b64url([]byte(`{"alg":"EdDSA","alg":"none","kid":"`+key.ID+`"}`)) + "." + parts[1] + "." + parts[2],
		fuzzSign(f, jwt.SigningMethodHS256, []byte(pub), key.ID, fuzzClaims()),
		fuzzSign(f, jwt.SigningMethodEdDSA, other.Private, key.ID, fuzzClaims()),
		fuzzSign(f, jwt.SigningMethodEdDSA, other.Private, other.ID, fuzzClaims()),
		fx.sign(f, "", fuzzClaims()),
		fx.sign(f, key.ID+"\x00", fuzzClaims()),
		fx.sign(f, key.ID, withClaims(fuzzClaims(), "exp", 9e18)),
		fx.sign(f, key.ID, withClaims(fuzzClaims(), "exp", fuzzNow.Add(-time.Hour).Unix())),
		fx.sign(f, key.ID, withClaims(fuzzClaims(), "tenant", "ACME\x00")),
		fx.sign(f, key.ID, withClaims(fuzzClaims(), "aud", []string{"atrium-api", "other"})),
		fx.sign(f, key.ID, withClaims(fuzzClaims(), "sub", "")),
		parts[0] + "." + b64url([]byte(`{"sub":"root","sid":"s","roles":["platform_admin"],"iss":"atrium","aud":"atrium-api","exp":9e18}`)) + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		" " + valid + " ",
		"Bearer " + valid,
		"\xff\xfe." + parts[1] + "." + parts[2],
		strings.Repeat("A", 12<<10) + "." + parts[1] + "." + parts[2],
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if _, ok := fx.verify(t, token); !ok {
			return
		}
		for _, s := range fx.signed {
			if signedPart(token) == signedPart(s) {
				return
			}
		}
		t.Fatalf("Verify accepted %q, whose header and payload no token signed with the issuer's key has", token)
	})
}

// FuzzVerifyMutated changes a signed token (a byte changed, removed or
// added, or the token cut short) and expects Verify to refuse what is no
// longer the token as issued.
func FuzzVerifyMutated(f *testing.F) {
	fx := newTokenFixture(f)
	for _, s := range []struct {
		which, op uint8
		at        uint16
		b         byte
	}{
		{0, 0, 0, 0x01},
		{0, 0, 40, 0x20},
		{1, 0, 200, 0x80},
		{2, 1, 10, 0},
		{0, 2, 36, '.'},
		{1, 2, 0, ' '},
		{2, 3, 100, 0},
		{0, 0, 0xffff, 0xff},
	} {
		f.Add(s.which, s.op, s.at, s.b)
	}
	f.Fuzz(func(t *testing.T, which, op uint8, at uint16, b byte) {
		orig := fx.signed[int(which)%len(fx.signed)]
		i := int(at) % len(orig)
		var mutated string
		switch op % 4 {
		case 0: // change a byte
			m := []byte(orig)
			m[i] ^= b
			mutated = string(m)
		case 1: // remove a byte
			mutated = orig[:i] + orig[i+1:]
		case 2: // add a byte
			mutated = orig[:i] + string([]byte{b}) + orig[i:]
		case 3: // cut short
			mutated = orig[:i]
		}
		if mutated == orig {
			return
		}
		if c, ok := fx.verify(t, mutated); ok {
			t.Fatalf("Verify accepted %q, the token %q changed at byte %d (op %d, byte %#x), as %+v", mutated, orig, i, op%4, b, c)
		}
	})
}

// withClaims returns a copy of c with the given claims set.
func withClaims(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for n := 0; n+1 < len(kv); n += 2 {
		out[kv[n].(string)] = kv[n+1]
	}
	return out
}
