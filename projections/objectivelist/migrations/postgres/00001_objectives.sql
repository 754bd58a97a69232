-- +goose Up
-- Sales objectives of the tenant. Times are UTC, fixed-width, so they
-- compare as text. Amounts are minor units.
CREATE TABLE objectives (
    id               TEXT PRIMARY KEY,
    assignee         TEXT NOT NULL,
    period           TEXT NOT NULL,
    period_start     TEXT NOT NULL,
    period_end       TEXT NOT NULL,
    metric           TEXT NOT NULL,
    target           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    version          BIGINT NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE UNIQUE INDEX objectives_created ON objectives (created_position);
CREATE INDEX objectives_assignee ON objectives (assignee, period);

-- Every invoice payment credited to a sales representative: the source of
-- objectives' progress, fed by invoice events.
CREATE TABLE sales_payments (
    payment_key TEXT PRIMARY KEY,
    invoice_id  TEXT NOT NULL,
    sales_rep   TEXT NOT NULL,
    paid_at     TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL
);
CREATE INDEX sales_payments_rep ON sales_payments (sales_rep, currency, paid_at);

-- +goose Down
DROP TABLE sales_payments;
DROP TABLE objectives;
