-- +goose Up
CREATE TABLE erp_connection (
    id          INT NOT NULL PRIMARY KEY CHECK (id = 1),
    status      NVARCHAR(32) NOT NULL,
    kind        NVARCHAR(32) NOT NULL,
    target      NVARCHAR(2000) NOT NULL,
    tbl         NVARCHAR(200) NOT NULL,
    events      NVARCHAR(2000) NOT NULL,
    mappings    NVARCHAR(MAX) NOT NULL,
    fingerprint NVARCHAR(200) NOT NULL
);
CREATE TABLE erp_messages (
    id              NVARCHAR(64) NOT NULL PRIMARY KEY,
    position        BIGINT NOT NULL,
    type            NVARCHAR(200) NOT NULL,
    aggregate       NVARCHAR(100) NOT NULL,
    aggregate_id    NVARCHAR(100) NOT NULL,
    payload         NVARCHAR(MAX) NOT NULL,
    status          NVARCHAR(16) NOT NULL,
    attempts        INT NOT NULL DEFAULT 0,
    last_error      NVARCHAR(1000) NULL,
    delivered_at    NVARCHAR(40) NULL,
    next_attempt_at NVARCHAR(40) NULL,
    published       INT NOT NULL DEFAULT 0,
    generation      BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX erp_messages_position ON erp_messages (position);
CREATE INDEX erp_messages_status ON erp_messages (status, position);
CREATE INDEX erp_messages_unpublished ON erp_messages (published, position);

-- +goose Down
DROP TABLE erp_messages;
DROP TABLE erp_connection;
