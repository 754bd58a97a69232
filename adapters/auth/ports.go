package auth

import (
	"context"
	"errors"
	"time"

	"github.com/atrium-platform/atrium/adapters/admission"

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
func (a Argon2) Hash(_ context.Context, pw string) (string, error) {
	if a.MemoryKiB == 0 || a.Passes == 0 {
		return HashPassword(pw)
	}
	return hashWith(pw, a.MemoryKiB, a.Passes)
}

// Check implements identity.Passwords.
func (Argon2) Check(_ context.Context, hash, pw string) (bool, error) { return CheckPassword(hash, pw) }

// Dummy implements identity.Passwords: it spends the time Check spends on
// a hash made by Hash with the same cost.
func (a Argon2) Dummy(_ context.Context, pw string) error {
	if a.MemoryKiB == 0 || a.Passes == 0 {
		DummyCheck(pw)
		return nil
	}
	dummyCheck(pw, a.MemoryKiB, a.Passes)
	return nil
}

// Pool bounds the password work of a process: each hash or check takes a
// slot of its gate, keyed by the ctx tenant (the platform's own logins
// share one key), so at most the gate's slots run at once (each argon2id
// check holds its memory cost, 64 MiB by default), a bounded number wait,
// and waiting tenants are served in turn. Beyond that it answers
// identity.ErrBusy at once.
type Pool struct {
	Passwords identity.Passwords
	Gate      *admission.Gate
}

var _ identity.Passwords = Pool{}

// knownKey marks a ctx whose password work is for a client known to the
// account (it signed in to it before).
type knownKey struct{}

// WithKnownClient marks ctx's password work as a known client's: the pool
// queues it in a lane of its own, beside the tenant's other work, so a
// flood of strangers' attempts does not delay it.
func WithKnownClient(ctx context.Context) context.Context {
	return context.WithValue(ctx, knownKey{}, true)
}

func (p Pool) acquire(ctx context.Context) (func(), error) {
	key := "platform"
	if t, err := tenant.From(ctx); err == nil {
		key = string(t)
	}
	if known, _ := ctx.Value(knownKey{}).(bool); known {
		key += "\x00known"
	}
	release, err := p.Gate.Acquire(ctx, key)
	if errors.Is(err, admission.ErrFull) {
		return nil, identity.ErrBusy
	}
	return release, err
}

// Hash implements identity.Passwords.
func (p Pool) Hash(ctx context.Context, pw string) (string, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return p.Passwords.Hash(ctx, pw)
}

// Check implements identity.Passwords.
func (p Pool) Check(ctx context.Context, hash, pw string) (bool, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return p.Passwords.Check(ctx, hash, pw)
}

// Dummy implements identity.Passwords.
func (p Pool) Dummy(ctx context.Context, pw string) error {
	release, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return p.Passwords.Dummy(ctx, pw)
}

// TokenPort adapts an Issuer to identity.Tokens.
type TokenPort struct{ Issuer *Issuer }

var _ identity.Tokens = TokenPort{}

// Issue implements identity.Tokens.
func (p TokenPort) Issue(userID user.ID, t tenant.ID, roles []user.Role, sessionID string) (string, time.Duration, error) {
	return p.Issuer.Issue(Claims{Subject: userID, Tenant: t, Roles: roles, SessionID: sessionID})
}
