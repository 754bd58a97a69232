package projections

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/streams"
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

// Checkpoints returns the runner's own read model, projection_checkpoint, as
// a Projector whose Apply does nothing, so read stores migrate it, and report
// its schema version, like any other read model. Read stores migrate it
// before any projector's.
func Checkpoints() Projector { return checkpoints{} }

type checkpoints struct{}

func (checkpoints) Name() string                        { return CheckpointName }
func (checkpoints) Migrations(d Dialect) (fs.FS, error) { return CheckpointMigrations(d) }
func (checkpoints) Apply(context.Context, Tx, Dialect, streams.Record, domain.Event) error {
	return nil
}

// ErrUnknownReadModel is returned for a read model name no projector has.
var ErrUnknownReadModel = errors.New("projections: no such read model")
