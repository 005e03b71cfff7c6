-- A tenant's consent settings (PUT /v1/admin/consent): the message categories no
-- recipient opt-out holds back (one-time passwords), and the keywords of inbound
-- messages (STOP, START, HELP) per language with their replies. NULL: the defaults
-- (packages/core consent-settings.ts). The recipients' opt-outs themselves are not here
-- but in MongoDB `preferences` (docs/preferences.md says why). The tenants trigger of
-- migration 004 notifies on every change, so the setting reaches every replica with the
-- routing snapshot. Kept compatible with PostgreSQL 12.
ALTER TABLE tenants ADD COLUMN consent jsonb;
