-- +goose Up
-- One row per issued invoice with something still due; the row leaves when
-- the invoice is paid in full or cancelled. outstanding is in minor units.
CREATE TABLE aging_open_items (
    invoice_id  TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    client_name TEXT NOT NULL,
    currency    TEXT NOT NULL,
    due_date    TEXT NOT NULL,
    outstanding BIGINT NOT NULL
);
CREATE INDEX aging_open_items_client ON aging_open_items (client_id);

-- +goose Down
DROP TABLE aging_open_items;
