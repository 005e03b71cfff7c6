// The versioned resources the console shows with the same pages: a list, one item's
// versions, a side-by-side diff of two versions and a rollback with a confirmation.
// Each is served by its admin API's handlers under /console/api/<path>:
//   GET  /<path>                     {<path>: [{name, version, created_at, ...}]}
//   GET  /<path>/:name?version=N     {name, version, created_at, definition}
//   GET  /<path>/:name/versions      {name, versions: [{version, created_at, ...}]}
//   GET  /<path>/:name/diff?from&to  {name, from, to, changes: [{path, before, after}]}
//   POST /<path>/:name/rollback      {to_version} -> 201 the new version
// Strategies and message templates; another resource versioned the same way is one more
// entry here and its routes in apps/ingest/src/console-routes.ts.

export interface Column {
  readonly label: string;
  readonly value: (item: Readonly<Record<string, unknown>>) => string;
}

export interface VersionedResource {
  /** The API path and the page path, e.g. `strategies`. */
  readonly path: string;
  readonly title: string;
  /** One of them, for sentences: "strategy". */
  readonly singular: string;
  /** The columns of the list page besides name and newest version. */
  readonly columns: readonly Column[];
  /** Facts of one version shown in its versions table. */
  readonly versionColumns: readonly Column[];
}

const text = (name: string) => (item: Readonly<Record<string, unknown>>) => {
  const value = item[name];
  if (typeof value === 'boolean') return value ? 'yes' : '';
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
};

/** A template's channels, from the definition its list entry carries: "email, sms". */
const channels = (item: Readonly<Record<string, unknown>>) => {
  const definition = item['definition'];
  if (typeof definition !== 'object' || definition === null || !('channels' in definition)) return '';
  const { channels: byChannel } = definition;
  return typeof byChannel === 'object' && byChannel !== null ? Object.keys(byChannel).sort().join(', ') : '';
};

export const RESOURCES: readonly VersionedResource[] = [
  {
    path: 'strategies',
    title: 'Strategies',
    singular: 'strategy',
    columns: [
      { label: 'channel', value: text('channel') },
      { label: 'default for channel', value: text('default_for_channel') },
    ],
    versionColumns: [
      { label: 'channel', value: text('channel') },
      { label: 'default', value: text('default_for_channel') },
    ],
  },
  {
    path: 'templates',
    title: 'Templates',
    singular: 'template',
    columns: [
      { label: 'channels', value: channels },
      { label: 'saved by', value: text('created_by') },
    ],
    versionColumns: [{ label: 'saved by', value: text('created_by') }],
  },
];
