-- +goose Up
-- Sales commissions of the tenant. Times are UTC, fixed-width, so they
-- compare as text. Amounts are minor units of the row's currency.
-- user_id holds an invoice's sales representative: free text of at most
-- 500 characters. Keys wider than 900 bytes are NONCLUSTERED (1,700).

-- Every plan ever set, by salesperson and version of their plan stream:
-- rate_bps for a flat plan, tiers (JSON) for a tiered one.
CREATE TABLE commission_plans (
    user_id  NVARCHAR(500) NOT NULL,
    version  BIGINT NOT NULL,
    rate_bps BIGINT NULL,
    tiers    NVARCHAR(MAX) NULL,
    set_by   NVARCHAR(MAX) NOT NULL,
    set_at   NVARCHAR(40) NOT NULL,
    position BIGINT NOT NULL,
    CONSTRAINT commission_plans_pk PRIMARY KEY NONCLUSTERED (user_id, version)
);

-- The salespeople's objectives, for the achievement tiered plans read.
CREATE TABLE commission_objectives (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id          NVARCHAR(500) NOT NULL,
    period           NVARCHAR(16) NOT NULL,
    target           BIGINT NOT NULL,
    currency         NVARCHAR(3) NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE INDEX commission_objectives_user ON commission_objectives (user_id, period);

-- Every invoice payment credited to a salesperson, with what it accrues
-- when a plan was in force as it was recorded.
CREATE TABLE commission_payments (
    payment_key  NVARCHAR(200) NOT NULL PRIMARY KEY,
    invoice_id   NVARCHAR(64) NOT NULL,
    user_id      NVARCHAR(500) NOT NULL,
    period       NVARCHAR(16) NOT NULL,
    paid_at      NVARCHAR(40) NOT NULL,
    amount       BIGINT NOT NULL,
    currency     NVARCHAR(3) NOT NULL,
    plan_version BIGINT NULL,
    rate_bps     BIGINT NULL,
    commission   BIGINT NULL,
    reversed     BIGINT NOT NULL,
    position     BIGINT NOT NULL
);
CREATE INDEX commission_payments_user ON commission_payments (user_id, period);
CREATE INDEX commission_payments_invoice ON commission_payments (invoice_id);

-- One row per salesperson, period and currency with accruals: the totals
-- and the status of the period's statement.
CREATE TABLE commissions (
    user_id          NVARCHAR(500) NOT NULL,
    period           NVARCHAR(16) NOT NULL,
    currency         NVARCHAR(3) NOT NULL,
    collected        BIGINT NULL,
    commission       BIGINT NULL,
    accruals         BIGINT NOT NULL,
    status           NVARCHAR(32) NOT NULL,
    statement_id     NVARCHAR(64) NULL,
    created_position BIGINT NOT NULL,
    CONSTRAINT commissions_pk PRIMARY KEY NONCLUSTERED (user_id, period, currency)
);
CREATE UNIQUE INDEX commissions_created ON commissions (created_position);
CREATE INDEX commissions_status ON commissions (status);

-- Statements, as their last round left them.
CREATE TABLE commission_statements (
    id             NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id        NVARCHAR(500) NOT NULL,
    period         NVARCHAR(16) NOT NULL,
    currency       NVARCHAR(3) NOT NULL,
    round_number   BIGINT NOT NULL,
    status         NVARCHAR(32) NOT NULL,
    collected      BIGINT NOT NULL,
    commission     BIGINT NOT NULL,
    paid_before    BIGINT NOT NULL,
    payable        BIGINT NOT NULL,
    as_of_position BIGINT NOT NULL,
    frozen_by      NVARCHAR(MAX) NOT NULL,
    frozen_at      NVARCHAR(40) NOT NULL,
    decided_by     NVARCHAR(MAX) NULL,
    decided_at     NVARCHAR(40) NULL,
    reason         NVARCHAR(MAX) NULL,
    paid_by        NVARCHAR(MAX) NULL,
    paid_at        NVARCHAR(40) NULL,
    version        BIGINT NOT NULL
);
CREATE INDEX commission_statements_user ON commission_statements (user_id, period);

-- +goose Down
DROP TABLE commission_statements;
DROP TABLE commissions;
DROP TABLE commission_payments;
DROP TABLE commission_objectives;
DROP TABLE commission_plans;
