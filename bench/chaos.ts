/**
 * `npm run chaos`: fault runs on the local stack, at load (bench/README.md, "npm run chaos"). Each
 * scenario sends orders through POST /orders at a fixed rate (a careful client: retries with the same
 * order id), breaks something mid-run, lets the pipeline drain, then reads back what happened from
 * DynamoDB, the Notification and DeadLetterQueue topics and the sends in the runtimes' logs. The nine
 * fault scenarios and the five of injected AWS errors are data (lib/chaos-scenarios.ts), run by
 * lib/chaos-run.ts's `runScenario`. Exits 1 when a scenario fails.
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
import { DEFAULT_CRASH_KINDS, list } from './lib/chaos-faults.ts';
import { DEFAULT_CANCEL_SHARE, runScenario, type ScenarioResult } from './lib/chaos-run.ts';
import { flashSale, type Scenario, scenarios } from './lib/chaos-scenarios.ts';
import { onStack, resultsDir, table, writeJson } from './lib/report.ts';
import type { Log } from './lib/stack.ts';

export type { ScenarioResult } from './lib/chaos-run.ts';

const DEFAULTS = { orders: 1_000, rate: 20 };
const flashSaleDefaults = flashSale.defaults;

const usage = `usage: npm run chaos -- [--scenario <name>[,<name>...]|all] [--orders N] [--rate R] [--cancel-share S] [--out file]
  --scenario   ${Object.keys(scenarios).join(', ')} (default all)
  --orders N   orders per scenario (default ${DEFAULTS.orders}; flash-sale ${flashSaleDefaults.orders}, a quarter of them in stock)
  --cancel-share S  runtime-kill-cancel: share of the accepted orders cancelled, 0-1 (default ${DEFAULT_CANCEL_SHARE})
  --crash-kinds K   crash-poison: exit, oom, timeout, comma-separated (default ${DEFAULT_CRASH_KINDS.join(',')})
  --rate R     orders/s sent (default ${DEFAULTS.rate}; flash-sale ${flashSaleDefaults.rate})
  --stall-timeout S  give up draining after S s without progress (default 90)
  --out file   results JSON (default bench/results/chaos.json)`;

/** A row of the report: a scenario's result, or what is known of one that was skipped or broke. */
type Row = Partial<ScenarioResult> & Pick<ScenarioResult, 'scenario' | 'pass' | 'failures' | 'events'>;

const outcome = (r: Row) => (r.skipped ? 'skipped' : r.pass ? 'PASS' : 'FAIL');

/** The results table: a column per [header, cell of a scenario's result]; '-' where there is none. */
const columns: [string, (r: Row) => string | number | undefined][] = [
  ['scenario', (r) => r.scenario],
  ['sent', (r) => r.sent],
  ['accepted', (r) => r.accepted],
  ['accepted/s', (r) => r.acceptedPerSec],
  ['shipped', (r) => r.completed],
  ['cancelled (202/409)', ({ cancellations: c }) => c && `${c.cancelled} (${c.accepted}/${c.refused})`],
  ['lost', (r) => r.lost],
  ['dup. notif.', (r) => r.duplicateNotifications],
  ['repeated sends', (r) => r.repeatedSends],
  ['missing notif.', (r) => r.missingNotifications],
  ['double-reserved', (r) => r.doubleReservedUnits],
  ['stock mismatches', (r) => r.stockMismatches],
  ['poison in DLQ', ({ poison: p }) => p && `${p.inDeadLetterQueue}/${p.injected}`],
  ['DLQ by reason', (r) => list(r.deadLettered ?? {}, '-')],
  [
    'faults injected',
    (r) => r.attempts && Object.values(r.attempts.injectedByKind).reduce((n, c) => n + c, 0),
  ],
  ['DynamoDB req./order', (r) => r.attempts?.dynamodbRequestsPerOrder],
  ['duration s', (r) => r.durationS],
  ['result', outcome],
];

const resultsTable = (results: readonly Row[]): string =>
  table([
    columns.map(([header]) => header),
    ...results.map((r) => columns.map(([, cell]) => cell(r) ?? '-')),
  ]);

