/**
 * Runs one scenario of ./chaos-aws.ts: fresh tables stocked as the scenario says, one runtime child with
 * the scenario's fault profile in front of DynamoDB and SNS, its orders at its rate through POST /orders,
 * a drain, then the effects read back (DynamoDB, the Notification and DeadLetterQueue topics, the sends in
 * the runtime's log) and judged by the scenario's pure verdict.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import type { FaultProfile } from '../../local/faults/profile.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import type { ScenarioResult } from '../chaos.ts';
import {
  type AttemptFigures,
  type AwsChaosScenario,
  type AwsScenarioEffects,
  attemptFigures,
  countersSince,
  type FlashSaleFigures,
  isWarmup,
  type RunSize,
  reservationRate,
  withCountingRules,
} from './chaos-aws.ts';
import { type RunningChild, startChild } from './child-process.ts';
import { CompletionTracker, drive, waitForCompletions } from './driver.ts';
import { pipelineLag } from './lag.ts';
import type { ChildStats } from './protocol.ts';
import { logFileFor, type PipelineSession, preparePipeline } from './session.ts';
import { type BenchStack, endOffsets, newAdmin, newRunId, type Offsets } from './stack.ts';
import { summarize } from './stats.ts';
import { postOrder } from './submit.ts';
import {
  checkNotifications,
  type EffectsReport,
  parseDeadLetter,
  readDeliveries,
  readEffects,
  readProducedNotifications,
  readRange,
} from './verify.ts';

export interface AwsRunOptions {
  orders: number;
  rate: number;
  /** Units of each SKU (default: the scenario's `stockFor(orders)`). */
  stock?: number;
  stallMs: number;
  log: (line: string) => void;
}

/** Until every accepted order ended, then until the run's groups committed everything (trailing notices). */
async function drain(
  stack: BenchStack,
  session: PipelineSession,
  tracker: CompletionTracker,
  stallMs: number,
) {
  await waitForCompletions(tracker, stallMs);
  for (const idleBy = Date.now() + stallMs; Date.now() < idleBy; await sleep(1_000)) {
    if ((await pipelineLag(stack, session.runId, session.startOffsets).catch(() => -1)) === 0) return;
  }
}

/** What the run left behind: the tables, the run's dead letters, its notifications produced and sent. */
async function readBack(
  stack: BenchStack,
  session: PipelineSession,
  stock: number,
  logFile: string,
  dlqStart: Offsets,
) {
  const admin = newAdmin(stack.kafkaBrokers);
  try {
    const effects = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, stock);
    const ends = await endOffsets(admin, [deadLetterTopic, 'Notification']);
    const deadLettered: Record<string, number> = {};
    for (const record of await readRange(stack.kafkaBrokers, deadLetterTopic, dlqStart, ends)) {
      const letter = parseDeadLetter(record);
      if (!letter.originalKey?.startsWith(`bench-${session.runId}-`)) continue;
      deadLettered[letter.reason] = (deadLettered[letter.reason] ?? 0) + 1;
    }
    const prefix = `bench-${session.runId}-`;
    const produced = await readProducedNotifications(stack.kafkaBrokers, session.startOffsets, ends, prefix);
    const deliveries = await readDeliveries([logFile]);
    const notifications = checkNotifications({
      orderStatus: effects.orderStatus,
      recorded: effects.notificationItems,
      produced: produced.events,
      deliveries,
    });
    return { effects, deadLettered, notifications, deliveries };
  } finally {
    await admin.close();
  }
}

const dynamodbCalls = (stats: ChildStats | undefined) =>
  Object.values(stats?.dynamodb ?? {}).reduce((n, table) => n + table.calls, 0);
const failedInvocations = (stats: ChildStats | undefined) =>
  Object.values(stats?.emulators ?? {}).reduce((n, e) => n + e.failedInvocations, 0);

/** The attempts of the measured orders: the counters at the end less those after the warm-up. */
function attemptsOf(stats: ChildStats | undefined, warm: ChildStats | undefined, orders: number) {
  return attemptFigures({
    orders,
    faults: countersSince(stats?.faults, warm?.faults),
    dynamodbCalls: dynamodbCalls(stats) - dynamodbCalls(warm),
    failedInvocations: failedInvocations(stats) - failedInvocations(warm),
  });
}

/** The effects of the measured orders only (the warm-up's are checked with the rest: notices, stock). */
function measuredOnly(effects: EffectsReport): EffectsReport {
  const orders = new Map([...effects.orders].filter(([orderId]) => !isWarmup(orderId)));
  const statuses: Record<string, number> = {};
  for (const order of orders.values()) statuses[order.status] = (statuses[order.status] ?? 0) + 1;
  const shipped = new Set([...effects.shipped].filter((orderId) => !isWarmup(orderId)));
  return { ...effects, orders, statuses, shipped };
}

