-- +goose Up
CREATE TABLE projection_checkpoint (
    projector  TEXT PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE projection_checkpoint;
