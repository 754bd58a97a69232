-- +goose Up
-- One row per expense claim of the tenant. amount is in minor units.
CREATE TABLE expenses (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    category         TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    spent_on         TEXT NOT NULL,
    description      TEXT NOT NULL,
    status           TEXT NOT NULL,
    has_receipt      BIGINT NOT NULL,
    decided_by       TEXT,
    reason           TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE UNIQUE INDEX expenses_created ON expenses (created_position);
CREATE INDEX expenses_owner ON expenses (owner, created_position);
CREATE INDEX expenses_status ON expenses (status, created_position);

-- +goose Down
DROP TABLE expenses;
