import type { RunProgress } from '@commstrat/redrive';
import { SingleBar, Presets } from 'cli-progress';

/** How far a run got; on a terminal a bar, otherwise a plain line every few seconds. */
export type Progress = RunProgress;

/**
 * A bar on stderr when it is a terminal (stdout stays for the summary, so `--json | jq`
 * works), else a line per `intervalMs` for logs and CI. Silent with `--json` on a pipe:
 * scripts read the summary only.
 */
export function createProgress(
  label: string,
  stream: NodeJS.WriteStream,
  options: { readonly quiet: boolean; readonly intervalMs?: number },
): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {value}/{total} {counts}`, stream, hideCursor: true, clearOnComplete: false },
      Presets.shades_classic,
    );
    bar.start(0, 0, { counts: '' });
    let done = 0;
    return {
      tick(counts) {
        done += 1;
        bar.update(done, { counts: describe(counts) });
      },
      setTotal: (total) => bar.setTotal(total),
      stop: () => bar.stop(),
    };
  }
  if (options.quiet) return { tick() {}, setTotal() {}, stop() {} };
  const intervalMs = options.intervalMs ?? 2000;
  let done = 0;
  let total = 0;
  let last = 0;
  let printed = -1;
  let latest: Readonly<Record<string, number>> = {};
  const line = () => {
    printed = done;
    stream.write(`${label}: ${done}/${total} ${describe(latest)}\n`);
  };
  return {
    tick(counts) {
      done += 1;
      latest = counts;
      const now = Date.now();
      if (now - last >= intervalMs) {
        last = now;
        line();
      }
    },
    setTotal: (value) => (total = value),
    // The final count, unless the last line already said it.
    stop: () => {
      if (printed !== done) line();
    },
  };
}

function describe(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .map(([name, count]) => `${name}=${count}`)
    .join(' ');
}
