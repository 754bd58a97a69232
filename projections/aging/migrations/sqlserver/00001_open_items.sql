-- +goose Up
-- One row per issued invoice with something still due; the row leaves when
-- the invoice is paid in full or cancelled. outstanding is in minor units.
-- client_id is free text of at most 500 characters (invoice.Create).
CREATE TABLE aging_open_items (
    invoice_id  NVARCHAR(64) NOT NULL PRIMARY KEY,
    client_id   NVARCHAR(500) NOT NULL,
    client_name NVARCHAR(MAX) NOT NULL,
    currency    NVARCHAR(3) NOT NULL,
    due_date    NVARCHAR(10) NOT NULL,
    outstanding BIGINT NOT NULL
);
CREATE INDEX aging_open_items_client ON aging_open_items (client_id);

-- +goose Down
DROP TABLE aging_open_items;
