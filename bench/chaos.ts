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
 * - broker-kill:       kill -9 the Kafka broker mid-run, restart it (same data dir, same ports);
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
import { setTimeout as sleep } from 'node:timers/promises';
import { CRASH_KINDS, type CrashKind } from '../local/faults/crash-poison.ts';
import { findFreePorts, InfraError, stopAllManaged } from '../local/infra/index.ts';
import { readCommandLine } from '../tools/command-line.ts';
import { deadLetterTopic } from '../topology/topics.ts';
import { cancelOrder } from './lib/cancel.ts';
import type { AttemptFigures, FlashSaleFigures } from './lib/chaos-aws.ts';
import { type AwsScenarioName, awsScenarioNames, awsScenarios, isAwsScenario } from './lib/chaos-aws.ts';
import { runAwsScenario } from './lib/chaos-aws-run.ts';
import {
  CRASH_WRAPPER,
  type CrashPoisonFigures,
  crashPoison,
  DEFAULT_CRASH_KINDS,
} from './lib/chaos-crash.ts';
import {
  brokerKill,
  dynamodbKill,
  type Fault,
  type FaultRun,
  type FaultVerdict,
  type Harness,
  poison,
  runtimeJoinKill,
  runtimeJoinLeave,
  runtimeKill,
} from './lib/chaos-faults.ts';
import { type RunningChild, startChild } from './lib/child-process.ts';
import { CompletionTracker, drive } from './lib/driver.ts';
import { pipelineLag } from './lib/lag.ts';
import { benchOrder, stockFor } from './lib/orders.ts';
import type { Completion } from './lib/protocol.ts';
import { commandLine, currentLoad, machineInfo, resultsDir, table, writeJson } from './lib/report.ts';
import { commitGroupsAt, logFileFor, type PipelineSession, preparePipeline } from './lib/session.ts';
import { type BenchStack, endOffsets, newAdmin, newRunId, startBenchStack } from './lib/stack.ts';
import { postOrder } from './lib/submit.ts';
import {
  type CancelAnswer,
  checkCancellations,
  checkNotifications,
  isFinal,
  type NotificationCheck,
  parseDeadLetter,
  readDeliveries,
  readEffects,
  readProducedNotifications,
  readRange,
} from './lib/verify.ts';

// Replay first: on a broker of its own it then really starts from the beginning of every topic.
export const scenarioNames = [
  'replay',
  'poison',
  'crash-poison',
  'runtime-join',
  'runtime-join-kill',
  'runtime-kill',
  'runtime-kill-cancel',
  'dynamodb-kill',
  'broker-kill',
  ...awsScenarioNames,
] as const;
export type ScenarioName = (typeof scenarioNames)[number];
/** The scenarios `runScenario` runs (the others are data, run by lib/chaos-aws-run.ts). */
type KillScenarioName = Exclude<ScenarioName, AwsScenarioName>;

/** Defaults of `npm run chaos`: per scenario. */
export const DEFAULT_ORDERS = 1_000;
export const DEFAULT_RATE = 20;
/** runtime-kill-cancel: the share of the accepted orders the driver cancels. */
export const DEFAULT_CANCEL_SHARE = 0.3;
/**
 * runtime-kill-cancel: a cancel is sent a random moment up to this long after the order's 202, short
 * delays likelier (squared uniform): an order is past inventory within a few hundred ms and shipped
 * within a second or two when nothing is killed, so some cancels come before inventory, some after, some
 * too late (409).
 */
const CANCEL_WITHIN_MS = 2_500;

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

export interface ChaosOptions {
  orders: number;
  rate: number;
  stallMs: number;
  /** runtime-kill-cancel: the share of the accepted orders cancelled (default DEFAULT_CANCEL_SHARE). */
  cancelShare?: number;
  /** crash-poison: the kinds of crash injected (default exit and oom). */
  crashKinds?: readonly CrashKind[];
  log: (line: string) => void;
}

const DLQ = deadLetterTopic;

/**
 * Waits until every accepted order reported its order-shipped notification, or the pipeline is idle
 * (nothing left to consume) and nothing progressed for `stallMs`. Completions reported by a killed
 * runtime may be lost on the way: an idle pipeline is then checked against DynamoDB by the caller.
 */
