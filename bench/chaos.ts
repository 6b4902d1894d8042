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
 *                      (lib/chaos-scenarios.ts: these nine are data, run by `runScenario`);
 * - ddb-contention, ddb-throttling, ddb-errors, sns-throttling: AWS's errors injected by the runtime's
 *                      fault layer (local/faults/, the profile of the same name) for the whole run;
 * - flash-sale:        2,000 orders at 100/s for one SKU with a quarter of them in stock, conflicts and
 *                      throttling injected on its item (lib/chaos-aws.ts: these five are data).
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
import { readCommandLine } from '../tools/command-line.ts';
import type { AttemptFigures, FlashSaleFigures } from './lib/chaos-aws.ts';
import { awsScenarioNames, awsScenarios, isAwsScenario } from './lib/chaos-aws.ts';
import { runAwsScenario } from './lib/chaos-aws-run.ts';
import { type CrashPoisonFigures, DEFAULT_CRASH_KINDS } from './lib/chaos-crash.ts';
import type { FaultRun } from './lib/chaos-faults.ts';
import {
  type Cancelling,
  type ChaosOptions,
  cancelling,
  DEFAULT_CANCEL_SHARE,
  type KillRun,
  readBack,
  replayRun,
  sendOrders,
  startKillRun,
  waitForDrain,
  waitUntilIdle,
} from './lib/chaos-run.ts';
import {
  type KillScenarioName,
  type KillVerdict,
  killScenarioNames,
  killScenarios,
} from './lib/chaos-scenarios.ts';
import { commandLine, currentLoad, machineInfo, resultsDir, table, writeJson } from './lib/report.ts';
import { type BenchStack, startBenchStack } from './lib/stack.ts';
import type { NotificationCheck } from './lib/verify.ts';

export type { ChaosOptions } from './lib/chaos-run.ts';
export { DEFAULT_CANCEL_SHARE } from './lib/chaos-run.ts';

export const scenarioNames = [...killScenarioNames, ...awsScenarioNames] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/** Defaults of `npm run chaos`: per scenario. */
export const DEFAULT_ORDERS = 1_000;
export const DEFAULT_RATE = 20;

export interface ScenarioResult {
  scenario: ScenarioName;
  pass: boolean;
  skipped?: string;
  sent: number;
  accepted: number;
  /** Orders accepted per second, from the first POST to the last 202 (the target is `rate`). */
  acceptedPerSec: number;
  /** Accepted orders with their order-shipped notification recorded. */
  completed: number;
  /** Accepted orders that never got there (runtime-kill-cancel: never SHIPPED, REJECTED, or CANCELLED with the stock back). */
  lost: number;
  /** runtime-kill-cancel: the cancels sent and how they were answered. */
  cancellations?: {
    sent: number;
    accepted: number;
    refused: number;
    cancelled: number;
    /** The cancelled orders by the status they were cancelled from (RECEIVED: before inventory). */
    cancelledFrom: Record<string, number>;
    contradictions: number;
  };
  /** POSTs that never got a 202, despite the client's retries. */
  notAccepted: number;
  /** (order, kind) recorded more than once, or sent more than once. */
  duplicateNotifications: number;
  /** Notifications published again after a crash mid-send (same id; subscribers drop the repeat). */
  repeatedSends: number;
  /** (order, kind) a final status implies but not recorded, produced but not recorded, recorded but not sent, or sent but not recorded. */
  missingNotifications: number;
  /** Notifications sent, as the runtimes' logs show them. */
  deliveries: number;
  doubleReservedUnits: number;
  stockMismatches: number;
  poison?: { injected: number; inDeadLetterQueue: number };
  /** crash-poison: where its records ended, and what the runtimes lost to them. */
  crashPoison?: CrashPoisonFigures;
  /** This run's DeadLetterQueue records, by reason. */
  deadLettered: Record<string, number>;
  orderStatuses: Record<string, number>;
  /** A few of the notification problems, for the post-mortem. */
  notificationSamples: Pick<NotificationCheck, 'duplicates' | 'missing'>;
  /** Completions a runtime reported for an order already completed (a record processed again: no harm by itself). */
  completionsReportedAgain: number;
  durationS: number;
  failures: string[];
  events: string[];
  /** Injected AWS errors: the fault profile, the attempts per order and the faults injected. */
  faultProfile?: string;
  attempts?: AttemptFigures;
  /** flash-sale: reservation throughput of the one SKU, attempts per reservation, latencies. */
  flashSale?: FlashSaleFigures;
  /** The first runtime's log. */
  logFile: string;
  /** Every runtime's log (restarts, second runtimes). */
  logFiles: string[];
}

const sample = <T>(items: readonly T[]) => items.slice(0, 5);

