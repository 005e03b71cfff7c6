import { readdir, readFile } from 'node:fs/promises';
import type { Sql } from 'postgres';

const migrationsDir = new URL('../migrations/', import.meta.url);

// Any fixed number: every process that migrates takes the same advisory lock, so two
// replicas starting at once apply each migration exactly once.
const MIGRATION_LOCK = 748_221_901;

/** Applies the migrations not yet applied, in file-name order; returns their names. */
export async function migrate(sql: Sql): Promise<string[]> {
  const files = (await readdir(migrationsDir)).filter((f) => f.endsWith('.sql')).sort();
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const done = new Set((await tx<{ name: string }[]>`SELECT name FROM schema_migrations`).map((r) => r.name));
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      await tx.unsafe(await readFile(new URL(file, migrationsDir), 'utf8'));
      await tx`INSERT INTO schema_migrations (name) VALUES (${file})`;
      applied.push(file);
    }
    return applied;
  });
}
