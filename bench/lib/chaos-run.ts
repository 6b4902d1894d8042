/**
 * The one runner of every `npm run chaos` scenario, of both families of scenarios as data: the faults of
 * ./chaos-scenarios.ts (kills, rebalances, replay, poison, crashing records, cancels) and the injected AWS
 * errors of ./chaos-aws.ts (a fault profile in front of DynamoDB and SNS, the flash sale). Per scenario:
 * fresh tables stocked as it says, runtimes behind a round-robin API (`startRun`), its warm-up, its fault
 * armed, its orders at their rate (a careful client: retries with the same order id) with the cancels of
 * runtime-kill-cancel, the drain, the replay, then the read-back of what the run left behind (DynamoDB,
 * the Notification and DeadLetterQueue topics, the sends in every runtime's log) for the scenario's pure
 * verdict (`runScenario`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CrashKind } from '../../local/faults/crash-poison.ts';
import type { FaultProfile } from '../../local/faults/profile.ts';
import { findFreePorts } from '../../local/infra/index.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import { cancelOrder } from './cancel.ts';
import {
  type AttemptFigures,
  type AwsChaosScenario,
  type AwsScenarioEffects,
  attemptsLine,
  attemptsOf,
  countersSince,
  type FlashSaleFigures,
  flashSaleFigures,
  isWarmup,
  measuredOnly,
  withCountingRules,
} from './chaos-aws.ts';
import type { FaultRun, FaultVerdict, Harness } from './chaos-faults.ts';
import type { KillScenario, KillVerdict } from './chaos-scenarios.ts';
import { type RunningChild, startChild } from './child-process.ts';
import { CompletionTracker, type DriveResult, sendAtRate, waitForCompletions } from './driver.ts';
import { pipelineLag } from './lag.ts';
import { benchOrder, stockFor } from './orders.ts';
import type { ChildConfig, ChildStats, Completion } from './protocol.ts';
import { commitGroupsAt, logFileFor, preparePipeline } from './session.ts';
import { type BenchStack, endOffsets, newAdmin, newRunId, type Offsets } from './stack.ts';
import {
  type CancelAnswer,
  checkNotifications,
  parseDeadLetter,
  readDeliveries,
  readEffects,
  readProducedNotifications,
  readRange,
} from './verify.ts';

/** A scenario of either family. */
export type ChaosScenario = KillScenario | AwsChaosScenario;

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

/** runtime-kill-cancel: the share of the accepted orders the driver cancels. */
export const DEFAULT_CANCEL_SHARE = 0.3;
/**
 * runtime-kill-cancel: a cancel is sent a random moment up to this long after the order's 202, short
 * delays likelier (squared uniform): an order is past inventory within a few hundred ms and shipped
 * within a second or two when nothing is killed, so some cancels come before inventory, some after, some
 * too late (409).
 */
const CANCEL_WITHIN_MS = 2_500;

const DLQ = deadLetterTopic;

