-- +goose Up
CREATE TABLE projection_checkpoint (
    projector  TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE projection_checkpoint;
