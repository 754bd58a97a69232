package sqlite

import (
	"context"
	"fmt"

	"github.com/atrium-platform/atrium/projections"
)

var _ projections.Snapshotter = (*Store)(nil)

// Snapshot implements projections.Snapshotter with VACUUM INTO: SQLite
// writes a compact copy of the tenant's database as of one read
// transaction, while projection goes on.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	db, err := s.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Release()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("read store snapshot: %w", err)
	}
	return nil
}
