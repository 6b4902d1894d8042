/**
 * `npm run chaos`: fault runs on the local stack, at load. Each scenario sends orders through POST /orders
 * at a fixed rate (a careful client: retries with the same Idempotency-Key), breaks something mid-run,
 * lets the pipeline drain, then reads back what happened from DynamoDB, the Notification and
 * DeadLetterQueue topics and the sends in the runtimes' logs.
 *
 *   npm run chaos -- [--scenario <name>[,<name>...]|all] [--orders N] [--rate R] [--cancel-share S]
 *
 * - replay:            after a full run, reset every consumer group of the run to where the run began (on
 *                      a broker of its own: the beginning of the topics) and let everything be delivered again;
 * - poison:            inject 1% (at least one per consumed topic) of records that can never succeed;
 * - crash-poison:      inject 1% (at least one per partition) of records that crash their consumer's
 *                      execution environment (exit, out of memory) on the order path's topics;
 * - runtime-join:      a second runtime joins the consumer groups mid-run (partitions move while batches
 *                      are in flight) and leaves again gracefully while it has a batch in flight;
 * - runtime-join-kill: the same, but the second runtime leaves by kill -9;
 * - runtime-kill:      kill -9 the process running the emulators and functions while a batch is in
 *                      flight, start a new one;
 * - runtime-kill-cancel: the same kill, while the driver cancels a share of the accepted orders at random
 *                      moments after their 202 (before inventory, after it, or too late: 409);
 * - dynamodb-kill:     kill -9 the DynamoDB endpoint while batches are in flight, start it again on the
 *                      same port and data dir;
 * - broker-kill:       kill -9 the Kafka broker mid-run, restart it (same data dir, same ports)
 *                      (lib/chaos-scenarios.ts: these nine are data);
 * - ddb-contention, ddb-throttling, ddb-errors, sns-throttling: AWS's errors injected by the runtime's
 *                      fault layer (local/faults/, the profile of the same name) for the whole run;
 * - flash-sale:        2,000 orders at 100/s for one SKU with a quarter of them in stock, conflicts and
 *                      throttling injected on its item (lib/chaos-aws.ts: these five are data;
 *                      lib/chaos-run.ts's `runScenario` runs all fourteen).
 * Pass: every order accepted and shipped (runtime-kill-cancel: shipped, rejected, or cancelled with its
 * stock given back; a 202 cancel always ends cancelled, a 409 only a shipped or rejected order), no
 * stock reserved twice (or lost), every notification a final status implies recorded and sent exactly
 * once and never one of another final status, every notification produced recorded, every poison record
 * in the DeadLetterQueue (crash-poison: each alone, once, and no genuine order's record there). Exits 1
 * when a scenario fails.
 */
import { join } from 'node:path';
import { CRASH_KINDS, type CrashKind } from '../local/faults/crash-poison.ts';
import { InfraError, stopAllManaged } from '../local/infra/index.ts';
import {
  type CommandLine,
  flagsOf,
  positiveNumber,
  readCommandLine,
  UsageError,
} from '../tools/command-line.ts';
import { awsScenarioNames, awsScenarios } from './lib/chaos-aws.ts';
import { DEFAULT_CRASH_KINDS } from './lib/chaos-crash.ts';
import {
  type ChaosScenario,
  DEFAULT_CANCEL_SHARE,
  notRun,
  runScenario,
  type ScenarioResult,
} from './lib/chaos-run.ts';
import { killScenarioNames, killScenarios } from './lib/chaos-scenarios.ts';
import { commandLine, currentLoad, machineInfo, resultsDir, table, writeJson } from './lib/report.ts';
import { type BenchStack, startBenchStack } from './lib/stack.ts';

export type { ChaosOptions, ScenarioResult } from './lib/chaos-run.ts';
export { DEFAULT_CANCEL_SHARE } from './lib/chaos-run.ts';

export const scenarioNames = [...killScenarioNames, ...awsScenarioNames] as const;
export type ScenarioName = (typeof scenarioNames)[number];
/** Every scenario of both families, by name: data, run by lib/chaos-run.ts's `runScenario`. */
const scenarios: Record<ScenarioName, ChaosScenario> = { ...killScenarios, ...awsScenarios };

