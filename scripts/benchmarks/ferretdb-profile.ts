// A Go CPU profile of FerretDB (its debug listener serves net/http/pprof) over a
// scenario's measured phase, summarised with `go tool pprof -top`. FerretDB is shared by
// everyone using the stack, so the profile also holds their queries, if any ran.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

export interface GoProfileSummary {
  readonly file: string;
  /** Share of FerretDB's sampled CPU under each wire command handler (MsgInsert, MsgUpdate, …). */
  readonly commands: Readonly<Record<string, number>>;
  /** Share spent parsing stored JSON inside SQLite (json_extract over rows it scans). */
  readonly sqliteJsonParse: number | undefined;
  /** `go tool pprof -top` lines, by own time and by cumulative time. */
  readonly flat: readonly string[];
  readonly cumulative: readonly string[];
}

function goBinary(): string | undefined {
  for (const candidate of ['/usr/local/go/bin/go', '/usr/bin/go'])
    if (existsSync(candidate)) return candidate;
  return undefined;
}

/** Starts a `seconds`-long profile now; resolves with its summary (undefined when it could not be taken). */
export async function profileFerretDb(
  debugUrl: string,
  seconds: number,
  file: string,
): Promise<GoProfileSummary | undefined> {
  try {
    const response = await fetch(
      `${debugUrl}/debug/pprof/profile?seconds=${Math.max(1, Math.round(seconds))}`,
    );
    if (!response.ok) return undefined;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, Buffer.from(await response.arrayBuffer()));
    const go = goBinary();
    if (go === undefined)
      return { file, commands: {}, sqliteJsonParse: undefined, flat: [], cumulative: [] };
    const top = async (extra: string[], count = 25) => {
      const { stdout } = await promisify(execFile)(
        go,
        ['tool', 'pprof', '-top', `-nodecount=${count}`, ...extra, file],
        { timeout: 60_000 },
      );
      return stdout.split('\n').filter((line) => /^\s+[\d.]+(m?s)?\s+[\d.]+%/.test(line));
    };
    const all = await top(['-cum'], 1000);
    const cumShare = (line: string) =>
      Number(/([\d.]+)%\s+\S+$/.exec(line.replace(/ \(inline\)$/, ''))?.[1] ?? 'NaN') / 100;
    const commands: Record<string, number> = {};
    for (const line of all) {
      const command = /internal\/handler\.\(\*Handler\)\.(Msg\w+)$/.exec(line.trim());
      if (command?.[1] !== undefined) commands[command[1]] = cumShare(line);
    }
    const json = all.find((line) =>
      line.trim().endsWith('modernc.org/sqlite/lib._jsonParseFuncArg'),
    );
    return {
      file,
      commands,
      sqliteJsonParse: json === undefined ? undefined : cumShare(json),
      flat: await top([]),
      cumulative: all.slice(0, 25),
    };
  } catch {
    return undefined;
  }
}
