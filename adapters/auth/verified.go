package auth

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// MaxVerified bounds how many verified tokens an issuer remembers.
const MaxVerified = 16384

// verified remembers the claims of tokens whose signature and claims were
// checked, until each one expires (with Leeway, as Verify's own check), so
// that a token presented again is not checked again: the signature check
// was most of an authenticated request's cost. Only tokens that passed are
// remembered, by the SHA-256 of the token (never the token itself), at most
// MaxVerified: a full cache drops what has expired (at most once a second:
// a sweep reads every entry), and remembers nothing more until some has. A token's revocation is a matter of its login
// (checked on every request by its caller), not of the token: remembering
// a valid signature changes nothing to it.
type verified struct {
	max   int // MaxVerified; another bound in tests
	mu    sync.Mutex
	m     map[[sha256.Size]byte]Claims
	swept time.Time // the last sweep of a full cache
}

func (v *verified) get(key [sha256.Size]byte, now time.Time) (Claims, bool) {
	v.mu.Lock()
	c, ok := v.m[key]
	if ok && !now.Before(c.ExpiresAt.Add(Leeway)) {
		delete(v.m, key)
		ok = false
	}
	v.mu.Unlock()
	if !ok {
		return Claims{}, false
	}
	c.Roles = slices.Clone(c.Roles) // the caller's own
	return c, true
}

func (v *verified) put(key [sha256.Size]byte, c Claims, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[[sha256.Size]byte]Claims{}
	}
	if len(v.m) >= v.max {
		if now.Sub(v.swept) < time.Second {
			return
		}
		v.swept = now
		for k, e := range v.m {
			if !now.Before(e.ExpiresAt.Add(Leeway)) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= v.max {
			return
		}
	}
	c.Roles = slices.Clone(c.Roles)
	v.m[key] = c
}

// len is how many tokens are remembered.
func (v *verified) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.m)
}
