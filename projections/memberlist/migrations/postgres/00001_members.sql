-- +goose Up
-- One row per member of the tenant. roles is a JSON array.
CREATE TABLE members (
    user_id  TEXT PRIMARY KEY,
    email    TEXT NOT NULL,
    name     TEXT NOT NULL,
    roles    TEXT NOT NULL,
    added_at TEXT NOT NULL,
    position BIGINT NOT NULL
);
CREATE UNIQUE INDEX members_email ON members (email);
CREATE UNIQUE INDEX members_position ON members (position);

-- +goose Down
DROP TABLE members;
