package projections

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed migrations
var checkpointMigrations embed.FS

// CheckpointMigrations returns the migrations of the runner's own table,
// projection_checkpoint(projector, position): one row per projector, updated
// in the same transaction as the projector's rows. Read stores run them
// before any projector's.
func CheckpointMigrations(d Dialect) (fs.FS, error) {
	sub, err := fs.Sub(checkpointMigrations, "migrations/"+string(d))
	if err != nil {
		return nil, fmt.Errorf("checkpoint migrations for %s: %w", d, err)
	}
	return sub, nil
}

// CheckpointName is the version-table name of the checkpoint migrations.
const CheckpointName = "checkpoint"
