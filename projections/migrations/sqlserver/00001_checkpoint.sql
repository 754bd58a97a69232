-- +goose Up
CREATE TABLE projection_checkpoint (
    projector  NVARCHAR(64) NOT NULL PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at DATETIME2 NOT NULL
);

-- +goose Down
DROP TABLE projection_checkpoint;
