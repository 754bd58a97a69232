-- +goose Up
ALTER TABLE readstoretest_items ADD COLUMN label TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE readstoretest_items DROP COLUMN label;
