-- +goose Up
-- The tenant's hash chain: one row per event of its log, the event's
-- hash (hex), which covers the event and the hash of the one before it.
CREATE TABLE audit_chain (
    position INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_chain;
