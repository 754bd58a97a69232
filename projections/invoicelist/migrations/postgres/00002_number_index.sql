-- +goose Up
-- The ERP reports payments by invoice number.
CREATE INDEX invoices_number ON invoices (number);

-- +goose Down
DROP INDEX invoices_number;
