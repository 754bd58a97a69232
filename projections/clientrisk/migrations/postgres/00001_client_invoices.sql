-- +goose Up
-- One row per invoice that was issued (or is still a draft), with what
-- collections needs to judge its client: amounts in minor units, dates as
-- YYYY-MM-DD. Drafts have no issued_on; cancelled and rejected invoices
-- leave the table.
CREATE TABLE client_invoices (
    invoice_id   TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    client_name  TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total        BIGINT NOT NULL,
    paid         BIGINT NOT NULL,
    issued_on    TEXT,
    due_date     TEXT NOT NULL,
    last_paid_on TEXT,
    settled_on   TEXT
);
CREATE INDEX client_invoices_client ON client_invoices (client_id, currency);

-- +goose Down
DROP TABLE client_invoices;
