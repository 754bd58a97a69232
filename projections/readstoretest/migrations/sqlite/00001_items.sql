-- +goose Up
CREATE TABLE readstoretest_items (
    id TEXT PRIMARY KEY,
    n  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE readstoretest_items;
