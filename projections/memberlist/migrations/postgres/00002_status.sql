-- +goose Up
-- active, or invited: a member added by a tenant admin is invited until
-- they sign in to the tenant once.
ALTER TABLE members ADD COLUMN status TEXT NOT NULL DEFAULT 'active';

-- +goose Down
ALTER TABLE members DROP COLUMN status;
