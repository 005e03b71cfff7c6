-- The zone a tenant's send windows are read in when neither the recipient nor the
-- window names one.
ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
