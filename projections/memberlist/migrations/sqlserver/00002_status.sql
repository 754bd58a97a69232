-- +goose Up
ALTER TABLE members ADD status NVARCHAR(16) NOT NULL CONSTRAINT members_status_default DEFAULT 'active';

-- +goose Down
ALTER TABLE members DROP CONSTRAINT members_status_default;
ALTER TABLE members DROP COLUMN status;
