-- A tenant's stop list: recipient addresses that opted out. A listed address is never
-- sent a message below the strategy's exempt priorities (by default: never a
-- non-critical one). Addresses are kept normalised (E.164 phone, lower-case e-mail), so
-- the primary key is the lookup. Kept compatible with PostgreSQL 12.
CREATE TABLE stop_list (
  tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('phone', 'email')),
  address     text NOT NULL,
  reason      text NOT NULL DEFAULT '',
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, kind, address)
);

-- The stop list travels with the routing snapshot, so a change reloads it the same way.
CREATE TRIGGER stop_list_notify_config_change AFTER INSERT OR UPDATE OR DELETE ON stop_list
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();
