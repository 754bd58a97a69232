-- +goose Up
CREATE TABLE readstoretest_items (
    id TEXT PRIMARY KEY,
    n  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE readstoretest_items;
