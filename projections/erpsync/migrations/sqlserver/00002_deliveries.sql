-- +goose Up
-- Every delivery of a message, kept when a resync sends it again (which
-- clears erp_messages.delivered_at): what the tenant's usage and its
-- plan's ERP messages a day count.
CREATE TABLE erp_deliveries (
    id           NVARCHAR(200) NOT NULL,
    generation   BIGINT NOT NULL,
    delivered_on NVARCHAR(10) NOT NULL,
    PRIMARY KEY (id, generation)
);
CREATE INDEX erp_deliveries_on ON erp_deliveries (delivered_on);

-- +goose Down
DROP TABLE erp_deliveries;
