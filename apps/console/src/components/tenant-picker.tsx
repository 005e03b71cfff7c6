import { api } from '../api.ts';
import { useLoad, useTenant } from '../hooks.ts';

interface TenantList {
  readonly tenants: readonly { readonly id: string; readonly name: string }[];
}

/** An operator's choice of tenant, kept in the address (`?tenant=`); an admin key has one tenant and no choice. */
export function TenantPicker() {
  const { tenant, setTenant, operator } = useTenant();
  const tenants = useLoad(operator ? () => api.get<TenantList>('/tenants') : null, [operator]);
  if (!operator) return null;
  return (
    <label class="tenant-picker">
      Tenant
      <select value={tenant ?? ''} onChange={(event) => setTenant(event.currentTarget.value || undefined)} aria-label="tenant">
        <option value="">all tenants</option>
        {(tenants.data?.tenants ?? []).map((t) => (
          <option key={t.id} value={t.id}>
            {t.name === t.id ? t.id : `${t.name} (${t.id})`}
          </option>
        ))}
      </select>
    </label>
  );
}

/** What a page that shows one tenant says to an operator who has not picked one. */
export function PickTenant({ what }: { what: string }) {
  return <p class="notice">Pick a tenant above to see its {what}: an operator key sees every tenant, one at a time here.</p>;
}
