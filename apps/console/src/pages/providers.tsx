import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Badge, ErrorBox, Json, Loading, Section, Time } from '../components/common.tsx';
import { TimeChart } from '../components/chart.tsx';
import { PickTenant } from '../components/tenant-picker.tsx';
import { useLoad, useTenant } from '../hooks.ts';

interface Provider {
  readonly id: string;
  readonly kind: string;
  readonly enabled: boolean;
  readonly endpoint: string;
  readonly rate_per_second: number;
  readonly concurrency: number;
  readonly max_batch_size: number;
  readonly definition: { readonly source: string; readonly name: string; readonly version: number | null } | null;
  readonly health: string;
  readonly circuits: readonly { readonly replica: string; readonly state: string }[];
  readonly token_bucket: { readonly tokens: number; readonly last_take_at: string } | null;
}

interface ProviderList {
  readonly replicas: number;
  readonly metrics: { readonly available: boolean; readonly reason?: string };
  readonly providers: readonly Provider[];
}

interface Metrics {
  readonly available: boolean;
  readonly reason?: string;
  readonly rate_per_second?: number;
  readonly step_seconds?: number;
  readonly from?: string;
  readonly to?: string;
  readonly series: readonly { readonly class: string; readonly points: readonly [number, number][] }[];
}

interface Definitions {
  readonly definitions: readonly { readonly name: string; readonly version: number; readonly created_by: string; readonly created_at: string }[];
}

interface DefinitionVersions {
  readonly versions: readonly { readonly version: number; readonly created_by: string; readonly created_at: string }[];
}

const WINDOWS = [15, 60, 360, 1440];

/**
 * The tenant's providers: health from the dispatchers' heartbeats (each replica's circuit)
 * and the shared token bucket in Redis; for one provider, its outcome classes over time
 * and how much of its rate it uses, from Prometheus; the stored definitions and their versions.
 */
