-- +goose Up
ALTER TABLE readstoretest_items ADD label NVARCHAR(MAX) NOT NULL
    CONSTRAINT readstoretest_items_label DEFAULT '';

-- +goose Down
ALTER TABLE readstoretest_items DROP CONSTRAINT readstoretest_items_label;
ALTER TABLE readstoretest_items DROP COLUMN label;
