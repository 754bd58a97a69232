-- +goose Up
CREATE TABLE expenses (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    owner            NVARCHAR(64) NOT NULL,
    category         NVARCHAR(40) NOT NULL,
    amount           BIGINT NOT NULL,
    currency         NCHAR(3) NOT NULL,
    spent_on         NVARCHAR(10) NOT NULL,
    description      NVARCHAR(500) NOT NULL,
    status           NVARCHAR(16) NOT NULL,
    has_receipt      BIT NOT NULL,
    decided_by       NVARCHAR(64) NULL,
    reason           NVARCHAR(500) NULL,
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