const flags = flagsOf({
  string: ['scenario', 'orders', 'rate', 'out', 'stall-timeout', 'cancel-share', 'crash-kinds'],
});

/** The run's settings from its flags; a UsageError for an unknown scenario or a bad value. */
function settingsOf({ values }: CommandLine<typeof flags, false>) {
  const wanted = values.scenario ?? 'all';
  const names = wanted === 'all' ? Object.keys(scenarios) : wanted.split(',').map((s) => s.trim());
  const unknown = names.filter((s) => !Object.hasOwn(scenarios, s));
  if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')}`);
  const cancelShare = Number(values['cancel-share'] ?? DEFAULT_CANCEL_SHARE);
  if (!(cancelShare >= 0 && cancelShare <= 1))
    throw new UsageError(`--cancel-share must be a share from 0 to 1, got "${values['cancel-share']}"`);
  const crashKinds = (values['crash-kinds'] ?? DEFAULT_CRASH_KINDS.join(',')).split(',') as CrashKind[];
  const badKind = crashKinds.find((kind) => !(CRASH_KINDS as readonly string[]).includes(kind));
  if (badKind !== undefined)
    throw new UsageError(`unknown crash kind "${badKind}" (${CRASH_KINDS.join(', ')})`);
  // A scenario may have defaults of its own (the flash sale: 2,000 at 100/s); --orders / --rate win.
  const sizeOf = ({ defaults = DEFAULTS }: Pick<Scenario, 'defaults'>) => ({
    orders: Math.round(positiveNumber('orders', values.orders, defaults.orders)),
    rate: positiveNumber('rate', values.rate, defaults.rate),
  });
  return {
    names,
    sizeOf,
    stallMs: positiveNumber('stall-timeout', values['stall-timeout'], 90) * 1000,
    cancelShare,
    crashKinds,
    out: values.out ?? join(resultsDir, 'chaos.json'),
  };
}

/** Every scenario named, one after the other on one stack; a scenario that breaks fails, the next ones run. */
function runAll(settings: ReturnType<typeof settingsOf>, log: Log) {
  const { names, sizeOf, stallMs, cancelShare, crashKinds } = settings;
  return onStack('chaos', log, async (stack) => {
    const results: Row[] = [];
    for (const name of names) {
      const scenario = scenarios[name] as Scenario;
      const size = sizeOf(scenario);
      log(`[chaos] ${name}: ${size.orders} orders at ${size.rate}/s`);
      const options = { ...size, stallMs, log, cancelShare, crashKinds };
      const skipped = scenario.cannotRun?.(stack);
      const result: Row = skipped
        ? { scenario: name, pass: true, skipped, failures: [], events: [] }
        : await runScenario(scenario, stack, options).catch((error: unknown) => ({
            scenario: name,
            pass: false,
            failures: [`the scenario could not finish: ${(error as Error).message ?? error}`],
            events: [],
          }));
      results.push(result);
      log(`[chaos] ${name}: ${outcome(result)}`);
      for (const failure of result.failures) log(`[chaos] ${name}: FAIL: ${failure}`);
    }
    return {
      ...sizeOf({}),
      ...(names.includes('runtime-kill-cancel') ? { cancelShare } : {}),
      ...(names.includes('crash-poison') ? { crashKinds } : {}),
      pass: results.every((r) => r.pass),
      scenarios: results,
    };
  });
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const command = readCommandLine({ usage, options: flags }, settingsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  try {
    const result = await runAll(command.settings, log);
    console.log(`\n${resultsTable(result.scenarios)}`);
    for (const r of result.scenarios) {
      for (const line of r.skipped ? [r.skipped] : [...r.events, ...r.failures.map((f) => `FAIL: ${f}`)]) {
        console.log(`  ${r.scenario}: ${line}`);
      }
    }
    const { start, end } = result.machine.loadAverage;
    console.log(`\nload average (1, 5, 15 min): ${start.join(' ')} → ${end?.join(' ')}`);
    console.log(`written: ${await writeJson(command.settings.out, result)}`);
    return result.pass ? 0 : 1;
  } catch (error) {
    log(error instanceof InfraError ? error.message : `[chaos] failed: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await stopAllManaged();
  }
}

if (import.meta.main) process.exit(await main());
