/**
 * Runs one scenario of ./chaos-aws.ts: fresh tables stocked as the scenario says, one runtime child with
 * the scenario's fault profile in front of DynamoDB and SNS, its orders at its rate through POST /orders,
 * a drain, then the effects read back (DynamoDB, the Notification and DeadLetterQueue topics, the sends in
 * the runtime's log) and judged by the scenario's pure verdict.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultProfile } from '../../local/faults/profile.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import type { ScenarioResult } from '../chaos.ts';
import {
  type AttemptFigures,
  type AwsChaosScenario,
  type AwsScenarioEffects,
  attemptFigures,
  type FlashSaleFigures,
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

function attemptsOf(stats: ChildStats | undefined, orders: number): AttemptFigures {
  return attemptFigures({
    orders,
    faults: stats?.faults,
    dynamodbCalls: Object.values(stats?.dynamodb ?? {}).reduce((n, table) => n + table.calls, 0),
    failedInvocations: Object.values(stats?.emulators ?? {}).reduce((n, e) => n + e.failedInvocations, 0),
  });
}

function flashSaleFigures(
  effects: EffectsReport,
  tracker: CompletionTracker,
  stock: number,
  transactions: number,
): FlashSaleFigures {
  const orders = [...effects.orders.values()];
  const reserved = orders.filter((o) => o.confirmedAt !== undefined);
  const rejected = effects.statuses.REJECTED ?? 0;
  const rate = reservationRate(reserved.flatMap((o) => (o.confirmedAt ? [o.confirmedAt] : [])));
  const latency = (kind: string) => {
    const samples = [...tracker.completed.values()].flatMap((c) => {
      const accepted = tracker.accepted.get(c.orderId);
      return c.kind === kind && accepted !== undefined ? [c.at - accepted] : [];
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
    const apiUrl = child.apiUrl as string;
    const sendingFrom = Date.now();
    let lastAcceptedAt = sendingFrom;
    const driven = await drive({
      count: size.orders,
      load: { kind: 'rate', perSecond: size.rate },
      tracker,
      submit: async (index) => {
        const orderId = await postOrder(apiUrl, scenario.order(runId, index, entries), {
          deadlineMs: 180_000,
        });
        lastAcceptedAt = Date.now();
        return orderId;
      },
    });
    const acceptedPerSec = tracker.accepted.size / Math.max(0.001, (lastAcceptedAt - sendingFrom) / 1000);
    note(
      `${tracker.accepted.size}/${size.orders} orders accepted (${acceptedPerSec.toFixed(1)}/s for ${size.rate}/s sent, ${size.stock} units of each SKU); waiting for the pipeline to drain`,
    );
    await drain(stack, session, tracker, options.stallMs);
    const stats = (await child.stop()) ?? child.lastStats();
    await Promise.race([child.logClosed, sleep(10_000)]);
    const back = await readBack(stack, session, size.stock, logFile, dlqStart);
    const accepted = [...tracker.accepted.keys()];
    const effects: AwsScenarioEffects = {
      sent: size.orders,
      accepted,
      notAccepted: driven.failed.length,
      stock: size.stock,
      effects: back.effects,
      notifications: back.notifications,
      deadLettered: back.deadLettered,
      profile,
      faults: stats?.faults,
    };
    const failures = scenario.verdict(effects);
    const attempts = attemptsOf(stats, accepted.length);
    note(attemptsLine(attempts));
    const transactions = stats?.faults?.byRule['count:dynamodb:TransactWriteItems']?.matched ?? 0;
    const flashSale =
      scenario.name === 'flash-sale'
        ? flashSaleFigures(back.effects, tracker, size.stock, transactions)
        : undefined;
    if (flashSale)
      note(
        `${flashSale.reserved} reserved at ${flashSale.reservationsPerSec}/s over ${flashSale.reservingS} s, ${flashSale.rejected} rejected; ${flashSale.transactionsPerReservation} transactions per reservation (${flashSale.transactionsPerDecision} per decision); 202 → shipped p50 ${flashSale.reservedLatency.p50Ms} ms, p99 ${flashSale.reservedLatency.p99Ms} ms`,
      );
    const lostStatuses = scenario.name === 'flash-sale' ? ['SHIPPED', 'REJECTED'] : ['SHIPPED'];
    const lost = accepted.filter((id) => !lostStatuses.includes(back.effects.orders.get(id)?.status ?? ''));
    return {
      scenario: scenario.name,
      pass: failures.length === 0,
      sent: size.orders,
      accepted: accepted.length,
      acceptedPerSec: Math.round(acceptedPerSec * 10) / 10,
      completed: back.effects.shipped.size,
      lost: lost.length,
      notAccepted: driven.failed.length,
      duplicateNotifications: back.notifications.duplicates.length,
      repeatedSends: back.notifications.repeatedSends.length,
      missingNotifications: back.notifications.missing.length,
      deliveries: [...back.deliveries.values()].reduce((n, c) => n + c, 0),
      doubleReservedUnits: back.effects.doubleReservedUnits,
      stockMismatches: back.effects.stockMismatches.length,
      deadLettered: back.deadLettered,
      orderStatuses: back.effects.statuses,
      notificationSamples: {
        duplicates: back.notifications.duplicates.slice(0, 5),
        missing: back.notifications.missing.slice(0, 5),
      },
      completionsReportedAgain: tracker.repeated,
      durationS: Math.round((Date.now() - started) / 100) / 10,
      failures,
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
