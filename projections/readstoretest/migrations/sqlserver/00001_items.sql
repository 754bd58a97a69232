-- +goose Up
CREATE TABLE readstoretest_items (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    n  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE readstoretest_items;
