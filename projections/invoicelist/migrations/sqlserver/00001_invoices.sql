-- +goose Up
CREATE TABLE invoices (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    number           NVARCHAR(32) NULL,
    client_id        NVARCHAR(500) NOT NULL,
    client_name      NVARCHAR(500) NOT NULL,
    status           NVARCHAR(32) NOT NULL,
    currency         NCHAR(3) NOT NULL,
    total            BIGINT NOT NULL,
    paid             BIGINT NOT NULL,
    due              BIGINT NOT NULL,
    due_date         NVARCHAR(10) NOT NULL,
    sales_rep        NVARCHAR(500) NOT NULL,
    created_by       NVARCHAR(64) NOT NULL,
    created_at       NVARCHAR(40) NOT NULL,
    issued_at        NVARCHAR(40) NULL,
    updated_at       NVARCHAR(40) NOT NULL,
    version          BIGINT NOT NULL,
    position         BIGINT NOT NULL,
    created_position BIGINT NOT NULL,
    lines            NVARCHAR(MAX) NOT NULL
);
CREATE UNIQUE INDEX invoices_created ON invoices (created_position);
CREATE INDEX invoices_status ON invoices (status, created_position);
CREATE INDEX invoices_client ON invoices (client_id, created_position);

-- +goose Down
DROP TABLE invoices;