function notRun(scenario: ScenarioName): ScenarioResult {
  return {
    scenario,
    pass: true,
    sent: 0,
    accepted: 0,
    acceptedPerSec: 0,
    completed: 0,
    lost: 0,
    notAccepted: 0,
    duplicateNotifications: 0,
    repeatedSends: 0,
    missingNotifications: 0,
    deliveries: 0,
    doubleReservedUnits: 0,
    stockMismatches: 0,
    deadLettered: {},
    orderStatuses: {},
    notificationSamples: { duplicates: [], missing: [] },
    completionsReportedAgain: 0,
    durationS: 0,
    failures: [],
    events: [],
    logFile: '',
    logFiles: [],
  };
}

/** A scenario of lib/chaos-scenarios.ts: its fault armed, the orders sent, the drain, the read-back, its verdict. */
export async function runScenario(
  name: KillScenarioName,
  stack: BenchStack,
  options: ChaosOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const scenario = killScenarios[name];
  const skipped = scenario.cannotRun?.(stack);
  if (skipped) return { ...notRun(name), skipped };
  const run = await startKillRun(scenario, stack, options);
  try {
    await run.runtimes.startRuntime();
    const fault: FaultRun = (await scenario.fault?.(run.harness)) ?? {};
    const cancels = scenario.cancels
      ? cancelling(run, options.cancelShare ?? DEFAULT_CANCEL_SHARE)
      : undefined;
    const sent = await sendOrders(run, options, (orderId) => cancels?.maybeCancel(orderId));
    await fault.during;
    await cancels?.settle();
    run.note(
      `${run.tracker.accepted.size}/${options.orders} orders accepted (${sent.acceptedPerSec.toFixed(1)}/s for ${options.rate}/s sent); waiting for the pipeline to drain`,
    );
    await waitForDrain(run, stack, options.stallMs);
    if (cancels) await waitUntilIdle(run, stack, options.stallMs);
    if (scenario.after === 'replay') await replayRun(run, stack, options.stallMs);
    const back = await readBack(run, stack, fault);
    const verdict = scenario.verdict({
      accepted: [...run.tracker.accepted.keys()],
      notAccepted: sent.driven.failed.map((f) => f.error),
      effects: back.effects,
      notifications: back.notifications,
      faultFailures: [
        ...(fault.failures ?? []),
        ...back.faultVerdict.failures,
        ...(cancels?.failures ?? []).slice(0, 3),
      ],
      cancelAnswers: cancels?.answers,
    });
    return resultOf(name, {
      run,
      options,
      sent,
      back,
      verdict,
      cancels,
      durationS: (Date.now() - started) / 1000,
    });
  } finally {
    await run.dispose();
  }
}

/** The row and JSON of a finished scenario. */
function resultOf(
  scenario: KillScenarioName,
  r: {
    run: KillRun;
    options: ChaosOptions;
    sent: Awaited<ReturnType<typeof sendOrders>>;
    back: Awaited<ReturnType<typeof readBack>>;
    verdict: KillVerdict;
    cancels: Cancelling | undefined;
    durationS: number;
  },
): ScenarioResult {
  const { run, back, verdict } = r;
  const cancellation = verdict.cancellation;
  return {
    scenario,
    pass: verdict.failures.length === 0,
    sent: r.options.orders,
    accepted: run.tracker.accepted.size,
    acceptedPerSec: Math.round(r.sent.acceptedPerSec * 10) / 10,
    completed: verdict.completed,
    lost: verdict.lost.length,
    ...(cancellation
      ? {
          cancellations: {
            sent: r.cancels?.sent.length ?? 0,
            accepted: cancellation.accepted,
            refused: cancellation.refused,
            cancelled: cancellation.cancelled,
            cancelledFrom: cancellation.cancelledFrom,
            contradictions: cancellation.contradictions.length,
          },
        }
      : {}),
    notAccepted: r.sent.driven.failed.length,
    duplicateNotifications: back.notifications.duplicates.length,
    repeatedSends: back.notifications.repeatedSends.length,
    missingNotifications: back.notifications.missing.length,
    deliveries: [...back.deliveries.values()].reduce((n, c) => n + c, 0),
    doubleReservedUnits: back.effects.doubleReservedUnits,
    stockMismatches: back.effects.stockMismatches.length,
    poison: back.faultVerdict.poison,
    crashPoison: back.faultVerdict.crashPoison,
    deadLettered: back.deadLettered,
    orderStatuses: back.effects.statuses,
    notificationSamples: {
      duplicates: sample(back.notifications.duplicates),
      missing: sample(back.notifications.missing),
    },
    completionsReportedAgain: run.tracker.repeated,
    durationS: Math.round(r.durationS * 10) / 10,
    failures: verdict.failures,
    events: run.events,
    logFile: run.runtimes.logFiles[0] ?? '',
    logFiles: run.runtimes.logFiles,
  };
}

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

