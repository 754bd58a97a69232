-- +goose Up
CREATE TABLE objectives (
    id               NVARCHAR(64) NOT NULL PRIMARY KEY,
    assignee         NVARCHAR(64) NOT NULL,
    period           NVARCHAR(7) NOT NULL,
    period_start     NVARCHAR(30) NOT NULL,
    period_end       NVARCHAR(30) NOT NULL,
    metric           NVARCHAR(16) NOT NULL,
    target           BIGINT NOT NULL,
    currency         NCHAR(3) NOT NULL,
    status           NVARCHAR(16) NOT NULL,
    reason           NVARCHAR(500) NULL,
    version          BIGINT NOT NULL,
    created_position BIGINT NOT NULL
);
CREATE UNIQUE INDEX objectives_created ON objectives (created_position);
CREATE INDEX objectives_assignee ON objectives (assignee, period);
CREATE TABLE sales_payments (
    payment_key NVARCHAR(200) NOT NULL PRIMARY KEY,
    invoice_id  NVARCHAR(64) NOT NULL,
    sales_rep   NVARCHAR(64) NOT NULL,
    paid_at     NVARCHAR(30) NOT NULL,
    amount      BIGINT NOT NULL,
    currency    NCHAR(3) NOT NULL
);
CREATE INDEX sales_payments_rep ON sales_payments (sales_rep, currency, paid_at);

-- +goose Down
DROP TABLE sales_payments;
DROP TABLE objectives;
