-- +goose Up
-- One row per day (UTC, YYYY-MM-DD) the tenant did something: what it
-- counted; record: the day's close as billing is sent it (JSON), once
-- closed; reported_at: when billing took it; last_command: the command of
-- the day's last event counted (a command's events are one command).
CREATE TABLE usage_days (
    day          TEXT PRIMARY KEY,
    commands     BIGINT NOT NULL DEFAULT 0,
    events       BIGINT NOT NULL DEFAULT 0,
    event_bytes  BIGINT NOT NULL DEFAULT 0,
    api_requests BIGINT NOT NULL DEFAULT 0,
    erp_inbound  BIGINT NOT NULL DEFAULT 0,
    record       TEXT,
    last_command TEXT,
    reported_at  TEXT
);
-- The members who ran a command on a day.
CREATE TABLE usage_members (
    day     TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (day, user_id)
);
-- +goose Down
DROP TABLE usage_members;
DROP TABLE usage_days;