const dlqByReason = (r: ScenarioResult) =>
  Object.entries(r.deadLettered)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ') || '-';

export function resultsTable(results: readonly ScenarioResult[]): string {
  return table([
    [
      'scenario',
      'sent',
      'accepted',
      'accepted/s',
      'shipped',
      'cancelled (202/409)',
      'lost',
      'dup. notif.',
      'repeated sends',
      'missing notif.',
      'double-reserved',
      'stock mismatches',
      'poison in DLQ',
      'DLQ by reason',
      'faults injected',
      'DynamoDB req./order',
      'duration s',
      'result',
    ],
    ...results.map((r) => [
      r.scenario,
      r.sent,
      r.accepted,
      r.acceptedPerSec,
      r.completed,
      r.cancellations
        ? `${r.cancellations.cancelled} (${r.cancellations.accepted}/${r.cancellations.refused})`
        : '-',
      r.lost,
      r.duplicateNotifications,
      r.repeatedSends,
      r.missingNotifications,
      r.doubleReservedUnits,
      r.stockMismatches,
      r.poison ? `${r.poison.inDeadLetterQueue}/${r.poison.injected}` : '-',
      dlqByReason(r),
      r.attempts ? Object.values(r.attempts.injectedByKind).reduce((n, c) => n + c, 0) : '-',
      r.attempts ? r.attempts.dynamodbRequestsPerOrder : '-',
      r.durationS,
      r.skipped ? 'skipped' : r.pass ? 'PASS' : 'FAIL',
    ]),
  ]);
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const command = readCommandLine({
    usage,
    options: {
      scenario: { type: 'string' },
      orders: { type: 'string' },
      rate: { type: 'string' },
      out: { type: 'string' },
      'stall-timeout': { type: 'string' },
      'cancel-share': { type: 'string' },
      'crash-kinds': { type: 'string' },
    },
  });
  if (command.exitCode !== undefined) return command.exitCode;
  const values: Record<string, string | boolean | undefined> = command.settings.values;
  const wanted = String(values.scenario ?? 'all');
  const scenarios = wanted === 'all' ? [...scenarioNames] : wanted.split(',').map((s) => s.trim());
  const unknown = scenarios.filter((s) => !(scenarioNames as readonly string[]).includes(s));
  // The data scenarios have defaults of their own (the flash sale: 2,000 at 100/s); --orders / --rate win.
  const ordersOf = (name: string) =>
    Number(values.orders ?? (isAwsScenario(name) ? awsScenarios[name].defaults.orders : DEFAULT_ORDERS));
  const rateOf = (name: string) =>
    Number(values.rate ?? (isAwsScenario(name) ? awsScenarios[name].defaults.rate : DEFAULT_RATE));
  const orders = ordersOf('');
  const rate = rateOf('');
  const stallS = Number(values['stall-timeout'] ?? 90);
  const cancelShare = Number(values['cancel-share'] ?? DEFAULT_CANCEL_SHARE);
  const badShare = !(cancelShare >= 0 && cancelShare <= 1);
  const crashKinds = String(values['crash-kinds'] ?? DEFAULT_CRASH_KINDS.join(',')).split(',') as CrashKind[];
  const badKinds = crashKinds.some((kind) => !(CRASH_KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0 || !(orders > 0) || !(rate > 0) || !(stallS > 0) || badShare || badKinds) {
    log(`${unknown.length > 0 ? `unknown scenario ${unknown.join(', ')}` : 'invalid number'}\n${usage}`);
    return 2;
  }
  const out = String(values.out ?? join(resultsDir, 'chaos.json'));

  // The DynamoDB endpoint keeps a journal of every run's writes and replays it when restarted: a short
  // one (compacted into a snapshot every 2 MiB) keeps the dynamodb-kill restart within the retries.
  process.env.MOTO_JOURNAL_COMPACT_BYTES ??= String(2 * 1024 * 1024);
  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack(log);
    const machine = machineInfo(stack.kafkaVersion);
    const startedAt = new Date().toISOString();
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios as ScenarioName[]) {
      const size = { orders: Math.round(ordersOf(scenario)), rate: rateOf(scenario) };
      log(`[chaos] ${scenario}: ${size.orders} orders at ${size.rate}/s`);
      const common = { ...size, stallMs: stallS * 1000, log };
      const result = await (isAwsScenario(scenario)
        ? runAwsScenario(awsScenarios[scenario], stack, common)
        : runScenario(scenario, stack, { ...common, cancelShare, crashKinds })
      ).catch((error: unknown) => crashed(scenario, error));
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
      ...(scenarios.includes('runtime-kill-cancel') ? { cancelShare } : {}),
      ...(scenarios.includes('crash-poison') ? { crashKinds } : {}),
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
