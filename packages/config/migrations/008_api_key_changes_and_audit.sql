-- API keys join the configuration changes that notify commstrat_config (migration 004)
-- with their tenant id: a key created or revoked, by the admin API or by hand-written
-- SQL, reaches every replica's key cache on commit, so a revoked key is refused at once
-- instead of after the cache's time to live. The payload is the tenant id only, never
-- a key or its digest.
CREATE TRIGGER api_keys_notify_config_change AFTER INSERT OR UPDATE OR DELETE ON api_keys
  FOR EACH ROW EXECUTE PROCEDURE commstrat_notify_config_change();

-- The admin API lists a tenant's audit rows newest first, a page at a time by id.
CREATE INDEX audit_tenant_id ON audit (tenant_id, id);