async function waitForDrain(
  stack: BenchStack,
  session: PipelineSession,
  tracker: CompletionTracker,
  stallMs: number,
): Promise<void> {
  let last = -1;
  let lastProgress = Date.now();
  let idleSince: number | undefined;
  for (;;) {
    if (tracker.missing().length === 0) return;
    const lag = await pipelineLag(stack, session.runId, session.startOffsets).catch(() => Number.NaN);
    const progress = tracker.completed.size * 1_000_000 - (Number.isNaN(lag) ? 0 : lag);
    if (progress !== last) {
      last = progress;
      lastProgress = Date.now();
    }
    idleSince = lag === 0 ? (idleSince ?? Date.now()) : undefined;
    // Idle for a while: whatever was going to finish has finished.
    if (idleSince !== undefined && Date.now() - idleSince > 10_000) return;
    if (Date.now() - lastProgress > stallMs) return;
    await sleep(1_000);
  }
}

const faults: Record<Exclude<KillScenarioName, 'replay'>, Fault> = {
  'broker-kill': brokerKill,
  'dynamodb-kill': dynamodbKill,
  'runtime-kill': runtimeKill,
  'runtime-kill-cancel': runtimeKill,
  'runtime-join': runtimeJoinLeave,
  'runtime-join-kill': runtimeJoinKill,
  poison,
  'crash-poison': crashPoison,
};

const sample = <T>(items: readonly T[]) => items.slice(0, 5);
const noVerdict: FaultVerdict = { failures: [] };

/** Why a scenario cannot run on this stack (it needs a service this run started), if it cannot. */
function cannotRun(name: KillScenarioName, stack: BenchStack): string | undefined {
  if (name === 'broker-kill' && !stack.kafka)
    return 'the broker is external (KAFKA_BROKERS): only a broker this run started can be killed';
  if (name === 'dynamodb-kill' && !stack.dynamodb)
    return 'the DynamoDB endpoint is external (DYNAMODB_ENDPOINT): only an endpoint this run started can be killed';
  return undefined;
}

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