/** Defaults of `npm run chaos`: per scenario. */
export const DEFAULT_ORDERS = 1_000;
export const DEFAULT_RATE = 20;

/** A scenario that could not finish (its stack broke for good) is a failed one; the next ones still run. */
function crashed(scenario: ScenarioName, error: unknown): ScenarioResult {
  return {
    ...notRun(scenario),
    pass: false,
    failures: [`the scenario could not finish: ${(error as Error).message ?? error}`],
  };
}

const usage = `usage: npm run chaos -- [--scenario <name>[,<name>...]|all] [--orders N] [--rate R] [--cancel-share S] [--out file]
  --scenario   ${scenarioNames.join(', ')} (default all)
  --orders N   orders per scenario (default ${DEFAULT_ORDERS}; flash-sale ${awsScenarios['flash-sale'].defaults.orders}, a quarter of them in stock)
  --cancel-share S  runtime-kill-cancel: share of the accepted orders cancelled, 0-1 (default ${DEFAULT_CANCEL_SHARE})
  --crash-kinds K   crash-poison: exit, oom, timeout, comma-separated (default ${DEFAULT_CRASH_KINDS.join(',')})
  --rate R     orders/s sent (default ${DEFAULT_RATE}; flash-sale ${awsScenarios['flash-sale'].defaults.rate})
  --stall-timeout S  give up draining after S s without progress (default 90)
  --out file   results JSON (default bench/results/chaos.json)`;

const orDash = (n: number | undefined) => n ?? '-';
const injected = (r: ScenarioResult) =>
  r.attempts && Object.values(r.attempts.injectedByKind).reduce((n, c) => n + c, 0);

/** The results table: a column per [header, cell of a scenario's result]. */
const columns: [string, (r: ScenarioResult) => string | number][] = [
  ['scenario', (r) => r.scenario],
  ['sent', (r) => r.sent],
  ['accepted', (r) => r.accepted],
  ['accepted/s', (r) => r.acceptedPerSec],
  ['shipped', (r) => r.completed],
  [
    'cancelled (202/409)',
    ({ cancellations: c }) => (c ? `${c.cancelled} (${c.accepted}/${c.refused})` : '-'),
  ],
  ['lost', (r) => r.lost],
  ['dup. notif.', (r) => r.duplicateNotifications],
  ['repeated sends', (r) => r.repeatedSends],
  ['missing notif.', (r) => r.missingNotifications],
  ['double-reserved', (r) => r.doubleReservedUnits],
  ['stock mismatches', (r) => r.stockMismatches],
  ['poison in DLQ', ({ poison: p }) => (p ? `${p.inDeadLetterQueue}/${p.injected}` : '-')],
  [
    'DLQ by reason',
    (r) =>
      Object.entries(r.deadLettered)
        .map(([reason, n]) => `${reason} ${n}`)
        .join(', ') || '-',
  ],
  ['faults injected', (r) => orDash(injected(r))],
  ['DynamoDB req./order', (r) => orDash(r.attempts?.dynamodbRequestsPerOrder)],
  ['duration s', (r) => r.durationS],
  ['result', (r) => (r.skipped ? 'skipped' : r.pass ? 'PASS' : 'FAIL')],
];

export const resultsTable = (results: readonly ScenarioResult[]): string =>
  table([columns.map(([header]) => header), ...results.map((r) => columns.map(([, cell]) => cell(r)))]);

const flags = flagsOf({
  string: ['scenario', 'orders', 'rate', 'out', 'stall-timeout', 'cancel-share', 'crash-kinds'],
});

