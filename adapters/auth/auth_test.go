package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/atrium-platform/atrium/domain/user"
)

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("hash %q", h)
	}
	tests := []struct {
		name, hash, pw string
		ok             bool
		withError      error
	}{
		{"right", h, "correct horse battery", true, nil},
		{"wrong", h, "correct horse battery!", false, nil},
		{"malformed", "$argon2id$v=19$nonsense", "x", false, ErrBadHash},
		{"other scheme", "$2a$10$abcdefghijklmnopqrstuv", "x", false, ErrBadHash},
		{"absurd cost", "$argon2id$v=19$m=99999999,t=2,p=2$c2FsdA$a2V5", "x", false, ErrBadHash},
	}
	for _, tc := range tests {
		ok, err := CheckPassword(tc.hash, tc.pw)
		if ok != tc.ok || !errors.Is(err, tc.withError) {
			t.Errorf("%s: %v %v", tc.name, ok, err)
		}
	}
	for _, weak := range []string{"", "short", strings.Repeat("x", 257)} {
		if _, err := HashPassword(weak); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("%d-byte password: %v", len(weak), err)
		}
	}
}

func issuer(t *testing.T, now func() time.Time, keys ...Key) *Issuer {
	t.Helper()
	i, err := NewIssuer(IssuerConfig{Keys: keys, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustKey(t *testing.T) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	key, other := mustKey(t), mustKey(t)
	iss := issuer(t, clock, key)
	c := Claims{Subject: "u-1", Tenant: "acme", Roles: []user.Role{user.Finance, user.Manager}, SessionID: "s-1"}
	tok, ttl, err := iss.Issue(c)
	if err != nil || ttl != 15*time.Minute {
		t.Fatal(ttl, err)
	}
	got, err := iss.Verify(tok)
	if err != nil || got.Subject != "u-1" || got.Tenant != "acme" || len(got.Roles) != 2 || got.SessionID != "s-1" {
		t.Fatalf("%+v %v", got, err)
	}

	foreign, _, _ := issuer(t, clock, other).Issue(c)
	later := issuer(t, func() time.Time { return now.Add(20 * time.Minute) }, key)
	aud, _ := NewIssuer(IssuerConfig{Keys: []Key{key}, Audience: "another-api", Now: clock})
	wrongAud, _, _ := aud.Issue(c)
	isr, _ := NewIssuer(IssuerConfig{Keys: []Key{key}, Issuer: "someone-else", Now: clock})
	wrongIss, _, _ := isr.Issue(c)
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u-1", "aud": "atrium-api", "iss": "atrium", "exp": now.Add(time.Hour).Unix(), "sid": "s"})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-1", "aud": "atrium-api", "iss": "atrium", "exp": now.Add(time.Hour).Unix(), "sid": "s"})
	hs.Header["kid"] = key.ID
	hsTok, _ := hs.SignedString([]byte(key.Private.Public().(ed25519.PublicKey)))

	tests := []struct {
		name, token string
		iss         *Issuer
	}{
		{"another key", foreign, iss},
		{"expired", tok, later},
		{"wrong audience", wrongAud, iss},
		{"wrong issuer", wrongIss, iss},
		{"tampered", tampered, iss},
		{"alg none", noneTok, iss},
		{"HS256 with the public key", hsTok, iss},
		{"garbage", "not.a.token", iss},
	}
	for _, tc := range tests {
		if _, err := tc.iss.Verify(tc.token); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", tc.name, err)
		}
	}
}

func TestKeyRotationAndJWKS(t *testing.T) {
	old, cur := mustKey(t), mustKey(t)
	signedByOld, _, err := issuer(t, time.Now, old).Issue(Claims{Subject: "u", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issuer(t, time.Now, cur, old).Verify(signedByOld); err != nil {
		t.Fatalf("a listed old key: %v", err)
	}
	if _, err := issuer(t, time.Now, cur).Verify(signedByOld); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a removed key: %v", err)
	}
	raw, err := issuer(t, time.Now, cur, old).JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 2 || set.Keys[0]["kid"] != cur.ID || set.Keys[0]["crv"] != "Ed25519" {
		t.Fatalf("jwks %s %v", raw, err)
	}
	pemBytes, err := MarshalKey(cur)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalKey(pemBytes)
	if err != nil || back.ID != cur.ID || !back.Private.Equal(cur.Private) {
		t.Fatalf("key round trip: %v", err)
	}
	tok, h, err := NewRefreshToken()
	if err != nil || HashRefreshToken(tok) != h || len(tok) < 40 {
		t.Fatal("refresh token")
	}
}
