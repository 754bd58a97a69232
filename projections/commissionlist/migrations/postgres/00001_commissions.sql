-- +goose Up
-- Sales commissions of the tenant. Times are UTC, fixed-width, so they
-- compare as text. Amounts are minor units of the row's currency.

-- Every plan ever set, by salesperson and version of their plan stream:
-- rate_bps for a flat plan, tiers (JSON) for a tiered one.
CREATE TABLE commission_plans (
    user_id  TEXT NOT NULL,
    version  BIGINT NOT NULL,
    rate_bps BIGINT,
    tiers    TEXT,
    set_by   TEXT NOT NULL,
    set_at   TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);

-- The salespeople's objectives, for the achievement tiered plans read.
CREATE TABLE commission_objectives (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    period           TEXT NOT NULL,
    target           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE INDEX commission_objectives_user ON commission_objectives (user_id, period);

-- Every invoice payment credited to a salesperson, with what it accrues
-- when a plan was in force as it was recorded.
CREATE TABLE commission_payments (
    payment_key  TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    period       TEXT NOT NULL,
    paid_at      TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    plan_version BIGINT,
    rate_bps     BIGINT,
    commission   BIGINT,
    reversed     BIGINT NOT NULL,
    position     BIGINT NOT NULL
);
CREATE INDEX commission_payments_user ON commission_payments (user_id, period);
CREATE INDEX commission_payments_invoice ON commission_payments (invoice_id);

-- One row per salesperson, period and currency with accruals: the totals
-- and the status of the period's statement.
CREATE TABLE commissions (
    user_id          TEXT NOT NULL,
    period           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    collected        BIGINT,
    commission       BIGINT,
    accruals         BIGINT NOT NULL,
    status           TEXT NOT NULL,
    statement_id     TEXT,
    created_position BIGINT NOT NULL,
    PRIMARY KEY (user_id, period, currency)
);
CREATE UNIQUE INDEX commissions_created ON commissions (created_position);
CREATE INDEX commissions_status ON commissions (status);

-- Statements, as their last round left them.
CREATE TABLE commission_statements (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    period         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    round_number   BIGINT NOT NULL,
    status         TEXT NOT NULL,
    collected      BIGINT NOT NULL,
    commission     BIGINT NOT NULL,
    paid_before    BIGINT NOT NULL,
    payable        BIGINT NOT NULL,
    as_of_position BIGINT NOT NULL,
    frozen_by      TEXT NOT NULL,
    frozen_at      TEXT NOT NULL,
    decided_by     TEXT,
    decided_at     TEXT,
    reason         TEXT,
    paid_by        TEXT,
    paid_at        TEXT,
    version        BIGINT NOT NULL
);
CREATE INDEX commission_statements_user ON commission_statements (user_id, period);

-- +goose Down
DROP TABLE commission_statements;
DROP TABLE commissions;
DROP TABLE commission_payments;
DROP TABLE commission_objectives;
DROP TABLE commission_plans;
