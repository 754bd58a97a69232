-- +goose Up
-- One row per invoice that was issued (or is still a draft), with what
-- collections needs to judge its client: amounts in minor units, dates as
-- YYYY-MM-DD. Drafts have no issued_on; cancelled and rejected invoices
-- leave the table.
CREATE TABLE client_invoices (
    invoice_id   NVARCHAR(64) NOT NULL PRIMARY KEY,
    client_id    NVARCHAR(500) NOT NULL,
    client_name  NVARCHAR(MAX) NOT NULL,
    currency     NVARCHAR(3) NOT NULL,
    total        BIGINT NOT NULL,
    paid         BIGINT NOT NULL,
    issued_on    NVARCHAR(10) NULL,
    due_date     NVARCHAR(10) NOT NULL,
    last_paid_on NVARCHAR(10) NULL,
    settled_on   NVARCHAR(10) NULL
);
CREATE INDEX client_invoices_client ON client_invoices (client_id, currency);

-- +goose Down
DROP TABLE client_invoices;
