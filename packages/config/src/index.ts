export { migrate } from './migrate.ts';
export {
  ensureTenantWithKey,
  findTenantByApiKey,
  findTenantByKeyDigest,
  generateApiKey,
  hashApiKey,
  API_KEY_SCOPES,
  GRANTABLE_SCOPES,
  type ApiKeyScope,
  type Tenant,
} from './tenants.ts';
export { TenantCache, type TenantCacheOptions } from './tenant-cache.ts';
export {
  checkStrategy,
  ensureStrategy,
  findDefaultStrategy,
  findStrategy,
  listProviders,
  listStrategies,
  listStrategyVersions,
  rollbackStrategy,
  saveStrategy,
  upsertProvider,
  type PinnedDefinition,
  type Provider,
  type ProviderInput,
  type SaveStrategyOptions,
  type StoredStrategy,
  type StrategyVersion,
} from './strategies.ts';
export { moveStrategyVersion, MAX_MOVE_CHAIN, type MoveStrategyRequest, type StrategyMove } from './strategy-moves.ts';
export { RoutingCache, type Routing, type RoutingCacheOptions, type TenantTemplates } from './routing-cache.ts';
export {
  findTemplate,
  listTemplates,
  listTemplateVersions,
  namedTemplate,
  rollbackTemplate,
  saveTemplate,
  type SaveTemplateOptions,
  type StoredTemplate,
  type TemplateVersion,
} from './templates.ts';
export { TemplateCache, type CachedTemplate, type TemplateCacheOptions } from './template-cache.ts';
export { CONFIG_CHANNEL } from './config-snapshot.ts';
export { ensureSandboxRouting, type SandboxRoutingOptions } from './sandbox-routing.ts';
export { ReceiptSecrets, type ReceiptSecretsOptions } from './receipt-secrets.ts';
export {
  addToStopList,
  listStopList,
  removeFromStopList,
  type StopListEntry,
} from './stop-list.ts';
export { createApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord } from './api-keys.ts';
export { createTenant, findTenant, listTenants, updateTenant, type TenantPatch, type TenantRecord } from './tenant-admin.ts';
export { listAudit, type AuditRecord } from './audit.ts';
export { writeAudit, type AuditEntry } from './audit.ts';
export {
  ADAPTER_KINDS,
  checkProviderDefinition,
  findProviderDefinition,
  listProviderDefinitions,
  listProviderDefinitionVersions,
  resolveProviderDefinition,
  saveProviderDefinition,
  type ResolvedProviderDefinition,
  type SaveProviderDefinitionOptions,
  type StoredProviderDefinition,
} from './provider-definitions.ts';
export {
  PROVIDER_DEFAULTS,
  definitionSource,
  findProvider,
  listTenantProviders,
  maskCredentials,
  putProvider,
  type ProviderChange,
  type PutProviderOptions,
  type PutProviderResult,
} from './provider-store.ts';
export {
  CallbackTargets,
  callbackTargetOf,
  generateCallbackSecret,
  rotateCallbackSecret,
  setTenantCallbackUrl,
  type CallbackTarget,
  type CallbackTargetsOptions,
} from './callback-targets.ts';
export { readConsentSettings, setConsentSettings } from './consent.ts';