/** The run's settings from its flags; a UsageError for an unknown scenario or a bad value. */
function settingsOf({ values }: CommandLine<typeof flags, false>) {
  const wanted = values.scenario ?? 'all';
  const names = wanted === 'all' ? [...scenarioNames] : wanted.split(',').map((s) => s.trim());
  const unknown = names.filter((s) => !Object.hasOwn(scenarios, s));
  if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')}`);
  const cancelShare = Number(values['cancel-share'] ?? DEFAULT_CANCEL_SHARE);
  if (!(cancelShare >= 0 && cancelShare <= 1))
    throw new UsageError(`--cancel-share must be a share from 0 to 1, got "${values['cancel-share']}"`);
  const crashKinds = (values['crash-kinds'] ?? DEFAULT_CRASH_KINDS.join(',')).split(',') as CrashKind[];
  const badKind = crashKinds.find((kind) => !(CRASH_KINDS as readonly string[]).includes(kind));
  if (badKind !== undefined)
    throw new UsageError(`unknown crash kind "${badKind}" (${CRASH_KINDS.join(', ')})`);
  // The data scenarios may have defaults of their own (the flash sale: 2,000 at 100/s); --orders / --rate win.
  const sizeOf = (name: ScenarioName) => {
    const scenario = scenarios[name];
    const defaults = 'defaults' in scenario ? scenario.defaults : undefined;
    return {
      orders: Math.round(positiveNumber('orders', values.orders, defaults?.orders ?? DEFAULT_ORDERS)),
      rate: positiveNumber('rate', values.rate, defaults?.rate ?? DEFAULT_RATE),
    };
  };
  return {
    names: names as ScenarioName[],
    sizeOf,
    orders: Math.round(positiveNumber('orders', values.orders, DEFAULT_ORDERS)),
    rate: positiveNumber('rate', values.rate, DEFAULT_RATE),
    stallMs: positiveNumber('stall-timeout', values['stall-timeout'], 90) * 1000,
    cancelShare,
    crashKinds,
    out: values.out ?? join(resultsDir, 'chaos.json'),
  };
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const command = readCommandLine({ usage, options: flags }, settingsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const { names, sizeOf, orders, rate, stallMs, cancelShare, crashKinds, out } = command.settings;

  // The DynamoDB endpoint keeps a journal of every run's writes and replays it when restarted: a short
  // one (compacted into a snapshot every 2 MiB) keeps the dynamodb-kill restart within the retries.
  process.env.MOTO_JOURNAL_COMPACT_BYTES ??= String(2 * 1024 * 1024);
  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack(log);
    const machine = machineInfo(stack.kafkaVersion);
    const startedAt = new Date().toISOString();
    const results: ScenarioResult[] = [];
    for (const scenario of names) {
      const size = sizeOf(scenario);
      log(`[chaos] ${scenario}: ${size.orders} orders at ${size.rate}/s`);
      const options = { ...size, stallMs, log, cancelShare, crashKinds };
      const result = await runScenario(scenarios[scenario], stack, options).catch((error: unknown) =>
        crashed(scenario, error),
      );
      results.push(result);
      log(`[chaos] ${scenario}: ${result.skipped ? 'skipped' : result.pass ? 'PASS' : 'FAIL'}`);
      for (const failure of result.failures) log(`[chaos] ${scenario}: FAIL: ${failure}`);
    }
    machine.loadAverage.end = currentLoad();
    console.log(`\n${resultsTable(results)}`);
    for (const r of results) {
      for (const line of r.skipped ? [r.skipped] : [...r.events, ...r.failures.map((f) => `FAIL: ${f}`)]) {
        console.log(`  ${r.scenario}: ${line}`);
      }
    }
    console.log(
      `\nload average (1, 5, 15 min): ${machine.loadAverage.start.join(' ')} → ${machine.loadAverage.end.join(' ')}`,
    );
    const file = await writeJson(out, {
      command: commandLine('chaos'),
      startedAt,
      finishedAt: new Date().toISOString(),
      machine,
      orders,
      rate,
      ...(names.includes('runtime-kill-cancel') ? { cancelShare } : {}),
      ...(names.includes('crash-poison') ? { crashKinds } : {}),
      pass: results.every((r) => r.pass),
      scenarios: results,
    });
    console.log(`written: ${file}`);
    return results.every((r) => r.pass) ? 0 : 1;
  } catch (error) {
    log(error instanceof InfraError ? error.message : `[chaos] failed: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await stack?.stop().catch(() => undefined);
    await stopAllManaged();
  }
}

if (import.meta.main) process.exit(await main());