/** Sends the scenario's warm-up orders and waits for them; resolves with the counters after them. */
async function warmUp(
  scenario: AwsChaosScenario,
  child: RunningChild,
  run: { runId: string; entries: CatalogEntry[]; rate: number; stallMs: number; tracker: CompletionTracker },
): Promise<ChildStats | undefined> {
  const warmup = scenario.warmup;
  if (!warmup) return undefined;
  const apiUrl = child.apiUrl as string;
  await drive({
    count: warmup.orders,
    load: { kind: 'rate', perSecond: run.rate },
    tracker: run.tracker,
    submit: (index) =>
      postOrder(apiUrl, warmup.order(run.runId, index, run.entries), { deadlineMs: 180_000 }),
  });
  await waitForCompletions(run.tracker, run.stallMs);
  return child.stats();
}

function flashSaleFigures(
  effects: EffectsReport,
  tracker: CompletionTracker,
  stock: number,
  transactions: number,
): FlashSaleFigures {
  const measured = measuredOnly(effects);
  const reserved = [...measured.orders.values()].filter((o) => o.confirmedAt !== undefined);
  const rejected = measured.statuses.REJECTED ?? 0;
  const rate = reservationRate(reserved.flatMap((o) => (o.confirmedAt ? [o.confirmedAt] : [])));
  const latency = (kind: string) => {
    const samples = [...tracker.completed.values()].flatMap((c) => {
      const accepted = tracker.accepted.get(c.orderId);
      return c.kind === kind && accepted !== undefined && !isWarmup(c.orderId) ? [c.at - accepted] : [];
    });
    const { p50Ms, p99Ms, count } = summarize(samples);
    return { p50Ms, p99Ms, count };
  };
  const per = (n: number, d: number) => Math.round((n / Math.max(1, d)) * 100) / 100;
  return {
    stock,
    reserved: reserved.length,
    rejected,
    reservationsPerSec: rate.perSec,
    reservingS: rate.spanS,
    transactionsPerDecision: per(transactions, reserved.length + rejected),
    transactionsPerReservation: per(transactions, reserved.length),
    reservedLatency: latency('order-shipped'),
    rejectedLatency: latency('order-rejected'),
  };
}

const attemptsLine = (a: AttemptFigures) =>
  `per order: ${a.dynamodbRequestsPerOrder} DynamoDB requests for ${a.dynamodbCallsPerOrder} calls, ${a.snsRequestsPerOrder} SNS requests, ${a.transactionsPerOrder} inventory transactions, ${a.injectedPerOrder} faults injected, ${a.failedInvocationsPerOrder} failed invocations retried (${a.failedInvocations}); injected: ${
    Object.entries(a.injectedByKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'nothing'
  }`;

/** Sends the scenario's orders at its rate, the careful client's way (retries with the same order id). */
async function sendOrders(
  scenario: AwsChaosScenario,
  child: RunningChild,
  run: { runId: string; entries: CatalogEntry[]; orders: number; rate: number; tracker: CompletionTracker },
) {
  const apiUrl = child.apiUrl as string;
  const sendingFrom = Date.now();
  let lastAcceptedAt = sendingFrom;
  const driven = await drive({
    count: run.orders,
    load: { kind: 'rate', perSecond: run.rate },
    tracker: run.tracker,
    submit: async (index) => {
      const order = scenario.order(run.runId, index, run.entries);
      const orderId = await postOrder(apiUrl, order, { deadlineMs: 180_000 });
      lastAcceptedAt = Date.now();
      return orderId;
    },
  });
  const accepted = [...run.tracker.accepted.keys()].filter((orderId) => !isWarmup(orderId));
  const acceptedPerSec = accepted.length / Math.max(0.001, (lastAcceptedAt - sendingFrom) / 1000);
  return { driven, accepted, acceptedPerSec };
}

/** The columns every chaos scenario reports, from what the run left behind and its verdict. */
function resultOf(
  name: AwsChaosScenario['name'],
  e: AwsScenarioEffects,
  back: Awaited<ReturnType<typeof readBack>>,
  failures: string[],
) {
  const ended = name === 'flash-sale' ? ['SHIPPED', 'REJECTED'] : ['SHIPPED'];
  const lost = e.accepted.filter((id) => !ended.includes(e.effects.orders.get(id)?.status ?? ''));
  return {
    scenario: name,
    pass: failures.length === 0,
    sent: e.sent,
    accepted: e.accepted.length,
    completed: e.effects.shipped.size,
    lost: lost.length,
    notAccepted: e.notAccepted,
    duplicateNotifications: back.notifications.duplicates.length,
    repeatedSends: back.notifications.repeatedSends.length,
    missingNotifications: back.notifications.missing.length,
    deliveries: [...back.deliveries.values()].reduce((n, c) => n + c, 0),
    doubleReservedUnits: e.effects.doubleReservedUnits,
    stockMismatches: e.effects.stockMismatches.length,
    deadLettered: e.deadLettered,
    orderStatuses: e.effects.statuses,
    notificationSamples: {
      duplicates: back.notifications.duplicates.slice(0, 5),
      missing: back.notifications.missing.slice(0, 5),
    },
    failures,
  } satisfies Partial<ScenarioResult>;
}

