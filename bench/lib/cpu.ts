/**
 * CPU time of the stack's processes, read from `/proc/<pid>/stat` (utime + stime, in clock ticks) before
 * and after a measured segment: steadier than wall time on a shared machine. A process's figure covers all
 * of its threads and its descendants (the runtime's execution environments: those alive at a sample in its
 * tree, those ended and reaped in its cutime + cstime).
 * Linux only: elsewhere every figure is absent.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

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

/** [ppid, utime + stime + cutime + cstime in ticks] of a pid, or undefined if it is gone. */
function statOf(pid: number): [number, number] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (2nd field) is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus cutime + cstime: the children it has reaped (an execution environment that ended
    // between two samples is counted there, its time before the first sample in that sample's tree).
    return [
      Number(fields[1]),
      Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
    ];
  } catch {
    return undefined;
  }
}

function cpuMsOf(pids: readonly number[]): Map<number, number> {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return new Map();
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = statOf(pid);
    if (!stat) continue;
    parent.set(pid, stat[0]);
    ticks.set(pid, stat[1]);
  }
  const roots = new Set(pids);
  const rootOf = (pid: number): number | undefined => {
    for (let at: number | undefined = pid, hops = 0; at && hops < 64; at = parent.get(at), hops += 1)
      if (roots.has(at)) return at;
    return undefined;
  };
  const result = new Map<number, number>();
  for (const [pid, t] of ticks) {
    const root = rootOf(pid);
    if (root !== undefined) result.set(root, (result.get(root) ?? 0) + (t * 1000) / ticksPerSecond);
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
