package auth

import (
	"time"

	"github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// Argon2 implements identity.Passwords. The zero value hashes with RFC
// 9106's parameters; MemoryKiB and Passes lower the cost where hashing
// speed matters more than resistance (tests). Checking always uses the
// parameters stored in the hash.
type Argon2 struct {
	MemoryKiB uint32
	Passes    uint32
}

var _ identity.Passwords = Argon2{}

// Hash implements identity.Passwords.
func (a Argon2) Hash(pw string) (string, error) {
	if a.MemoryKiB == 0 || a.Passes == 0 {
		return HashPassword(pw)
	}
	return hashWith(pw, a.MemoryKiB, a.Passes)
}

// Check implements identity.Passwords.
func (Argon2) Check(hash, pw string) (bool, error) { return CheckPassword(hash, pw) }

// Dummy implements identity.Passwords: it spends the time Check spends on
// a hash made by Hash with the same cost.
func (a Argon2) Dummy(pw string) {
	if a.MemoryKiB == 0 || a.Passes == 0 {
		DummyCheck(pw)
		return
	}
	dummyCheck(pw, a.MemoryKiB, a.Passes)
}

// TokenPort adapts an Issuer to identity.Tokens.
type TokenPort struct{ Issuer *Issuer }

var _ identity.Tokens = TokenPort{}

// Issue implements identity.Tokens.
func (p TokenPort) Issue(userID user.ID, t tenant.ID, roles []user.Role, sessionID string) (string, time.Duration, error) {
	return p.Issuer.Issue(Claims{Subject: userID, Tenant: t, Roles: roles, SessionID: sessionID})
}