export function ProvidersPage() {
  const { tenant } = useTenant();
  const list = useLoad(tenant === undefined ? null : () => api.get<ProviderList>('/providers', { tenant }), [tenant]);
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  if (tenant === undefined) return <PickTenant what="providers" />;
  const providers = list.data?.providers ?? [];
  const current = chosen ?? providers[0]?.id;
  return (
    <>
      <Section title="Providers" actions={<button type="button" onClick={list.reload}>Refresh</button>}>
        <ErrorBox error={list.error} />
        <Loading when={list.loading && list.data === undefined} />
        {list.data !== undefined && (
          <p class="muted">
            {list.data.replicas} dispatcher replica{list.data.replicas === 1 ? '' : 's'} reporting. Circuits are per replica; the token bucket is shared.
          </p>
        )}
        {providers.length > 0 && (
          <table class="grid providers">
            <thead>
              <tr>
                <th>provider</th>
                <th>kind</th>
                <th>health</th>
                <th>circuits</th>
                <th>rate limit</th>
                <th>tokens left</th>
                <th>definition</th>
              </tr>
            </thead>
            <tbody>
              {providers.map((p) => (
                <tr key={p.id} class={p.id === current ? 'selected' : ''}>
                  <td>
                    <button type="button" class="link" onClick={() => setChosen(p.id)}>
                      {p.id}
                    </button>
                  </td>
                  <td>{p.kind}</td>
                  <td>
                    <Badge value={p.health} />
                  </td>
                  <td>
                    {p.circuits.length === 0 ? (
                      <span class="muted">none reported</span>
                    ) : (
                      p.circuits.map((c) => (
                        <span key={c.replica} title={c.replica}>
                          <Badge value={c.state} />{' '}
                        </span>
                      ))
                    )}
                  </td>
                  <td>{p.rate_per_second}/s</td>
                  <td>{p.token_bucket === null ? <span class="muted">full (idle)</span> : p.token_bucket.tokens.toFixed(2)}</td>
                  <td>{p.definition === null ? 'adapter' : `${p.definition.source} ${p.definition.name}${p.definition.version === null ? '' : ` v${p.definition.version}`}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {list.data !== undefined && providers.length === 0 && <p class="muted">No providers configured.</p>}
      </Section>
      {current !== undefined && <ProviderMetrics tenant={tenant} provider={providers.find((p) => p.id === current)} />}
      <DefinitionsSection tenant={tenant} />
    </>
  );
}

function ProviderMetrics({ tenant, provider }: { tenant: string; provider: Provider | undefined }) {
  const [minutes, setMinutes] = useState(15);
  const id = provider?.id;
  const metrics = useLoad(id === undefined ? null : () => api.get<Metrics>(`/providers/${encodeURIComponent(id)}/metrics`, { tenant, minutes }), [tenant, id, minutes]);
  if (provider === undefined) return null;
  const series = metrics.data?.series ?? [];
  const latest = (cls: string) => series.find((s) => s.class === cls)?.points.at(-1)?.[1] ?? 0;
  const sent = latest('accepted') + latest('rejected') + latest('error');
  const use = provider.rate_per_second > 0 ? sent / provider.rate_per_second : 0;
  return (
    <Section
      title={`${provider.id}: outcome classes over time`}
      actions={
        <select aria-label="window" value={minutes} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
          {WINDOWS.map((w) => (
            <option key={w} value={w}>
              last {w < 60 ? `${w} min` : `${w / 60} h`}
            </option>
          ))}
        </select>
      }
    >
      <ErrorBox error={metrics.error} />
      <Loading when={metrics.loading && metrics.data === undefined} />
      {metrics.data !== undefined && !metrics.data.available && <p class="notice">{metrics.data.reason}</p>}
      {metrics.data?.available === true && (
        <>
          <div class="meter" aria-label="rate limit use">
            <span>
              Rate-limit use: {sent.toFixed(1)}/s of {provider.rate_per_second}/s ({(use * 100).toFixed(0)} %)
            </span>
            <div class="bar">
              <div class={use > 0.9 ? 'fill bad' : use > 0.7 ? 'fill warn' : 'fill'} style={{ width: `${Math.min(100, use * 100)}%` }} />
            </div>
          </div>
          <TimeChart
            unit="per second"
            {...(metrics.data.from === undefined || metrics.data.to === undefined ? {} : { from: Date.parse(metrics.data.from), to: Date.parse(metrics.data.to) })}
            series={series.filter((s) => s.points.length > 0).map((s) => ({ label: s.class, points: s.points }))} />
          {series.every((s) => s.points.length === 0) && <p class="muted">No samples in this window: nothing was sent through {provider.id}, or Prometheus does not scrape its dispatchers.</p>}
        </>
      )}
    </Section>
  );
}

function DefinitionsSection({ tenant }: { tenant: string }) {
  const definitions = useLoad(() => api.get<Definitions>('/provider-definitions', { tenant }), [tenant]);
  const [name, setName] = useState<string | undefined>(undefined);
  const [version, setVersion] = useState<number | undefined>(undefined);
  const versions = useLoad(name === undefined ? null : () => api.get<DefinitionVersions>(`/provider-definitions/${encodeURIComponent(name)}/versions`, { tenant }), [tenant, name]);
  const shown = useLoad(
    name === undefined ? null : () => api.get<{ version: number; definition: unknown }>(`/provider-definitions/${encodeURIComponent(name)}`, { tenant, version }),
    [tenant, name, version],
  );
  return (
    <Section title="Provider definitions">
      <ErrorBox error={definitions.error} />
      {definitions.data !== undefined && definitions.data.definitions.length === 0 && (
        <p class="muted">No stored definitions: the providers use the shipped definitions or their adapters.</p>
      )}
      {(definitions.data?.definitions.length ?? 0) > 0 && (
        <div class="split">
          <table class="grid">
            <thead>
              <tr>
                <th>definition</th>
                <th>newest</th>
                <th>saved by</th>
                <th>saved</th>
              </tr>
            </thead>
            <tbody>
              {definitions.data?.definitions.map((d) => (
                <tr key={d.name} class={d.name === name ? 'selected' : ''}>
                  <td>
                    <button
                      type="button"
                      class="link"
                      onClick={() => {
                        setName(d.name);
                        setVersion(undefined);
                      }}
                    >
                      {d.name}
                    </button>
                  </td>
                  <td>v{d.version}</td>
                  <td>{d.created_by}</td>
                  <td>
                    <Time at={d.created_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {name !== undefined && (
            <div>
              <p>
                Versions:{' '}
                {versions.data?.versions.map((v) => (
                  <button type="button" key={v.version} class={v.version === (version ?? shown.data?.version) ? 'chip active' : 'chip'} onClick={() => setVersion(v.version)} title={`${v.created_by}, ${v.created_at}`}>
                    v{v.version}
                  </button>
                ))}
              </p>
              <ErrorBox error={shown.error} />
              {shown.data !== undefined && <Json value={shown.data.definition} />}
            </div>
          )}
        </div>
      )}
    </Section>
  );
}
