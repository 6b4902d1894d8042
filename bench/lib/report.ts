/** Machine facts, tables on stdout and JSON results. */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { projectRoot } from '../../local/python/venv.ts';

export const resultsDir = join(projectRoot, 'bench', 'results');

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  node: string;
  platform: string;
  kafkaVersion: string;
  /** 1, 5 and 15 minute load averages when the run started and ended. */
  loadAverage: { start: number[]; end?: number[] };
}

export const currentLoad = () => loadavg().map((n) => Math.round(n * 100) / 100);

export function machineInfo(kafkaVersion: string): MachineInfo {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kafkaVersion,
    loadAverage: { start: currentLoad() },
  };
}

/** The command line that produced a result, as the user would type it. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
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
