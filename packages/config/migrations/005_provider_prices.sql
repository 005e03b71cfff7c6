-- A provider's price per message by recipient country (ISO 3166-1 alpha-2), "*" for
-- any other, as least_cost routes compare them: {"DE": 0.05, "*": 0.08}. One currency
-- per tenant, by convention. Kept compatible with PostgreSQL 12.
ALTER TABLE providers ADD COLUMN prices jsonb NOT NULL DEFAULT '{}'::jsonb;
