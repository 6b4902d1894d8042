/**
 * CPU time of the stack's processes, read from `/proc/<pid>/stat` (utime + stime, in clock ticks) before
 * and after a measured segment: steadier than wall time on a shared machine. A process's figure covers all
 * of its threads and its descendants (the runtime's execution environments: those alive at a sample in its
 * tree, those ended and reaped in its cutime + cstime).
 * Linux only: elsewhere every figure is absent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** A name (`runtime`, `kafka`, ...) → pid. */
export type Processes = Record<string, number>;

export type CpuSample = ReturnType<typeof sampleCpu>;
export type CpuUsage = ReturnType<typeof cpuUsage>;

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** [ppid, utime + stime + cutime + cstime in ticks] of every process there is. */
function allStats(): Map<number, [number, number]> {
  const stats = new Map<number, [number, number]>();
  // Not Linux: no /proc, no figures.
  const entries = existsSync('/proc') ? readdirSync('/proc') : [];
  for (const pid of entries.map(Number).filter(Number.isInteger)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // The command name (2nd field) is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const field = (index: number) => Number(fields[index]);
    // utime + stime, plus cutime + cstime: the children it has reaped (an execution environment that ended
    // between two samples is counted there, its time before the first sample in that sample's tree).
    stats.set(pid, [field(1), field(11) + field(12) + field(13) + field(14)]);
  }
  return stats;
}

/** CPU ms of `pids` and each one's descendants. */
function cpuMsOf(pids: readonly number[]): Map<number, number> {
  const stats = allStats();
  const roots = new Set(pids);
  const rootOf = (pid: number): number | undefined => {
    for (let at: number | undefined = pid, hops = 0; at && hops < 64; at = stats.get(at)?.[0], hops += 1)
      if (roots.has(at)) return at;
    return undefined;
  };
  const result = new Map<number, number>();
  for (const [pid, [, ticks]] of stats) {
    const root = rootOf(pid);
    if (root !== undefined) result.set(root, (result.get(root) ?? 0) + (ticks * 1000) / ticksPerSecond);
  }
  return result;
}

export function sampleCpu(processes: Processes) {
  const byPid = cpuMsOf(Object.values(processes));
  const usage = process.cpuUsage();
  return {
    at: Date.now(),
    ms: Object.fromEntries(
      Object.entries(processes).flatMap(([name, pid]) => {
        const ms = byPid.get(pid);
        return ms === undefined ? [] : [[name, ms]];
      }),
    ),
    driverMs: (usage.user + usage.system) / 1000,
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Per order between two samples (a process missing from either is left out): CPU ms of each process and
 * their sum, the cores each kept busy (CPU time ÷ wall time), and the bench's own process (sending and
 * tracking the orders, not in the total).
 */
export function cpuUsage(before: CpuSample, after: CpuSample, orders: number) {
  const seconds = (after.at - before.at) / 1000;
  const per = (ms: number) => (orders > 0 ? round2(ms / orders) : 0);
  const perOrderMs: Record<string, number> = {};
  const cores: Record<string, number> = {};
  let total = 0;
  for (const [name, ms] of Object.entries(after.ms)) {
    const start = before.ms[name];
    if (start === undefined) continue;
    perOrderMs[name] = per(ms - start);
    cores[name] = seconds > 0 ? round2((ms - start) / 1000 / seconds) : 0;
    total += ms - start;
  }
  return {
    seconds: round2(seconds),
    perOrderMs,
    totalPerOrderMs: per(total),
    cores,
    driverPerOrderMs: per(after.driverMs - before.driverMs),
  };
}
