-- Every change to a tenant's routing configuration (tenants, providers, strategies)
-- notifies channel commstrat_config with the tenant id, whoever makes it: the config
-- store, the admin API or an operator's hand-written SQL. Replicas LISTEN and reload
-- that tenant; the notification is sent on commit, so a reader sees the new rows.
-- PostgreSQL folds identical notifications of one transaction into one.
-- Kept compatible with PostgreSQL 12 (EXECUTE PROCEDURE, no CREATE OR REPLACE TRIGGER).
CREATE FUNCTION commstrat_notify_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- Through jsonb, so one function serves tables with and without a tenant_id column.
  changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
BEGIN
  PERFORM pg_notify('commstrat_config', COALESCE(changed ->> 'tenant_id', changed ->> 'id'));
  RETURN NULL;
END;
$$;

CREATE TRIGGER tenants_notify_config_change AFTER INSERT OR UPDATE OR DELETE ON tenants
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();
CREATE TRIGGER providers_notify_config_change AFTER INSERT OR UPDATE OR DELETE ON providers
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();
CREATE TRIGGER strategies_notify_config_change AFTER INSERT OR UPDATE OR DELETE ON strategies
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();
