-- Provider definitions (declarative HTTP APIs, packages/providers/src/definition) stored
-- per tenant and versioned like strategies: every save is a new row (version = newest
-- + 1) and a row is never rewritten, so a provider pinned to a version keeps sending by
-- exactly what it was tested with. Kept compatible with PostgreSQL 12.
CREATE TABLE provider_definitions (
  tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text NOT NULL,
  version     integer NOT NULL CHECK (version > 0),
  definition  jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, version)
);

-- The database holds "never rewritten", not only the config store: an UPDATE is
-- refused whoever issues it. Deleting the tenant still removes its rows.
CREATE FUNCTION commstrat_refuse_definition_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'provider_definitions rows are never rewritten: save a new version';
END;
$$;
CREATE TRIGGER provider_definitions_never_rewritten BEFORE UPDATE ON provider_definitions
  FOR EACH ROW EXECUTE PROCEDURE commstrat_refuse_definition_update();

-- A provider row whose definition_version is set sends by the tenant's stored
-- definition named by its kind, at that version; NULL keeps the meaning kind always
-- had (a hand-written adapter or a shipped definition). The foreign key makes a pin to
-- a version that does not exist impossible, and a pinned version impossible to delete.
ALTER TABLE providers ADD COLUMN definition_version integer;
ALTER TABLE providers ADD CONSTRAINT providers_stored_definition
  FOREIGN KEY (tenant_id, kind, definition_version)
  REFERENCES provider_definitions (tenant_id, name, version);

-- A new version reloads the tenant's routing like any other configuration change
-- (migration 004), so a replica that resolves definitions never serves a stale list.
CREATE TRIGGER provider_definitions_notify_config_change
  AFTER INSERT OR UPDATE OR DELETE ON provider_definitions
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();
