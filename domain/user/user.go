// Package user names the person behind a command and the roles they hold
// in the current tenant, and carries them through a context.Context.
package user

import (
	"context"
	"errors"
	"slices"
)

// ID identifies a user across the platform (a UUID in text form).
type ID string

// Role is what a member may do in one tenant.
type Role string

// The roles of CONTRACT.md section 3.
const (
	Admin    Role = "admin"
	Finance  Role = "finance"
	Manager  Role = "manager"
	Sales    Role = "sales"
	Employee Role = "employee"
	Auditor  Role = "auditor"
)

// Roles lists every role, in a stable order.
func Roles() []Role { return []Role{Admin, Finance, Manager, Sales, Employee, Auditor} }

// Overseers read every record of a tenant, not only their own: manager,
// finance, admin, auditor.
func Overseers() []Role { return []Role{Manager, Finance, Admin, Auditor} }

// ParseRole validates s as a role.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, slices.Contains(Roles(), r)
}

// Principal is the authenticated user of a request, with the roles they hold
// in the request's tenant.
type Principal struct {
	ID    ID
	Roles []Role
	// SessionID names the login the request belongs to, when it has one.
	SessionID string
}

// Has reports whether p holds at least one of roles.
func (p Principal) Has(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// ErrNoPrincipal is returned by From when the context carries no user.
var ErrNoPrincipal = errors.New("user: no authenticated user in context")

type ctxKey struct{}

// With returns a copy of ctx that carries p.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal carried by ctx, or ErrNoPrincipal.
func From(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	if !ok || p.ID == "" {
		return Principal{}, ErrNoPrincipal
	}
	return p, nil
}

// PlatformAdmin is the role of the platform's own administrators: they
// provision, suspend and resume tenants. It is never a tenant member's role.
const PlatformAdmin Role = "platform_admin"
