-- +goose Up
-- The tenant's ERP connection as the dispatcher needs it (its secret is
-- sealed elsewhere, under fingerprint). events: the kinds of events that
-- become messages, a JSON array; mappings: a JSON object.
CREATE TABLE erp_connection (
    id          BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    status      NVARCHAR(MAX) NOT NULL,
    kind        NVARCHAR(MAX) NOT NULL,
    target      NVARCHAR(MAX) NOT NULL,
    tbl         NVARCHAR(MAX) NOT NULL,
    events      NVARCHAR(MAX) NOT NULL,
    mappings    NVARCHAR(MAX) NOT NULL,
    fingerprint NVARCHAR(MAX) NOT NULL
);

-- One row per ERP message: the outbox (the message, derived from its event)
-- and its delivery state. published: handed to the bus (0 until then, and
-- again when a resync or a retry sends it again); generation: the position
-- of the event that last asked for it to be sent (0: its own event).
CREATE TABLE erp_messages (
    id              NVARCHAR(200) NOT NULL PRIMARY KEY,
    position        BIGINT NOT NULL,
    type            NVARCHAR(MAX) NOT NULL,
    aggregate       NVARCHAR(MAX) NOT NULL,
    aggregate_id    NVARCHAR(MAX) NOT NULL,
    payload         NVARCHAR(MAX) NOT NULL,
    status          NVARCHAR(32) NOT NULL,
    attempts        BIGINT NOT NULL CONSTRAINT erp_messages_attempts DEFAULT 0,
    last_error      NVARCHAR(MAX) NULL,
    delivered_at    NVARCHAR(40) NULL,
    next_attempt_at NVARCHAR(40) NULL,
    published       BIGINT NOT NULL CONSTRAINT erp_messages_published DEFAULT 0,
    generation      BIGINT NOT NULL CONSTRAINT erp_messages_generation DEFAULT 0
);
CREATE UNIQUE INDEX erp_messages_position ON erp_messages (position);
CREATE INDEX erp_messages_status ON erp_messages (status, position);
CREATE INDEX erp_messages_unpublished ON erp_messages (published, position);

-- +goose Down
DROP TABLE erp_messages;
DROP TABLE erp_connection;
