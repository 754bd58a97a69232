-- +goose Up
-- The tenant's ERP connection as the dispatcher needs it (its secret is
-- sealed elsewhere, under fingerprint). events: the kinds of events that
-- become messages, a JSON array; mappings: a JSON object.
CREATE TABLE erp_connection (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    status      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    tbl         TEXT NOT NULL,
    events      TEXT NOT NULL,
    mappings    TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);

-- One row per ERP message: the outbox (the message, derived from its event)
-- and its delivery state. published: handed to the bus (0 until then, and
-- again when a resync or a retry sends it again); generation: the position
-- of the event that last asked for it to be sent (0: its own event).
CREATE TABLE erp_messages (
    id              TEXT PRIMARY KEY,
    position        BIGINT NOT NULL,
    type            TEXT NOT NULL,
    aggregate       TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    TEXT,
    next_attempt_at TEXT,
    published       BIGINT NOT NULL DEFAULT 0,
    generation      BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX erp_messages_position ON erp_messages (position);
CREATE INDEX erp_messages_status ON erp_messages (status, position);
CREATE INDEX erp_messages_unpublished ON erp_messages (published, position);

-- +goose Down
DROP TABLE erp_messages;
DROP TABLE erp_connection;
