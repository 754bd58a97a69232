-- +goose Up
-- One row per invoice of the tenant, as its events left it. Amounts are in
-- minor units of the invoice currency. client_id is free text of at most
-- 500 characters (invoice.Create).
CREATE TABLE invoices (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    number           NVARCHAR(64) NULL,
    client_id        NVARCHAR(500) NOT NULL,
    client_name      NVARCHAR(MAX) NOT NULL,
    status           NVARCHAR(32) NOT NULL,
    currency         NVARCHAR(3) NOT NULL,
    total            BIGINT NOT NULL,
    paid             BIGINT NOT NULL,
    due              BIGINT NOT NULL,
    due_date         NVARCHAR(10) NOT NULL,
    sales_rep        NVARCHAR(MAX) NOT NULL,
    created_by       NVARCHAR(MAX) NOT NULL,
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