export async function runAwsScenario(
  scenario: AwsChaosScenario,
  stack: BenchStack,
  options: AwsRunOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const runId = newRunId();
  const size: RunSize = { ...options, stock: options.stock ?? scenario.stockFor(options.orders) };
  const entries = scenario.catalog(size.stock);
  const session = await preparePipeline(stack, runId, size.stock, entries);
  const profile: FaultProfile = withCountingRules(scenario.profile(size));
  const logFile = logFileFor(runId, `chaos-${scenario.name}`);
  const tracker = new CompletionTracker();
  const events: string[] = [];
  const note = (line: string) => {
    events.push(line);
    options.log(`[chaos:${scenario.name}] ${line}`);
  };
  let child: RunningChild | undefined;
  try {
    const admin = newAdmin(stack.kafkaBrokers);
    const dlqStart = await endOffsets(admin, [deadLetterTopic]).finally(() => admin.close());
    child = await startChild({
      config: {
        mode: 'pipeline',
        runId,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        snsEndpoint: stack.snsEndpoint,
        tablePrefix: session.tablePrefix,
        apiPort: 0,
        faults: profile,
      },
      onCompleted: (completions) => tracker.complete(completions),
      logFile,
    });
    note(`runtime child with the fault profile '${profile.name}': ${profile.description ?? ''}`);
    const warm = await warmUp(scenario, child, {
      runId,
      entries,
      ...size,
      stallMs: options.stallMs,
      tracker,
    });
    if (warm)
      note(`${scenario.warmup?.orders} warm-up orders sent and finished first (left out of the figures)`);
    const { driven, accepted, acceptedPerSec } = await sendOrders(scenario, child, {
      runId,
      entries,
      ...size,
      tracker,
    });
    note(
      `${accepted.length}/${size.orders} orders accepted (${acceptedPerSec.toFixed(1)}/s for ${size.rate}/s sent, ${size.stock} units of each SKU); waiting for the pipeline to drain`,
    );
    await drain(stack, session, tracker, options.stallMs);
    const stats = (await child.stop()) ?? child.lastStats();
    await Promise.race([child.logClosed, sleep(10_000)]);
    const back = await readBack(stack, session, size.stock, logFile, dlqStart);
    const measured = measuredOnly(back.effects);
    const effects: AwsScenarioEffects = {
      sent: size.orders,
      accepted,
      notAccepted: driven.failed.length,
      stock: size.stock,
      effects: measured,
      notifications: back.notifications,
      deadLettered: back.deadLettered,
      profile,
      faults: stats?.faults,
    };
    const failures = scenario.verdict(effects);
    // Per order the API wrote (a POST whose 202 the client missed still went down the pipeline).
    const attempts = attemptsOf(stats, warm, measured.orders.size);
    note(attemptsLine(attempts));
    const since = countersSince(stats?.faults, warm?.faults);
    const transactions = since?.byRule['count:dynamodb:TransactWriteItems']?.matched ?? 0;
    const flashSale =
      scenario.name === 'flash-sale'
        ? flashSaleFigures(back.effects, tracker, size.stock, transactions)
        : undefined;
    if (flashSale)
      note(
        `${flashSale.reserved} reserved at ${flashSale.reservationsPerSec}/s over ${flashSale.reservingS} s, ${flashSale.rejected} rejected; ${flashSale.transactionsPerReservation} transactions per reservation (${flashSale.transactionsPerDecision} per decision); 202 → shipped p50 ${flashSale.reservedLatency.p50Ms} ms, p99 ${flashSale.reservedLatency.p99Ms} ms`,
      );
    return {
      ...resultOf(scenario.name, effects, back, failures),
      acceptedPerSec: Math.round(acceptedPerSec * 10) / 10,
      completionsReportedAgain: tracker.repeated,
      durationS: Math.round((Date.now() - started) / 100) / 10,
      events,
      logFile,
      logFiles: [logFile],
      attempts,
      ...(flashSale ? { flashSale } : {}),
      faultProfile: profile.name,
    };
  } finally {
    await child?.stop().catch(() => undefined);
    await session.dispose().catch(() => undefined);
  }
}
