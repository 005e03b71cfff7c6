export { migrate } from './migrate.ts';
export {
  ensureTenantWithKey,
  findTenantByApiKey,
  generateApiKey,
  hashApiKey,
  type Tenant,
} from './tenants.ts';
export { TenantCache, type TenantCacheOptions } from './tenant-cache.ts';
