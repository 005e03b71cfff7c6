-- Providers (configured integrations) and communication strategies (versioned).
-- Kept compatible with PostgreSQL 12.

-- A provider id is the tenant's own name for it ("sandbox-sms"), so it is unique per
-- tenant, not globally: two tenants may both call theirs "sms-main", and a strategy can
-- only ever reach providers of its own tenant.
CREATE TABLE providers (
  tenant_id        text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id               text NOT NULL,
  kind             text NOT NULL,                 -- adapter kind, e.g. 'http-sms'
  endpoint         text NOT NULL,
  credentials      jsonb NOT NULL DEFAULT '{}'::jsonb,
  rate_per_second  integer NOT NULL CHECK (rate_per_second > 0),
  concurrency      integer NOT NULL CHECK (concurrency > 0),
  max_batch_size   integer NOT NULL CHECK (max_batch_size > 0),
  linger_ms        integer NOT NULL CHECK (linger_ms >= 0),
  timeout_ms       integer NOT NULL CHECK (timeout_ms > 0),
  enabled          boolean NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

-- Every save is a new row (version = previous + 1); rows are never updated except to
-- move the default flag, so a message journaled with (name, version) can always be
-- explained later.
--
-- The primary key also finds the newest version of a name: an index scan backwards on
-- (tenant_id, name, version) stops at the first row, so no second index is needed.
CREATE TABLE strategies (
  tenant_id               text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name                    text NOT NULL,
  version                 integer NOT NULL CHECK (version > 0),
  channel                 text NOT NULL,
  definition              jsonb NOT NULL,
  is_default_for_channel  boolean NOT NULL DEFAULT false,
  created_at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, version)
);

-- At most one default per tenant and channel. The flag sits on the newest version of
-- the default strategy only (the config store moves it on save), so this one row is
-- also what the lookup of a channel's default reads.
CREATE UNIQUE INDEX strategies_one_default_per_channel
  ON strategies (tenant_id, channel)
  WHERE is_default_for_channel;
