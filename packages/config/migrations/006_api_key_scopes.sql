-- What an API key may do: "send" (submit and cancel messages), "read" (look them up),
-- "admin" (the tenant's configuration through /v1/admin). Existing keys keep what they
-- could do before: send and read. Kept compatible with PostgreSQL 12.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{send,read}';
