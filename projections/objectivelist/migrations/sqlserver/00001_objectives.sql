-- +goose Up
-- Sales objectives of the tenant. Times are UTC, fixed-width, so they
-- compare as text. Amounts are minor units.
CREATE TABLE objectives (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    assignee         NVARCHAR(64) NOT NULL,
    period           NVARCHAR(16) NOT NULL,
    period_start     NVARCHAR(40) NOT NULL,
    period_end       NVARCHAR(40) NOT NULL,
    metric           NVARCHAR(MAX) NOT NULL,
    target           BIGINT NOT NULL,
    currency         NVARCHAR(3) NOT NULL,
    status           NVARCHAR(MAX) NOT NULL,
    reason           NVARCHAR(MAX) NULL,
    version          BIGINT NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE UNIQUE INDEX objectives_created ON objectives (created_position);
CREATE INDEX objectives_assignee ON objectives (assignee, period);

-- Every invoice payment credited to a sales representative: the source of
-- objectives' progress, fed by invoice events. sales_rep is the invoice's,
-- free text of at most 500 characters.
CREATE TABLE sales_payments (
    payment_key NVARCHAR(200) NOT NULL PRIMARY KEY,
    invoice_id  NVARCHAR(64) NOT NULL,
    sales_rep   NVARCHAR(500) NOT NULL,
    paid_at     NVARCHAR(40) NOT NULL,
    amount      BIGINT NOT NULL,
    currency    NVARCHAR(3) NOT NULL
);
CREATE INDEX sales_payments_rep ON sales_payments (sales_rep, currency, paid_at);

-- +goose Down
DROP TABLE sales_payments;
DROP TABLE objectives;
