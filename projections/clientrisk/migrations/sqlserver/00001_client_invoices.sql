-- +goose Up
CREATE TABLE client_invoices (
    invoice_id   NVARCHAR(64) NOT NULL PRIMARY KEY,
    client_id    NVARCHAR(500) NOT NULL,
    client_name  NVARCHAR(500) NOT NULL,
    currency     NCHAR(3) NOT NULL,
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
