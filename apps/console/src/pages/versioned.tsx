import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Confirm, ErrorBox, Json, Loading, Section, Time } from '../components/common.tsx';
import { SideBySide } from '../components/side-by-side.tsx';
import { PickTenant } from '../components/tenant-picker.tsx';
import { useHref, useLoad, useTenant } from '../hooks.ts';
import type { VersionedResource } from '../resources.ts';

type Item = Readonly<Record<string, unknown>> & { readonly name: string; readonly version: number; readonly created_at: string };
interface Stored extends Item {
  readonly definition: unknown;
}
interface Versions {
  readonly name: string;
  readonly versions: readonly (Readonly<Record<string, unknown>> & { readonly version: number; readonly created_at: string })[];
}
interface Diff {
  readonly from: number;
  readonly to: number;
  readonly changes: readonly { readonly path: string; readonly before?: unknown; readonly after?: unknown }[];
}

/** Every item of a versioned resource of the tenant, each at its newest version. */
export function VersionedListPage({ resource }: { resource: VersionedResource }) {
  const { tenant } = useTenant();
  const href = useHref();
  const list = useLoad(tenant === undefined ? null : () => api.get<Record<string, Item[]>>(`/${resource.path}`, { tenant }), [tenant, resource.path]);
  if (tenant === undefined) return <PickTenant what={resource.title.toLowerCase()} />;
  const items = list.data?.[resource.path] ?? [];
  return (
    <Section title={resource.title}>
      <ErrorBox error={list.error} />
      <Loading when={list.loading && list.data === undefined} />
      {list.data !== undefined && items.length === 0 && <p class="muted">No {resource.title.toLowerCase()} yet.</p>}
      {items.length > 0 && (
        <table class="grid">
          <thead>
            <tr>
              <th>name</th>
              <th>newest version</th>
              {resource.columns.map((c) => (
                <th key={c.label}>{c.label}</th>
              ))}
              <th>saved</th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.name}>
                <td>
                  <a href={href(`/${resource.path}/${encodeURIComponent(item.name)}`)}>{item.name}</a>
                </td>
                <td>v{item.version}</td>
                {resource.columns.map((c) => (
                  <td key={c.label}>{c.value(item)}</td>
                ))}
                <td>
                  <Time at={item.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/**
 * One item: its versions, two of them side by side with the API's list of changes, and
 * a rollback of any older version (saved again as the newest) after a confirmation
 * that shows what the rollback changes.
 */
export function VersionedPage({ resource, name }: { resource: VersionedResource; name: string }) {
  const { tenant } = useTenant();
  const href = useHref();
  const base = `/${resource.path}/${encodeURIComponent(name)}`;
  const versions = useLoad(tenant === undefined ? null : () => api.get<Versions>(`${base}/versions`, { tenant }), [tenant, base]);
  const newest = versions.data?.versions[0]?.version;
  const [picked, setPicked] = useState<{ from?: number | undefined; to?: number | undefined }>({});
  const to = picked.to ?? newest;
  const from = picked.from ?? (newest === undefined ? undefined : Math.max(1, newest - 1));
  const pair = useLoad(
    tenant === undefined || from === undefined || to === undefined
      ? null
      : () =>
          Promise.all([
            api.get<Stored>(base, { tenant, version: from }),
            api.get<Stored>(base, { tenant, version: to }),
            api.get<Diff>(`${base}/diff`, { tenant, from, to }),
          ]),
    [tenant, base, from, to],
  );
  const [rollback, setRollback] = useState<number | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<Error | undefined>(undefined);
  const preview = useLoad(
    rollback === undefined || newest === undefined || tenant === undefined ? null : () => api.get<Diff>(`${base}/diff`, { tenant, from: newest, to: rollback }),
    [rollback, newest, tenant, base],
  );
  if (tenant === undefined) return <PickTenant what={resource.title.toLowerCase()} />;

  const confirmRollback = () => {
    if (rollback === undefined) return;
    setBusy(true);
    api.post<Stored>(`${base}/rollback`, { to_version: rollback }, { tenant }).then(
      (saved) => {
        setBusy(false);
        setRollback(undefined);
        setDone(`Rolled back: version ${rollback} saved again as version ${saved.version}.`);
        setPicked({ from: rollback, to: saved.version });
        versions.reload();
      },
      (reason: unknown) => {
        setBusy(false);
        setRollback(undefined);
        setActionError(reason instanceof Error ? reason : new Error(String(reason)));
      },
    );
  };

  return (
    <>
      <p class="crumbs">
        <a href={href(`/${resource.path}`)}>{resource.title}</a> / <strong>{name}</strong>
      </p>
      {done !== undefined && (
        <p class="notice good" role="status">
          {done}
        </p>
      )}
      <ErrorBox error={actionError} />
      <Section title={`Versions of ${resource.singular} ${name}`}>
        <ErrorBox error={versions.error} />
        <Loading when={versions.loading && versions.data === undefined} />
        {versions.data !== undefined && (
          <table class="grid versions">
            <thead>
              <tr>
                <th>version</th>
                {resource.versionColumns.map((c) => (
                  <th key={c.label}>{c.label}</th>
                ))}
                <th>saved</th>
                <th>compare from</th>
                <th>to</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {versions.data.versions.map((v) => (
                <tr key={v.version}>
                  <td>
                    v{v.version}
                    {v.version === newest && <span class="badge good">newest</span>}
                  </td>
                  {resource.versionColumns.map((c) => (
                    <td key={c.label}>{c.value(v)}</td>
                  ))}
                  <td>
                    <Time at={v.created_at} />
                  </td>
                  <td>
                    <input type="radio" name="from" aria-label={`compare from version ${v.version}`} checked={from === v.version} onChange={() => setPicked({ from: v.version, to })} />
                  </td>
                  <td>
                    <input type="radio" name="to" aria-label={`compare to version ${v.version}`} checked={to === v.version} onChange={() => setPicked({ from, to: v.version })} />
                  </td>
                  <td>
                    {v.version !== newest && (
                      <button type="button" onClick={() => setRollback(v.version)}>
                        Roll back to v{v.version}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      {pair.data !== undefined && (
        <Section title={`v${pair.data[0].version} → v${pair.data[1].version}`}>
          <ErrorBox error={pair.error} />
          <Changes diff={pair.data[2]} />
          <SideBySide before={pair.data[0].definition} after={pair.data[1].definition} leftTitle={`version ${pair.data[0].version}`} rightTitle={`version ${pair.data[1].version}`} />
        </Section>
      )}
      <ErrorBox error={pair.error} />
      {rollback !== undefined && newest !== undefined && (
        <Confirm
          title={`Roll back ${resource.singular} ${name} to version ${rollback}?`}
          confirmLabel={`Roll back to v${rollback}`}
          busy={busy}
          onCancel={() => setRollback(undefined)}
          onConfirm={confirmRollback}
        >
          <p>
            Version {rollback} is saved again as version {newest + 1}; no version is rewritten. New messages use it at once; messages pinned to an older version keep
            theirs. These are the changes from the newest version (v{newest}):
          </p>
          <ErrorBox error={preview.error} />
          {preview.data === undefined ? <Loading when={true} /> : <Changes diff={preview.data} />}
        </Confirm>
      )}
    </>
  );
}

function Changes({ diff }: { diff: Diff }) {
  if (diff.changes.length === 0) return <p class="muted">No changes: the two versions are the same.</p>;
  return (
    <table class="grid changes">
      <thead>
        <tr>
          <th>where</th>
          <th>v{diff.from}</th>
          <th>v{diff.to}</th>
        </tr>
      </thead>
      <tbody>
        {diff.changes.map((change) => (
          <tr key={change.path}>
            <td>
              <code>{change.path || '/'}</code>
            </td>
            <td class="del">{'before' in change ? <Json value={change.before} /> : <span class="muted">(absent)</span>}</td>
            <td class="ins">{'after' in change ? <Json value={change.after} /> : <span class="muted">(absent)</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
