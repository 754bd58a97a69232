package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/user"
)

// Members answers who belongs to the ctx tenant, for commands that set a
// reference to a person (an invoice's sales_rep, an objective's assignee).
// Safe for concurrent use.
type Members interface {
	// Roles returns the roles userID holds in the ctx tenant, and ok false
	// when userID is no member of it, whether or not it names someone of
	// another tenant. It fails without a tenant in ctx.
	Roles(ctx context.Context, userID string) (roles []user.Role, ok bool, err error)
}

// RequireMember checks the user reference a command sets in field: it must
// name a member of the ctx tenant holding role. Anyone else is refused
// with unknown_member, a member of another tenant exactly like an id nobody
// holds; a member without the role with member_role_required.
func RequireMember(ctx context.Context, m Members, field, userID string, role user.Role) error {
	roles, ok, err := m.Roles(ctx, userID)
	if err != nil {
		return fmt.Errorf("%s: member lookup: %w", field, err)
	}
	if !ok {
		return &domain.Error{Kind: domain.Rejected, Code: "unknown_member", Field: field,
			Message: field + " must be the user_id of a member of this tenant"}
	}
	if !slices.Contains(roles, role) {
		return &domain.Error{Kind: domain.Rejected, Code: "member_role_required", Field: field,
			Message: fmt.Sprintf("%s must be a member holding the role %s", field, role)}
	}
	return nil
}
