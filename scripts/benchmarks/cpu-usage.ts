// Where the machine's CPU went during a scenario: each process of interest (ingest,
// MongoDB, Redis, Kafka, the load generator in this process) and the whole machine,
// from /proc. On a 2-core machine this says which tier is saturated, and how much of the
// machine other people's work took meanwhile. Linux only.
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second (`getconf CLK_TCK`): 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

/** CPU used, in cores (1.0 = one core busy the whole time). */
export type CpuShare = Readonly<Record<string, number>>;

export interface CpuReport {
  /** Per named process, and `bench` for this process (the load generator). */
  readonly processes: CpuShare;
  /** Busy cores of the whole machine (user + system + irq + steal). */
  readonly machineBusy: number;
  /** Machine busy minus the processes above: other work on the machine. */
  readonly other: number;
  readonly cores: number;
}

function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces; fields resume after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number; cores: number } {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const values = (lines[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    values;
  const cores = lines.filter((line) => /^cpu\d+ /.test(line)).length;
  return {
    busy: user + nice + system + irq + softirq + steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    cores,
  };
}

/** Starts measuring on construction; `read` gives the shares since then. */
export class CpuMeter {
  private readonly pids: Readonly<Record<string, number | undefined>>;
  private readonly startedAt = process.hrtime.bigint();
  private readonly startSelf = process.cpuUsage();
  private readonly startTicks: Record<string, number | undefined>;
  private readonly startMachine = machineTicks();

  constructor(pids: Readonly<Record<string, number | undefined>>) {
    this.pids = pids;
    this.startTicks = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [
        name,
        pid === undefined ? undefined : processTicks(pid),
      ]),
    );
  }

  read(): CpuReport {
    const seconds = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const self = process.cpuUsage(this.startSelf);
    const processes: Record<string, number> = { bench: (self.user + self.system) / 1e6 / seconds };
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.startTicks[name];
      const after = pid === undefined ? undefined : processTicks(pid);
      if (before !== undefined && after !== undefined)
        processes[name] = (after - before) / TICKS_PER_SECOND / seconds;
    }
    const machine = machineTicks();
    const total = machine.total - this.startMachine.total;
    const machineBusy =
      total > 0 ? ((machine.busy - this.startMachine.busy) / total) * machine.cores : 0;
    const ours = Object.values(processes).reduce((sum, share) => sum + share, 0);
    return { processes, machineBusy, other: Math.max(0, machineBusy - ours), cores: machine.cores };
  }
}

/** `ingest 0.98, mongodb 0.61, …` as percentages of one core, biggest first. */
export function formatCpu(report: CpuReport): string {
  const parts = Object.entries(report.processes)
    .sort(([, a], [, b]) => b - a)
    .map(([name, share]) => `${name} ${Math.round(share * 100)}%`);
  parts.push(`other ${Math.round(report.other * 100)}%`);
  return `cpu (100% = 1 core of ${report.cores}): ${parts.join(', ')}; machine ${Math.round(report.machineBusy * 100)}%`;
}