export async function runScenario(
  name: KillScenarioName,
  stack: BenchStack,
  options: ChaosOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const runId = newRunId();
  const stock = stockFor(options.orders);
  const logFiles: string[] = [];
  const nextLogFile = (what: string) => {
    const file = logFileFor(runId, `chaos-${name}${logFiles.length === 0 ? '' : `-${what}`}`);
    logFiles.push(file);
    return file;
  };
  const skipped = cannotRun(name, stack);
  if (skipped) return { ...notRun(name), skipped };

  const prepared = await preparePipeline(stack, runId, stock);
  const session = { ...prepared, orders: options.orders };
  const admin = newAdmin(stack.kafkaBrokers);
  const dlqStart = await endOffsets(admin, [DLQ]);
  const [apiPort] = await findFreePorts(1);
  const mainApi = `http://127.0.0.1:${apiPort}`;
  const tracker = new CompletionTracker();
  const events: string[] = [];
  const note = (line: string) => {
    events.push(line);
    options.log(`[chaos:${name}] ${line}`);
  };
  const children: RunningChild[] = [];
  const spawn = async (what: string, port: number) => {
    const child = await startChild({
      config: {
        mode: 'pipeline',
        runId,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        snsEndpoint: stack.snsEndpoint,
        tablePrefix: session.tablePrefix,
        apiPort: port,
        handlerWrapper: name === 'crash-poison' ? CRASH_WRAPPER : undefined,
      },
      onCompleted: (completions: Completion[]) => tracker.complete(completions),
      logFile: nextLogFile(what),
    });
    children.push(child);
    return child;
  };
  let current: RunningChild | undefined;
  const startRuntime = async () => {
    current = await spawn(`runtime${children.length + 1}`, apiPort as number);
    return current;
  };
  // Orders go round-robin to every runtime's API, as behind a load balancer.
  const visitorApis = new Map<RunningChild, string>();
  let turn = 0;
  const pickApi = () => {
    const apis = [mainApi, ...visitorApis.values()];
    return apis[turn++ % apis.length] as string;
  };
  const driving = { done: false };
  const harness: Harness = {
    stack,
    session,
    tracker,
    child: () => current as RunningChild,
    startRuntime,
    startVisitor: async () => {
      const visitor = await spawn(`visitor${children.length + 1}`, 0);
      if (visitor.apiUrl) visitorApis.set(visitor, visitor.apiUrl);
      return visitor;
    },
    retireVisitor: (visitor) => void visitorApis.delete(visitor),
    note,
    crashKinds: options.crashKinds,
    acceptedAtLeast: async (count) => {
      while (tracker.accepted.size < count && !driving.done) await sleep(50);
    },
  };
  const stopAll = () => Promise.all(children.map((child) => child.stop().catch(() => undefined)));
  const cancelling = name === 'runtime-kill-cancel';
  const cancelShare = options.cancelShare ?? DEFAULT_CANCEL_SHARE;
  const cancelAnswers = new Map<string, CancelAnswer>();
  const cancels: Promise<void>[] = [];
  const cancelFailures: string[] = [];
  /** A random moment after its 202, the order is cancelled (a share of them), whatever runtime is up. */
  const maybeCancel = (orderId: string) => {
    if (!cancelling || Math.random() >= cancelShare) return;
    cancels.push(
      sleep(Math.random() ** 2 * CANCEL_WITHIN_MS)
        .then(() => cancelOrder(pickApi, orderId, { deadlineMs: 180_000 }))
        .then(
          (answer) => void cancelAnswers.set(orderId, answer),
          (error: unknown) => void cancelFailures.push(`cancel of ${orderId}: ${(error as Error).message}`),
        ),
    );
  };

  try {
    await startRuntime();
    const fault: FaultRun = name === 'replay' ? {} : await faults[name](harness);
    const sendingFrom = Date.now();
    let lastAcceptedAt = sendingFrom;
    const driven = await drive({
      count: options.orders,
      load: { kind: 'rate', perSecond: options.rate },
      tracker,
      submit: async (index) => {
        const orderId = await postOrder(pickApi, benchOrder(runId, index, session.entries), {
          deadlineMs: 180_000,
        });
        lastAcceptedAt = Date.now();
        maybeCancel(orderId);
        return orderId;
      },
    }).finally(() => {
      driving.done = true;
    });
    const acceptedPerSec = tracker.accepted.size / Math.max(0.001, (lastAcceptedAt - sendingFrom) / 1000);
    await fault.during;
    await Promise.all(cancels);
    if (cancelling) {
      const refused = [...cancelAnswers.values()].filter((a) => a.status === 409).length;
      note(
        `${cancels.length} cancel(s) sent within ${CANCEL_WITHIN_MS / 1000} s of the 202: ${cancelAnswers.size - refused} answered 202, ${refused} answered 409`,
      );
    }
    note(
      `${tracker.accepted.size}/${options.orders} orders accepted (${acceptedPerSec.toFixed(1)}/s for ${options.rate}/s sent); waiting for the pipeline to drain`,
    );
    await waitForDrain(stack, session, tracker, options.stallMs);
    // A cancelled order's last notification may trail (an order-packed in flight): until nothing is left.
    for (const idleBy = Date.now() + options.stallMs; cancelling && Date.now() < idleBy; await sleep(1_000)) {
      if ((await pipelineLag(stack, runId, session.startOffsets).catch(() => -1)) === 0) break;
    }

    if (name === 'replay') {
      const before = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
      await stopAll();
      await commitGroupsAt(admin, runId, session.startOffsets);
      const fromTheStart = [...session.startOffsets.values()].every((partitions) =>
        [...partitions.values()].every((offset) => offset === 0n),
      );
      note(
        `consumer groups reset to ${fromTheStart ? 'the beginning of every topic (earliest)' : 'where the run began (the topics hold older records of other runs)'}; ${await pipelineLag(stack, runId, session.startOffsets)} records to deliver again`,
      );
      const runtime = await startRuntime();
      const replayStarted = Date.now();
      for (let idle = 0; idle < 3 && Date.now() - replayStarted < options.stallMs * 2; ) {
        await sleep(1_000);
        idle = (await pipelineLag(stack, runId, session.startOffsets)) === 0 ? idle + 1 : 0;
      }
      const stats = await runtime.stats();
      const reproduced = Object.entries(stats.produced)
        .filter(([topic]) => topic !== 'KPIs')
        .reduce((n, [, c]) => n + c.records, 0);
      note(
        `replayed in ${((Date.now() - replayStarted) / 1000).toFixed(1)} s: ${Object.values(stats.functions).reduce((n, f) => n + f.records, 0)} records delivered again, ${reproduced} pipeline events produced again`,
      );
      const after = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
      if (after.notifications !== before.notifications) {
        note(`notifications went from ${before.notifications} to ${after.notifications} during the replay`);
      }
    }

    await stopAll();
    // Every line a runtime wrote must be in its log before the sends are counted.
    await Promise.all(children.map((child) => Promise.race([child.logClosed, sleep(10_000)])));
    const effects = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
    const ends = await endOffsets(admin, [DLQ, 'Notification']);
    const deadLetterRecords = await readRange(stack.kafkaBrokers, DLQ, dlqStart, ends);
    const deadLetters = deadLetterRecords.map(parseDeadLetter).filter((d) => d.reason !== 'replay-marker');
    const ours = deadLetters.filter((d) =>
      ['bench', 'poison', 'crash'].some((kind) => d.originalKey?.startsWith(`${kind}-${runId}-`)),
    );
    const stats = children.flatMap((child) => child.lastStats() ?? []);
    const verdict = fault.verdict?.({ deadLetterRecords, deadLetters, stats, logFiles }) ?? noVerdict;
    for (const line of verdict.notes ?? []) note(line);
    const deadLettered: Record<string, number> = {};
    for (const d of ours) deadLettered[d.reason] = (deadLettered[d.reason] ?? 0) + 1;
    const produced = await readProducedNotifications(
      stack.kafkaBrokers,
      session.startOffsets,
      ends,
      `bench-${runId}-`,
    );
    const deliveries = await readDeliveries(logFiles);
    const notifications = checkNotifications({
      orderStatus: effects.orderStatus,
      recorded: effects.notificationItems,
      produced: produced.events,
      deliveries,
    });
    if (!notifications.deliveriesObserved) {
      note('no send found in the runtimes’ logs (log level above INFO?): sends not checked');
    }

    const accepted = [...tracker.accepted.keys()];
    const lost = accepted.filter((orderId) =>
      cancelling ? !isFinal(effects.orders.get(orderId)) : !effects.shipped.has(orderId),
    );
    const completed = accepted.filter((orderId) => effects.shipped.has(orderId)).length;
    const cancellation = cancelling ? checkCancellations(cancelAnswers, effects.orders) : undefined;
    const failures: string[] = [
      ...(fault.failures ?? []),
      ...verdict.failures,
      ...cancelFailures.slice(0, 3),
    ];
    if (lost.length > 0)
      failures.push(
        `${lost.length} accepted order(s) never ${cancelling ? 'ended SHIPPED, REJECTED or CANCELLED (stock given back)' : 'shipped'}, e.g. ${lost.slice(0, 3).join(', ')}`,
      );
    if (cancellation && cancellation.contradictions.length > 0) {
      const c = cancellation.contradictions[0];
      failures.push(
        `${cancellation.contradictions.length} cancel answer(s) contradict the order's end, e.g. ${c?.orderId}: ${c?.answer}, ended ${c?.finalStatus}`,
      );
    }
    if (driven.failed.length > 0)
      failures.push(`${driven.failed.length} order(s) never accepted: ${driven.failed[0]?.error}`);
    if (notifications.duplicates.length > 0) {
      const d = notifications.duplicates[0];
      failures.push(
        `${notifications.duplicates.length} notification(s) recorded more than once, e.g. ${d?.kind} of ${d?.orderId}: recorded ${d?.recorded}, sent ${d?.delivered ?? '?'}`,
      );
    }
    if (notifications.missing.length > 0) {
      const m = notifications.missing[0];
      failures.push(
        `${notifications.missing.length} notification(s) missing, e.g. ${m?.kind} of ${m?.orderId} (${m?.problem})`,
      );
    }
    if (effects.stockMismatches.length > 0) {
      const m = effects.stockMismatches[0];
      failures.push(
        `stock does not add up for ${effects.stockMismatches.length} SKU(s), e.g. ${m?.sku}: available ${m?.available}, reserved ${m?.reserved}, orders need ${m?.expectedReserved} of ${m?.initial}`,
      );
    }
    return {
      scenario: name,
      pass: failures.length === 0,
      sent: options.orders,
      accepted: accepted.length,
      acceptedPerSec: Math.round(acceptedPerSec * 10) / 10,
      completed: cancelling ? completed : accepted.length - lost.length,
      lost: lost.length,
      ...(cancellation
        ? {
            cancellations: {
              sent: cancels.length,
              accepted: cancellation.accepted,
              refused: cancellation.refused,
              cancelled: cancellation.cancelled,
              cancelledFrom: cancellation.cancelledFrom,
              contradictions: cancellation.contradictions.length,
            },
          }
        : {}),
      notAccepted: driven.failed.length,
      duplicateNotifications: notifications.duplicates.length,
      repeatedSends: notifications.repeatedSends.length,
      missingNotifications: notifications.missing.length,
      deliveries: [...deliveries.values()].reduce((n, c) => n + c, 0),
      doubleReservedUnits: effects.doubleReservedUnits,
      stockMismatches: effects.stockMismatches.length,
      poison: verdict.poison,
      crashPoison: verdict.crashPoison,
      deadLettered,
      orderStatuses: effects.statuses,
      notificationSamples: {
        duplicates: sample(notifications.duplicates),
        missing: sample(notifications.missing),
      },
      completionsReportedAgain: tracker.repeated,
      durationS: Math.round((Date.now() - started) / 100) / 10,
      failures,
      events,
      logFile: logFiles[0] ?? '',
      logFiles,
    };
  } finally {
    await stopAll();
    await admin.close().catch(() => undefined);
    await session.dispose().catch(() => undefined);
  }
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
