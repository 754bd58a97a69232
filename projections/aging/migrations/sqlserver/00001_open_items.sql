-- +goose Up
CREATE TABLE aging_open_items (
    invoice_id  NVARCHAR(64) NOT NULL PRIMARY KEY,
    client_id   NVARCHAR(500) NOT NULL,
    client_name NVARCHAR(500) NOT NULL,
    currency    NCHAR(3) NOT NULL,
    due_date    NVARCHAR(10) NOT NULL,
    outstanding BIGINT NOT NULL
);
CREATE INDEX aging_open_items_client ON aging_open_items (client_id);

-- +goose Down
DROP TABLE aging_open_items;
