-- +goose Up
-- active, or invited: a member added by a tenant admin is invited until
-- they sign in to the tenant once. The default is a named constraint, so
-- that Down can drop it before the column.
ALTER TABLE members ADD status NVARCHAR(32) NOT NULL CONSTRAINT members_status_default DEFAULT 'active';

-- +goose Down
ALTER TABLE members DROP CONSTRAINT members_status_default;
ALTER TABLE members DROP COLUMN status;
