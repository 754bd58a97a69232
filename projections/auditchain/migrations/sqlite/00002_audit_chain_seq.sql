-- +goose Up
-- Each link's place in the chain (1 for the tenant's first event): heads
-- are recorded every so many links, whatever the positions (on KurrentDB
-- they are log offsets). Links written before it have none; the next one
-- counts them.
ALTER TABLE audit_chain ADD COLUMN seq INTEGER;

-- +goose Down
ALTER TABLE audit_chain DROP COLUMN seq;
