-- +goose Up
-- One row per invoice of the tenant, as its events left it. Amounts are in
-- minor units of the invoice currency.
CREATE TABLE invoices (
    id               TEXT PRIMARY KEY,
    number           TEXT,
    client_id        TEXT NOT NULL,
    client_name      TEXT NOT NULL,
    status           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    total            BIGINT NOT NULL,
    paid             BIGINT NOT NULL,
    due              BIGINT NOT NULL,
    due_date         TEXT NOT NULL,
    sales_rep        TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    issued_at        TEXT,
    updated_at       TEXT NOT NULL,
    version          BIGINT NOT NULL,
    position         BIGINT NOT NULL,
    created_position BIGINT NOT NULL,
    lines            TEXT NOT NULL
);
CREATE UNIQUE INDEX invoices_created ON invoices (created_position);
CREATE INDEX invoices_status ON invoices (status, created_position);
CREATE INDEX invoices_client ON invoices (client_id, created_position);

-- +goose Down
DROP TABLE invoices;
