package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestRefreshTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash, err := NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q: %d bytes, %v", tok, len(raw), err)
		}
		sum := sha256.Sum256([]byte(tok))
		if hash != hex.EncodeToString(sum[:]) || HashRefreshToken(tok) != hash {
			t.Fatalf("hash %q of %q", hash, tok)
		}
		if seen[tok] {
			t.Fatalf("token %q issued twice", tok)
		}
		seen[tok] = true
	}
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"same token", "abc", "abc", true},
		{"one character differs", "abc", "abd", false},
		{"case differs", "abc", "ABC", false},
	}
	for _, tc := range tests {
		if got := HashRefreshToken(tc.a) == HashRefreshToken(tc.b); got != tc.same {
			t.Errorf("%s: same hash = %v", tc.name, got)
		}
	}
}