/** The row of a scenario that did not run: nothing sent, nothing found. */
export function notRun(scenario: ScenarioResult['scenario']): ScenarioResult {
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
    poison: undefined,
    crashPoison: undefined,
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

/** One scenario's run: its tables, its runtimes, what it noted. */
type ChaosRun = Awaited<ReturnType<typeof startRun>>;

/** Fresh tables stocked as the scenario says, and the means to start its runtimes (none started yet). */
async function startRun(scenario: ChaosScenario, stack: BenchStack, options: ChaosOptions) {
  const runId = newRunId();
  const stock = (scenario.stockFor ?? stockFor)(options.orders);
  const entries = scenario.catalog?.(stock);
  const session = { ...(await preparePipeline(stack, runId, stock, entries)), orders: options.orders };
  const profile = scenario.profile && withCountingRules(scenario.profile({ ...options, stock }));
  const admin = newAdmin(stack.kafkaBrokers);
  const dlqStart = await endOffsets(admin, [DLQ]);
  const [apiPort] = await findFreePorts(1);
  const tracker = new CompletionTracker();
  const events: string[] = [];
  const note = (line: string) => {
    events.push(line);
    options.log(`[chaos:${scenario.name}] ${line}`);
  };
  const runtimes = runtimePool(`chaos-${scenario.name}`, {
    stack,
    runId,
    tablePrefix: session.tablePrefix,
    tracker,
    apiPort: apiPort as number,
    extra: { handlerWrapper: scenario.handlerWrapper, faults: profile },
  });
  const driving = { done: false };
  const harness: Harness = {
    stack,
    session,
    tracker,
    child: runtimes.current,
    startRuntime: runtimes.startRuntime,
    startVisitor: runtimes.startVisitor,
    retireVisitor: runtimes.retireVisitor,
    note,
    crashKinds: options.crashKinds,
    acceptedAtLeast: async (count) => {
      while (tracker.accepted.size < count && !driving.done) await sleep(50);
    },
  };
  const dispose = async () => {
    await runtimes.stopAll();
    await admin.close().catch(() => undefined);
    await session.dispose().catch(() => undefined);
  };
  return {
    runId,
    stock,
    session,
    profile,
    admin,
    dlqStart,
    tracker,
    events,
    note,
    runtimes,
    harness,
    driving,
    dispose,
  };
}

/** The run's runtimes: the main one (restarted on the same API port), visitors, their logs. */
function runtimePool(
  name: string,
  run: {
    stack: BenchStack;
    runId: string;
    tablePrefix: string;
    tracker: CompletionTracker;
    apiPort: number;
    extra: Pick<ChildConfig, 'handlerWrapper' | 'faults'>;
  },
) {
  const { stack, tracker } = run;
  const logFiles: string[] = [];
  const children: RunningChild[] = [];
  const visitorApis = new Map<RunningChild, string>();
  const mainApi = `http://127.0.0.1:${run.apiPort}`;
  let current: RunningChild | undefined;
  let turn = 0;
  const spawn = async (what: string, port: number) => {
    const logFile = logFileFor(run.runId, `${name}${logFiles.length === 0 ? '' : `-${what}`}`);
    logFiles.push(logFile);
    const child = await startChild({
      config: {
        mode: 'pipeline',
        runId: run.runId,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        snsEndpoint: stack.snsEndpoint,
        tablePrefix: run.tablePrefix,
        apiPort: port,
        ...run.extra,
      },
      onCompleted: (completions: Completion[]) => tracker.complete(completions),
      logFile,
    });
    children.push(child);
    return child;
  };
  return {
    logFiles,
    children,
    current: () => current as RunningChild,
    startRuntime: async () => {
      current = await spawn(`runtime${children.length + 1}`, run.apiPort);
      return current;
    },
    startVisitor: async () => {
      const visitor = await spawn(`visitor${children.length + 1}`, 0);
      if (visitor.apiUrl) visitorApis.set(visitor, visitor.apiUrl);
      return visitor;
    },
    retireVisitor: (visitor: RunningChild) => void visitorApis.delete(visitor),
    // Orders go round-robin to every runtime's API, as behind a load balancer.
    pickApi: () => {
      const apis = [mainApi, ...visitorApis.values()];
      return apis[turn++ % apis.length] as string;
    },
    stopAll: () => Promise.all(children.map((child) => child.stop().catch(() => undefined))),
  };
}

/** The cancels of a run: a share of the accepted orders, each a random moment after its 202. */
function cancelling(run: ChaosRun, share: number) {
  const answers = new Map<string, CancelAnswer>();
  const sent: Promise<void>[] = [];
  const failures: string[] = [];
  return {
    answers,
    failures,
    sent,
    maybeCancel: (orderId: string) => {
      if (Math.random() >= share) return;
      sent.push(
        sleep(Math.random() ** 2 * CANCEL_WITHIN_MS)
          .then(() => cancelOrder(run.runtimes.pickApi, orderId, { deadlineMs: 180_000 }))
          .then(
            (answer) => void answers.set(orderId, answer),
            (error: unknown) => void failures.push(`cancel of ${orderId}: ${(error as Error).message}`),
          ),
      );
    },
    settle: async () => {
      await Promise.all(sent);
      const refused = [...answers.values()].filter((a) => a.status === 409).length;
      run.note(
        `${sent.length} cancel(s) sent within ${CANCEL_WITHIN_MS / 1000} s of the 202: ${answers.size - refused} answered 202, ${refused} answered 409`,
      );
    },
  };
}
type Cancelling = ReturnType<typeof cancelling>;

/** Sends the scenario's warm-up orders and waits for them; resolves with the counters after them. */
async function warmUp(scenario: ChaosScenario, run: ChaosRun, options: ChaosOptions) {
  const warmup = scenario.warmup;
  if (!warmup) return undefined;
  await sendAtRate({
    count: warmup.orders,
    rate: options.rate,
    tracker: run.tracker,
    api: run.runtimes.pickApi,
    order: (index) => warmup.order(run.runId, index, run.session.entries),
  });
  await waitForCompletions(run.tracker, options.stallMs);
  run.note(`${warmup.orders} warm-up orders sent and finished first (left out of the figures)`);
  return run.runtimes.current().stats();
}

/**
 * Waits until every accepted order reported its order-shipped notification, or the pipeline is idle
 * (nothing left to consume) and nothing progressed for `stallMs`. Completions reported by a killed
 * runtime may be lost on the way: an idle pipeline is then checked against DynamoDB by the caller.
 */
async function waitForDrain(run: ChaosRun, stack: BenchStack, stallMs: number): Promise<void> {
  let last = -1;
  let lastProgress = Date.now();
  let idleSince: number | undefined;
  for (;;) {
    if (run.tracker.missing().length === 0) return;
    const lag = await pipelineLag(stack, run.runId, run.session.startOffsets).catch(() => Number.NaN);
    const progress = run.tracker.completed.size * 1_000_000 - (Number.isNaN(lag) ? 0 : lag);
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

/** Until the run's groups committed everything (a rejected or cancelled order's last notice may trail). */
async function waitUntilIdle(run: ChaosRun, stack: BenchStack, stallMs: number): Promise<void> {
  for (const idleBy = Date.now() + stallMs; Date.now() < idleBy; await sleep(1_000)) {
    if ((await pipelineLag(stack, run.runId, run.session.startOffsets).catch(() => -1)) === 0) return;
  }
}

/**
 * replay: every runtime stopped, the run's consumer groups reset to where the run began (on a broker of
 * its own: the beginning of the topics), a new runtime delivers everything again.
 */
async function replayRun(run: ChaosRun, stack: BenchStack, stallMs: number): Promise<void> {
  const { session } = run;
  const before = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, run.stock);
  await run.runtimes.stopAll();
  await commitGroupsAt(run.admin, run.runId, session.startOffsets);
  const fromTheStart = [...session.startOffsets.values()].every((partitions) =>
    [...partitions.values()].every((offset) => offset === 0n),
  );
  run.note(
    `consumer groups reset to ${fromTheStart ? 'the beginning of every topic (earliest)' : 'where the run began (the topics hold older records of other runs)'}; ${await pipelineLag(stack, run.runId, session.startOffsets)} records to deliver again`,
  );
  const runtime = await run.runtimes.startRuntime();
  const replayStarted = Date.now();
  for (let idle = 0; idle < 3 && Date.now() - replayStarted < stallMs * 2; ) {
    await sleep(1_000);
    idle = (await pipelineLag(stack, run.runId, session.startOffsets)) === 0 ? idle + 1 : 0;
  }
  const stats = await runtime.stats();
  const reproduced = Object.entries(stats.produced)
    .filter(([topic]) => topic !== 'KPIs')
    .reduce((n, [, c]) => n + c.records, 0);
  run.note(
    `replayed in ${((Date.now() - replayStarted) / 1000).toFixed(1)} s: ${Object.values(stats.functions).reduce((n, f) => n + f.records, 0)} records delivered again, ${reproduced} pipeline events produced again`,
  );
  const after = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, run.stock);
  if (after.notifications !== before.notifications) {
    run.note(`notifications went from ${before.notifications} to ${after.notifications} during the replay`);
  }
}

const noVerdict: FaultVerdict = { failures: [] };

/** The run's dead letters (replay markers aside) and those of its own records, by reason. */
async function deadLettersOf(run: ChaosRun, stack: BenchStack, ends: Offsets) {
  const records = await readRange(stack.kafkaBrokers, DLQ, run.dlqStart, ends);
  const deadLetters = records.map(parseDeadLetter).filter((d) => d.reason !== 'replay-marker');
  const deadLettered: Record<string, number> = {};
  for (const d of deadLetters) {
    const ours = ['bench', 'poison', 'crash'].some((kind) =>
      d.originalKey?.startsWith(`${kind}-${run.runId}-`),
    );
    if (ours) deadLettered[d.reason] = (deadLettered[d.reason] ?? 0) + 1;
  }
  return { records, deadLetters, deadLettered };
}

/**
 * What the run left behind, once every runtime stopped and wrote its last line: the tables, the fault's
 * verdict on the evidence, the dead letters, the notifications recorded, produced and sent, every
 * runtime's last counters.
 */
async function readBack(run: ChaosRun, stack: BenchStack, fault: FaultRun) {
  const { runtimes, session } = run;
  await runtimes.stopAll();
  await Promise.all(runtimes.children.map((child) => Promise.race([child.logClosed, sleep(10_000)])));
  const effects = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, run.stock);
  const ends = await endOffsets(run.admin, [DLQ, 'Notification']);
  const dlq = await deadLettersOf(run, stack, ends);
  const stats = runtimes.children.flatMap((child) => child.lastStats() ?? []);
  const evidence = {
    deadLetterRecords: dlq.records,
    deadLetters: dlq.deadLetters,
    stats,
    logFiles: runtimes.logFiles,
  };
  const faultVerdict = fault.verdict?.(evidence) ?? noVerdict;
  for (const line of faultVerdict.notes ?? []) run.note(line);
  const produced = await readProducedNotifications(
    stack.kafkaBrokers,
    session.startOffsets,
    ends,
    `bench-${run.runId}-`,
  );
  const deliveries = await readDeliveries(runtimes.logFiles);
  const notifications = checkNotifications({
    orderStatus: effects.orderStatus,
    recorded: effects.notificationItems,
    produced: produced.events,
    deliveries,
  });
  if (!notifications.deliveriesObserved) {
    run.note('no send found in the runtimes’ logs (log level above INFO?): sends not checked');
  }
  return { effects, faultVerdict, deadLettered: dlq.deadLettered, deliveries, notifications, stats };
}
type ReadBack = Awaited<ReturnType<typeof readBack>>;

