-- Message templates (docs/templates.md), stored per tenant and versioned like strategies
-- and provider definitions: every save that changes a template is a new row (version =
-- newest + 1) and a row is never rewritten, so the version a message was rendered with
-- (the journal records it on the message) still explains what it said.
-- Kept compatible with PostgreSQL 12.
CREATE TABLE templates (
  tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text NOT NULL,
  version     integer NOT NULL CHECK (version > 0),
  definition  jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, version)
);

-- "Never rewritten" is held by the database, whoever issues the UPDATE. Deleting the
-- tenant still removes its rows.
CREATE FUNCTION commstrat_refuse_template_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'templates rows are never rewritten: save a new version';
END;
$$;
CREATE TRIGGER templates_never_rewritten BEFORE UPDATE ON templates
  FOR EACH ROW EXECUTE PROCEDURE commstrat_refuse_template_update();

-- A new version reaches every replica's routing snapshot (which holds the newest version
-- of each template) by the NOTIFY of migration 004, like any other configuration change.
CREATE TRIGGER templates_notify_config_change AFTER INSERT OR UPDATE OR DELETE ON templates
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();

-- The locale a message gets when its recipient names none (BCP 47, e.g. 'ru-RU'); NULL:
-- each template's own default_locale. Read with the routing snapshot.
ALTER TABLE tenants ADD COLUMN default_locale text;
