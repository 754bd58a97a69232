-- +goose Up
-- The messages delivered on a day, for the tenant's usage and its plan's
-- ERP messages a day.
CREATE INDEX erp_messages_delivered ON erp_messages (delivered_at);

-- +goose Down
DROP INDEX erp_messages_delivered;