/** A scenario of either family: its fault armed, the orders sent, the drain, the read-back, its verdict. */
export async function runScenario(
  scenario: ChaosScenario,
  stack: BenchStack,
  options: ChaosOptions,
): Promise<ScenarioResult> {
  const started = Date.now();
  const skipped = scenario.cannotRun?.(stack);
  if (skipped) return { ...notRun(scenario.name), skipped };
  const run = await startRun(scenario, stack, options);
  try {
    await run.runtimes.startRuntime();
    if (run.profile)
      run.note(
        `runtime child with the fault profile '${run.profile.name}': ${run.profile.description ?? ''}`,
      );
    const warm = await warmUp(scenario, run, options);
    const fault: FaultRun = (await scenario.fault?.(run.harness)) ?? {};
    const cancels = scenario.cancels
      ? cancelling(run, options.cancelShare ?? DEFAULT_CANCEL_SHARE)
      : undefined;
    const sent = await sendAtRate({
      count: options.orders,
      rate: options.rate,
      tracker: run.tracker,
      api: run.runtimes.pickApi,
      order: (index) => (scenario.order ?? benchOrder)(run.runId, index, run.session.entries),
      onAccepted: (orderId) => cancels?.maybeCancel(orderId),
    }).finally(() => {
      run.driving.done = true;
    });
    await fault.during;
    await cancels?.settle();
    const accepted = [...run.tracker.accepted.keys()].filter((orderId) => !isWarmup(orderId));
    run.note(
      `${accepted.length}/${options.orders} orders accepted (${sent.acceptedPerSec.toFixed(1)}/s for ${options.rate}/s sent, ${run.stock} units of each SKU); waiting for the pipeline to drain`,
    );
    await waitForDrain(run, stack, options.stallMs);
    await waitUntilIdle(run, stack, options.stallMs);
    if (scenario.after === 'replay') await replayRun(run, stack, options.stallMs);
    const back = await readBack(run, stack, fault);
    const faultFailures = [
      ...(fault.failures ?? []),
      ...back.faultVerdict.failures,
      ...(cancels?.failures ?? []).slice(0, 3),
    ];
    const judged =
      'defaults' in scenario
        ? judgeInjected(scenario, { run, accepted, sent, back, warm, faultFailures })
        : {
            verdict: scenario.verdict({
              accepted,
              notAccepted: sent.driven.failed.map((f) => f.error),
              effects: back.effects,
              notifications: back.notifications,
              faultFailures,
              cancelAnswers: cancels?.answers,
            }),
            figures: {},
          };
    return {
      ...resultOf(scenario, { run, options, accepted, sent, back, cancels, verdict: judged.verdict }),
      ...judged.figures,
      durationS: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await run.dispose();
  }
}

/**
 * An injected-error scenario's verdict, on its measured orders (its warm-up's are checked with the rest:
 * notices, stock), in the shape of the others', with its figures: the attempts per order, the flash sale's.
 */
function judgeInjected(
  scenario: AwsChaosScenario,
  r: {
    run: ChaosRun;
    accepted: string[];
    sent: { driven: DriveResult };
    back: ReadBack;
    warm: ChildStats | undefined;
    faultFailures: string[];
  },
): { verdict: KillVerdict; figures: Partial<ScenarioResult> } {
  const { run, back } = r;
  const [stats] = back.stats;
  const measured = measuredOnly(back.effects);
  const effects: AwsScenarioEffects = {
    sent: run.session.orders,
    accepted: r.accepted,
    notAccepted: r.sent.driven.failed.length,
    stock: run.stock,
    effects: measured,
    notifications: back.notifications,
    deadLettered: back.deadLettered,
    profile: run.profile as FaultProfile,
    faults: stats?.faults,
  };
  const ended = scenario.name === 'flash-sale' ? ['SHIPPED', 'REJECTED'] : ['SHIPPED'];
  const lost = r.accepted.filter((id) => !ended.includes(measured.orders.get(id)?.status ?? ''));
  const verdict = {
    failures: [...r.faultFailures, ...scenario.verdict(effects)],
    lost,
    completed: measured.shipped.size,
  };
  // Per order the API wrote (a POST whose 202 the client missed still went down the pipeline).
  const attempts = attemptsOf(stats, r.warm, measured.orders.size);
  run.note(attemptsLine(attempts));
  const since = countersSince(stats?.faults, r.warm?.faults);
  const transactions = since?.byRule['count:dynamodb:TransactWriteItems']?.matched ?? 0;
  const flashSale =
    scenario.name === 'flash-sale'
      ? flashSaleFigures(measured, run.tracker, run.stock, transactions)
      : undefined;
  if (flashSale)
    run.note(
      `${flashSale.reserved} reserved at ${flashSale.reservationsPerSec}/s over ${flashSale.reservingS} s, ${flashSale.rejected} rejected; ${flashSale.transactionsPerReservation} transactions per reservation (${flashSale.transactionsPerDecision} per decision); 202 → shipped p50 ${flashSale.reservedLatency.p50Ms} ms, p99 ${flashSale.reservedLatency.p99Ms} ms`,
    );
  return {
    verdict,
    figures: { attempts, ...(flashSale ? { flashSale } : {}), faultProfile: run.profile?.name },
  };
}

/** The row and JSON of a finished scenario, from what the run left behind and its verdict. */
function resultOf(
  scenario: ChaosScenario,
  r: {
    run: ChaosRun;
    options: ChaosOptions;
    accepted: string[];
    sent: { driven: DriveResult; acceptedPerSec: number };
    back: ReadBack;
    cancels: Cancelling | undefined;
    verdict: KillVerdict;
  },
) {
  const { run, back, verdict } = r;
  const cancellation = verdict.cancellation;
  return {
    scenario: scenario.name,
    pass: verdict.failures.length === 0,
    sent: r.options.orders,
    accepted: r.accepted.length,
    /** Orders accepted per second, from the first POST to the last 202 (the target is `rate`). */
    acceptedPerSec: Math.round(r.sent.acceptedPerSec * 10) / 10,
    /** Accepted orders with their order-shipped notification recorded. */
    completed: verdict.completed,
    /** Accepted orders that never got there (runtime-kill-cancel: never SHIPPED, REJECTED, or CANCELLED with the stock back). */
    lost: verdict.lost.length,
    /** runtime-kill-cancel: the cancels sent and how they were answered. */
    ...(cancellation
      ? {
          cancellations: {
            sent: r.cancels?.sent.length ?? 0,
            accepted: cancellation.accepted,
            refused: cancellation.refused,
            cancelled: cancellation.cancelled,
            /** The cancelled orders by the status they were cancelled from (RECEIVED: before inventory). */
            cancelledFrom: cancellation.cancelledFrom,
            contradictions: cancellation.contradictions.length,
          },
        }
      : {}),
    /** POSTs that never got a 202, despite the client's retries. */
    notAccepted: r.sent.driven.failed.length,
    /** (order, kind) recorded more than once, or sent more than once. */
    duplicateNotifications: back.notifications.duplicates.length,
    /** Notifications published again after a crash mid-send (same id; subscribers drop the repeat). */
    repeatedSends: back.notifications.repeatedSends.length,
    /** (order, kind) a final status implies but not recorded, produced but not recorded, recorded but not sent, or sent but not recorded. */
    missingNotifications: back.notifications.missing.length,
    /** Notifications sent, as the runtimes' logs show them. */
    deliveries: [...back.deliveries.values()].reduce((n, c) => n + c, 0),
    doubleReservedUnits: back.effects.doubleReservedUnits,
    stockMismatches: back.effects.stockMismatches.length,
    poison: back.faultVerdict.poison,
    /** crash-poison: where its records ended, and what the runtimes lost to them. */
    crashPoison: back.faultVerdict.crashPoison,
    /** This run's DeadLetterQueue records, by reason. */
    deadLettered: back.deadLettered,
    orderStatuses: measuredOnly(back.effects).statuses,
    /** A few of the notification problems, for the post-mortem. */
    notificationSamples: {
      duplicates: back.notifications.duplicates.slice(0, 5),
      missing: back.notifications.missing.slice(0, 5),
    },
    /** Completions a runtime reported for an order already completed (a record processed again: no harm by itself). */
    completionsReportedAgain: run.tracker.repeated,
    failures: verdict.failures,
    events: run.events,
    /** The first runtime's log. */
    logFile: run.runtimes.logFiles[0] ?? '',
    /** Every runtime's log (restarts, second runtimes). */
    logFiles: run.runtimes.logFiles,
  };
}

/** A scenario's row and JSON: what every scenario reports, and what only some do. */
export type ScenarioResult = Omit<ReturnType<typeof resultOf>, 'scenario'> & {
  scenario: ChaosScenario['name'];
  /** Why it did not run (a service the run did not start). */
  skipped?: string;
  durationS: number;
  /** Injected AWS errors: the fault profile, the attempts per order and the faults injected. */
  faultProfile?: string;
  attempts?: AttemptFigures;
  /** flash-sale: reservation throughput of the one SKU, attempts per reservation, latencies. */
  flashSale?: FlashSaleFigures;
};
