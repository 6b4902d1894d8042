/** Machine facts, the stack a bench or chaos run measures on, tables on stdout and JSON results. */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { projectRoot } from '../../local/python/venv.ts';
import { type BenchStack, type Log, startBenchStack } from './stack.ts';

export const resultsDir = join(projectRoot, 'bench', 'results');

export const currentLoad = () => loadavg().map((n) => Math.round(n * 100) / 100);

export function machineInfo(kafkaVersion: string) {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kafkaVersion,
    // 1, 5 and 15 minute load averages when the run started and ended.
    loadAverage: { start: currentLoad(), end: undefined as number[] | undefined },
  };
}

/** The command line that produced a result, as the user would type it. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

/** The commit the figures come from (and whether the work tree had changes). */
function gitCommit(): { commit: string; dirty: boolean } {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return {
      commit: git('rev-parse', '--short', 'HEAD').trim(),
      dirty: git('status', '--porcelain').trim() !== '',
    };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

/** Starts the stack, runs `body` on it, stops it, and says where the figures come from. */
export async function onStack<T extends object>(
  script: string,
  log: Log,
  body: (stack: BenchStack) => Promise<T>,
) {
  const startedAt = new Date().toISOString();
  const stack = await startBenchStack(log);
  const machine = machineInfo(stack.kafkaVersion);
  try {
    const result = await body(stack);
    machine.loadAverage.end = currentLoad();
    const finishedAt = new Date().toISOString();
    return { command: commandLine(script), startedAt, finishedAt, commit: gitCommit(), machine, ...result };
  } finally {
    await stack.stop();
  }
}

export async function writeJson(file: string, value: unknown): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
  return relative(process.cwd(), file) || file;
}

/** A plain text table: the first row is the header, numbers are right-aligned. */
export function table(rows: (string | number)[][]): string {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = text[0]?.map((_, col) => Math.max(...text.map((row) => (row[col] ?? '').length))) ?? [];
  const numeric = rows[1]?.map((cell) => typeof cell === 'number') ?? [];
  const render = (row: string[]) =>
    row
      .map((cell, col) => (numeric[col] ? cell.padStart(widths[col] ?? 0) : cell.padEnd(widths[col] ?? 0)))
      .join('  ');
  const [header, ...body] = text;
  return [render(header ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(render)].join('\n');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const abs = Math.abs(n);
  return n.toLocaleString('en-US', {
    maximumFractionDigits: abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 4,
  });
}
