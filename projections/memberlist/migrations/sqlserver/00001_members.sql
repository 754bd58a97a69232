-- +goose Up
-- One row per member of the tenant. roles is a JSON array.
CREATE TABLE members (
    user_id  NVARCHAR(64) NOT NULL PRIMARY KEY,
    email    NVARCHAR(254) NOT NULL,
    name     NVARCHAR(MAX) NOT NULL,
    roles    NVARCHAR(MAX) NOT NULL,
    added_at NVARCHAR(40) NOT NULL,
    position BIGINT NOT NULL
);
CREATE UNIQUE INDEX members_email ON members (email);
CREATE UNIQUE INDEX members_position ON members (position);

-- +goose Down
DROP TABLE members;
