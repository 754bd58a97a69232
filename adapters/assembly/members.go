package assembly

import (
	"context"
	"errors"

	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
)

// members answers the commands' membership questions (commands.Members)
// from the identity handler's record of the ctx tenant's members.
type members struct{ identity *identitycmd.Handler }

// Roles implements commands.Members.
func (m members) Roles(ctx context.Context, userID string) ([]user.Role, bool, error) {
	// Without a tenant, Member would answer for the platform's
	// administrators: a tenant's reference never names one of them.
	if _, err := tenant.From(ctx); err != nil {
		return nil, false, err
	}
	mem, err := m.identity.Member(ctx, user.ID(userID))
	if errors.Is(err, identitycmd.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return mem.Roles, true, nil
}
