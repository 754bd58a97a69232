-- +goose Up
-- One row per expense claim of the tenant. amount is in minor units.
CREATE TABLE expenses (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    owner            NVARCHAR(64) NOT NULL,
    category         NVARCHAR(MAX) NOT NULL,
    amount           BIGINT NOT NULL,
    currency         NVARCHAR(3) NOT NULL,
    spent_on         NVARCHAR(10) NOT NULL,
    description      NVARCHAR(MAX) NOT NULL,
    status           NVARCHAR(32) NOT NULL,
    has_receipt      BIGINT NOT NULL,
    decided_by       NVARCHAR(MAX) NULL,
    reason           NVARCHAR(MAX) NULL,
    created_at       NVARCHAR(40) NOT NULL,
    updated_at       NVARCHAR(40) NOT NULL,
    version          BIGINT NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE UNIQUE INDEX expenses_created ON expenses (created_position);
CREATE INDEX expenses_owner ON expenses (owner, created_position);
CREATE INDEX expenses_status ON expenses (status, created_position);

-- +goose Down
DROP TABLE expenses;
