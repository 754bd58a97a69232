-- +goose Up
CREATE TABLE commission_plans (
    user_id  NVARCHAR(64) NOT NULL,
    version  BIGINT NOT NULL,
    rate_bps BIGINT NULL,
    tiers    NVARCHAR(2000) NULL,
    set_by   NVARCHAR(64) NOT NULL,
    set_at   NVARCHAR(30) NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);
CREATE TABLE commission_objectives (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id          NVARCHAR(64) NOT NULL,
    period           NVARCHAR(7) NOT NULL,
    target           BIGINT NOT NULL,
    currency         NCHAR(3) NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE INDEX commission_objectives_user ON commission_objectives (user_id, period);
CREATE TABLE commission_payments (
    payment_key  NVARCHAR(200) NOT NULL PRIMARY KEY,
    invoice_id   NVARCHAR(64) NOT NULL,
    user_id      NVARCHAR(64) NOT NULL,
    period       NVARCHAR(7) NOT NULL,
    paid_at      NVARCHAR(30) NOT NULL,
    amount       BIGINT NOT NULL,
    currency     NCHAR(3) NOT NULL,
    plan_version BIGINT NULL,
    rate_bps     BIGINT NULL,
    commission   BIGINT NULL,
    reversed     BIT NOT NULL,
    position     BIGINT NOT NULL
);
CREATE INDEX commission_payments_user ON commission_payments (user_id, period);
CREATE INDEX commission_payments_invoice ON commission_payments (invoice_id);
CREATE TABLE commissions (
    user_id          NVARCHAR(64) NOT NULL,
    period           NVARCHAR(7) NOT NULL,
    currency         NCHAR(3) NOT NULL,
    collected        BIGINT NULL,
    commission       BIGINT NULL,
    accruals         BIGINT NOT NULL,
    status           NVARCHAR(16) NOT NULL,
    statement_id     NVARCHAR(64) NULL,
    created_position BIGINT NOT NULL,
    PRIMARY KEY (user_id, period, currency)
);
CREATE UNIQUE INDEX commissions_created ON commissions (created_position);
CREATE INDEX commissions_status ON commissions (status);
CREATE TABLE commission_statements (
    id             NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id        NVARCHAR(64) NOT NULL,
    period         NVARCHAR(7) NOT NULL,
    currency       NCHAR(3) NOT NULL,
    round_number   BIGINT NOT NULL,
    status         NVARCHAR(16) NOT NULL,
    collected      BIGINT NOT NULL,
    commission     BIGINT NOT NULL,
    paid_before    BIGINT NOT NULL,
    payable        BIGINT NOT NULL,
    as_of_position BIGINT NOT NULL,
    frozen_by      NVARCHAR(64) NOT NULL,
    frozen_at      NVARCHAR(30) NOT NULL,
    decided_by     NVARCHAR(64) NULL,
    decided_at     NVARCHAR(30) NULL,
    reason         NVARCHAR(500) NULL,
    paid_by        NVARCHAR(64) NULL,
    paid_at        NVARCHAR(30) NULL,
    version        BIGINT NOT NULL
);
CREATE INDEX commission_statements_user ON commission_statements (user_id, period);

-- +goose Down
DROP TABLE commission_statements;
DROP TABLE commissions;
DROP TABLE commission_payments;
DROP TABLE commission_objectives;
DROP TABLE commission_plans;
