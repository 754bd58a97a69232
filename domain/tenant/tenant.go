// Package tenant names the client company a request, an event or a row
// belongs to, and carries it through a context.Context.
//
// Code that needs a tenant asks From(ctx) and fails with ErrNoTenant when
// there is none: there is no default tenant.
package tenant

import (
	"context"
	"errors"
	"fmt"
)

// ID is a tenant slug: ^[a-z][a-z0-9]{1,30}$.
type ID string

// Platform is the reserved tenant that owns the platform's own streams
// (the tenant catalog). No client company may take this slug.
const Platform ID = "platform"

var (
	// ErrNoTenant is returned by From when the context carries no tenant.
	ErrNoTenant = errors.New("tenant: no tenant in context")
	// ErrInvalidID is returned by Parse for a slug that does not match the pattern.
	ErrInvalidID = errors.New("tenant: invalid slug")
	// ErrReserved is returned by ParseClient for a slug kept for the platform.
	ErrReserved = errors.New("tenant: reserved slug")
)

// validSlug reports whether s matches ^[a-z][a-z0-9]{1,30}$ (checked on
// every command and append: without a regular expression).
func validSlug(s string) bool {
	if len(s) < 2 || len(s) > 31 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// reserved slugs can never be given to a client company: they name the
// platform itself or would be confusing as sub-domains.
var reserved = map[ID]bool{Platform: true, "admin": true, "api": true, "www": true, "app": true}

// Parse validates s as a tenant slug. It accepts the Platform slug.
func Parse(s string) (ID, error) {
	if !validSlug(s) {
		return "", fmt.Errorf("%w: %q", ErrInvalidID, s)
	}
	return ID(s), nil
}

// ParseClient validates s as the slug of a client company: a valid slug
// that is not reserved for the platform.
func ParseClient(s string) (ID, error) {
	id, err := Parse(s)
	if err != nil {
		return "", err
	}
	if reserved[id] {
		return "", fmt.Errorf("%w: %q", ErrReserved, s)
	}
	return id, nil
}

// String returns the slug.
func (id ID) String() string { return string(id) }

type ctxKey struct{}

// With returns a copy of ctx that carries id.
func With(ctx context.Context, id ID) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the tenant carried by ctx, or ErrNoTenant.
func From(ctx context.Context) (ID, error) {
	id, ok := ctx.Value(ctxKey{}).(ID)
	if !ok || id == "" {
		return "", ErrNoTenant
	}
	return id, nil
}
