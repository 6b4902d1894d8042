/**
 * The one runner of every `npm run chaos` scenario (./chaos-scenarios.ts). Per scenario: fresh tables
 * stocked as it says, runtimes behind a round-robin API, its warm-up, its fault armed, its orders at their
 * rate (a careful client: retries with the same order id) with the cancels of runtime-kill-cancel, the
 * drain, the replay, then the read-back of what the run left behind (DynamoDB, the Notification and
 * DeadLetterQueue topics, the sends in every runtime's log) for its pure verdict; and the run's figures
 * (attempts per order under injected errors, the flash sale's).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CrashKind } from '../../local/faults/crash-poison.ts';
import {
  type FaultCounters,
  type FaultProfile,
  type FaultRuleInput,
  parseFaultProfile,
} from '../../local/faults/profile.ts';
import { topicOffsets } from '../../local/infra/consumer-lag.ts';
import { findFreePorts } from '../../local/infra/index.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import { countBy, type FaultRun, list } from './chaos-faults.ts';
import { isWarmup, type Scenario } from './chaos-scenarios.ts';
import { CompletionTracker, pipelineLag, sendAtRate, waitForCompletions } from './driver.ts';
import { benchOrder, cancelOrder, stockFor } from './orders.ts';
import { subtractStats } from './phase.ts';
import {
  type ChildConfig,
  type ChildStats,
  type Completion,
  type RunningChild,
  startChild,
} from './protocol.ts';
import { type BenchStack, commitGroupsAt, logFileFor, newAdmin, newRunId, preparePipeline } from './stack.ts';
import { summarize } from './stats.ts';
import {
  type CancelAnswer,
  checkNotifications,
  type EffectsReport,
  parseDeadLetter,
  readDeliveries,
  readEffects,
  readProducedNotifications,
  readRange,
} from './verify.ts';

interface ChaosOptions {
  orders: number;
  rate: number;
  stallMs: number;
  /** runtime-kill-cancel: the share of the accepted orders cancelled (default DEFAULT_CANCEL_SHARE). */
  cancelShare?: number;
  /** crash-poison: the kinds of crash injected (default exit and oom). */
  crashKinds?: readonly CrashKind[];
  log: (line: string) => void;
}

export const DEFAULT_CANCEL_SHARE = 0.3;
/**
 * runtime-kill-cancel: a cancel is sent a random moment up to this long after the order's 202, short
 * delays likelier (squared uniform): an order is past inventory within a few hundred ms and shipped
 * within a second or two when nothing is killed, so some cancels come before inventory, some after, some
 * too late (409).
 */
const CANCEL_WITHIN_MS = 2_500;

/** One scenario's run, what its fault works with: its tables, its runtimes, what it noted. */
export type ChaosRun = Awaited<ReturnType<typeof startRun>>;

/** Fresh tables stocked as the scenario says, and the means to start its runtimes (none started yet). */
async function startRun(scenario: Scenario, stack: BenchStack, options: ChaosOptions) {
  const runId = newRunId();
  const stock = (scenario.stockFor ?? stockFor)(options.orders);
  const prepared = await preparePipeline(stack, runId, stock, scenario.catalog?.(stock));
  const session = { ...prepared, orders: options.orders };
  const profile = scenario.profile && withCountingRules(scenario.profile({ ...options, stock }));
  const admin = newAdmin(stack.kafkaBrokers);
  const dlqStart = await topicOffsets(admin, [deadLetterTopic]);
  const [apiPort] = await findFreePorts(1);
  const tracker = new CompletionTracker();
  const events: string[] = [];
  const runtimes = runtimePool(`chaos-${scenario.name}`, tracker, {
    mode: 'pipeline',
    runId,
    kafkaBrokers: stack.kafkaBrokers,
    dynamodbEndpoint: stack.dynamodbEndpoint,
    snsEndpoint: stack.snsEndpoint,
    tablePrefix: session.tablePrefix,
    apiPort: apiPort as number,
    handlerWrapper: scenario.handlerWrapper,
    faults: profile,
  });
  let driving = true;
  return {
    stack,
    runId,
    stock,
    session,
    profile,
    admin,
    dlqStart,
    tracker,
    events,
    runtimes,
    crashKinds: options.crashKinds,
    note: (line: string) => {
      events.push(line);
      options.log(`[chaos:${scenario.name}] ${line}`);
    },
    /** Resolves once `count` orders were accepted (or every order was sent). */
    acceptedAtLeast: async (count: number) => {
      while (tracker.accepted.size < count && driving) await sleep(50);
    },
    doneDriving: () => {
      driving = false;
    },
    dispose: async () => {
      await runtimes.stopAll();
      await admin.close().catch(() => undefined);
      await session.dispose().catch(() => undefined);
    },
  };
}

/** The run's runtimes: the main one (restarted on the same API port), visitors, their logs. */
function runtimePool(name: string, tracker: CompletionTracker, config: ChildConfig) {
  const logFiles: string[] = [];
  const children: RunningChild[] = [];
  const visitorApis = new Map<RunningChild, string>();
  let current: RunningChild | undefined;
  let turn = 0;
  const spawn = async (what: string, apiPort: number) => {
    const logFile = logFileFor(config.runId, `${name}${logFiles.length === 0 ? '' : `-${what}`}`);
    logFiles.push(logFile);
    const onCompleted = (completions: Completion[]) => tracker.complete(completions);
    const child = await startChild({ config: { ...config, apiPort }, onCompleted, logFile });
    children.push(child);
    return child;
  };
  return {
    logFiles,
    children,
    /** The runtime that serves the API the orders are sent to. */
    current: () => current as RunningChild,
    /** Starts the main runtime, or replaces it (same API port). */
    startRuntime: async () => {
      current = await spawn(`runtime${children.length + 1}`, config.apiPort);
      return current;
    },
    /** Another runtime in the same consumer groups, on the same tables; its API takes orders too. */
    startVisitor: async () => {
      const visitor = await spawn(`visitor${children.length + 1}`, 0);
      if (visitor.apiUrl) visitorApis.set(visitor, visitor.apiUrl);
      return visitor;
    },
    /** The visitor is going: no more orders to its API. */
    retireVisitor: (visitor: RunningChild) => void visitorApis.delete(visitor),
    // Orders go round-robin to every runtime's API, as behind a load balancer.
    pickApi: () => {
      const apis = [`http://127.0.0.1:${config.apiPort}`, ...visitorApis.values()];
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

/** Sends the scenario's warm-up orders and waits for them; resolves with the counters after them. */
async function warmUp(scenario: Scenario, run: ChaosRun, options: ChaosOptions) {
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

const lagOf = (run: ChaosRun) => pipelineLag(run.stack, run.runId, run.session.startOffsets);

/**
 * Waits until the run's groups committed everything (and stayed so for `quietMs`) and every accepted order
 * reported its last notice, or the groups were idle for 10 s (completions reported by a killed runtime may
 * be lost on the way: the read-back judges), or nothing progressed for `stallMs`.
 */
async function drain(run: ChaosRun, stallMs: number, quietMs = 0): Promise<void> {
  let last = Number.NaN;
  let lastProgress = Date.now();
  let idleSince: number | undefined;
  for (; ; await sleep(1_000)) {
    const lag = await lagOf(run).catch(() => -1);
    const progress = run.tracker.completed.size * 1_000_000 - lag;
    if (progress !== last) [last, lastProgress] = [progress, Date.now()];
    idleSince = lag === 0 ? (idleSince ?? Date.now()) : undefined;
    const idleFor = idleSince === undefined ? -1 : Date.now() - idleSince;
    if (idleFor >= quietMs && (run.tracker.missing().length === 0 || idleFor > 10_000)) return;
    if (Date.now() - lastProgress > stallMs) return;
  }
}

/**
 * replay: every runtime stopped, the run's consumer groups reset to where the run began (on a broker of
 * its own: the beginning of the topics), a new runtime delivers everything again.
 */
async function replayRun(run: ChaosRun, stallMs: number): Promise<void> {
  const { session, stack } = run;
  const notifications = async () =>
    (await readEffects(stack.dynamodbEndpoint, session.tablePrefix, run.stock)).notifications;
  const before = await notifications();
  await run.runtimes.stopAll();
  await commitGroupsAt(run.admin, run.runId, session.startOffsets);
  const fromTheStart = [...session.startOffsets.values()].every((partitions) =>
    [...partitions.values()].every((offset) => offset === 0n),
  );
  run.note(
    `consumer groups reset to ${fromTheStart ? 'the beginning of every topic (earliest)' : 'where the run began (the topics hold older records of other runs)'}; ${await lagOf(run)} records to deliver again`,
  );
  const runtime = await run.runtimes.startRuntime();
  const replayStarted = Date.now();
  await drain(run, stallMs, 2_000);
  const stats = await runtime.stats();
  const reproduced = Object.entries(stats.produced)
    .filter(([topic]) => topic !== 'KPIs')
    .reduce((n, [, c]) => n + c.records, 0);
  run.note(
    `replayed in ${((Date.now() - replayStarted) / 1000).toFixed(1)} s: ${Object.values(stats.functions).reduce((n, f) => n + f.records, 0)} records delivered again, ${reproduced} pipeline events produced again`,
  );
  const after = await notifications();
  if (after !== before) run.note(`notifications went from ${before} to ${after} during the replay`);
}

/**
 * What the run left behind, once every runtime stopped and wrote its last line: the tables, the dead
 * letters (this run's own, by reason), the fault's verdict on them, the notifications recorded, produced
 * and sent, every runtime's last counters.
 */
async function readBack(run: ChaosRun, fault: FaultRun) {
  const { runtimes, session, stack } = run;
  await runtimes.stopAll();
  await Promise.all(runtimes.children.map((child) => Promise.race([child.logClosed, sleep(10_000)])));
  const effects = await readEffects(stack.dynamodbEndpoint, session.tablePrefix, run.stock);
  // What the verdict and the figures judge: the measured orders (a warm-up's are checked with the rest).
  const measured = measuredOnly(effects);
  const ends = await topicOffsets(run.admin, [deadLetterTopic, 'Notification']);
  const records = await readRange(stack.kafkaBrokers, deadLetterTopic, run.dlqStart, ends);
  const deadLetters = records.map(parseDeadLetter).filter((d) => d.reason !== 'replay-marker');
  const ours = deadLetters.filter((d) =>
    ['bench', 'poison', 'crash'].some((kind) => d.originalKey?.startsWith(`${kind}-${run.runId}-`)),
  );
  const deadLettered = countBy(ours, (d) => d.reason);
  const stats = runtimes.children.flatMap((child) => child.lastStats() ?? []);
  const evidence = { deadLetterRecords: records, deadLetters, stats, logFiles: runtimes.logFiles };
  const faultVerdict = fault.verdict?.(evidence) ?? { failures: [] };
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
    produced,
    deliveries,
  });
  if (!notifications.deliveriesObserved) {
    run.note('no send found in the runtimes’ logs (log level above INFO?): sends not checked');
  }
  return { effects, measured, faultVerdict, deadLettered, deliveries, notifications, stats };
}
type ReadBack = Awaited<ReturnType<typeof readBack>>;

/** A scenario: its fault armed, the orders sent, the drain, the read-back, its verdict and figures. */
export async function runScenario(scenario: Scenario, stack: BenchStack, options: ChaosOptions) {
  const started = Date.now();
  const run = await startRun(scenario, stack, options);
  try {
    await run.runtimes.startRuntime();
    if (run.profile)
      run.note(
        `runtime child with the fault profile '${run.profile.name}': ${run.profile.description ?? ''}`,
      );
    const warm = await warmUp(scenario, run, options);
    const fault: FaultRun = (await scenario.fault?.(run)) ?? {};
    const share = options.cancelShare ?? DEFAULT_CANCEL_SHARE;
    const cancels = scenario.cancels ? cancelling(run, share) : undefined;
    const sent = await sendAtRate({
      count: options.orders,
      rate: options.rate,
      tracker: run.tracker,
      api: run.runtimes.pickApi,
      order: (index) => (scenario.order ?? benchOrder)(run.runId, index, run.session.entries),
      onAccepted: (orderId) => cancels?.maybeCancel(orderId),
    }).finally(run.doneDriving);
    await fault.during;
    await cancels?.settle();
    const accepted = [...run.tracker.accepted.keys()].filter((orderId) => !isWarmup(orderId));
    run.note(
      `${accepted.length}/${options.orders} orders accepted (${sent.acceptedPerSec.toFixed(1)}/s for ${options.rate}/s sent, ${run.stock} units of each SKU); waiting for the pipeline to drain`,
    );
    await drain(run, options.stallMs);
    if (scenario.after === 'replay') await replayRun(run, options.stallMs);
    const back = await readBack(run, fault);
    const verdict = scenario.verdict({
      accepted,
      notAccepted: sent.driven.failed.map((f) => f.error),
      stock: run.stock,
      effects: back.measured,
      notifications: back.notifications,
      deadLettered: back.deadLettered,
      faultFailures: [
        ...(fault.failures ?? []),
        ...back.faultVerdict.failures,
        ...(cancels?.failures ?? []).slice(0, 3),
      ],
      cancelAnswers: cancels?.answers,
      profile: run.profile,
      faults: back.stats[0]?.faults,
    });
    const { cancellation } = verdict;
    // The row and JSON of the scenario.
    return {
      scenario: scenario.name,
      pass: verdict.failures.length === 0,
      sent: run.session.orders,
      accepted: accepted.length,
      /** Orders accepted per second, from the first POST to the last 202 (the target is `rate`). */
      acceptedPerSec: Math.round(sent.acceptedPerSec * 10) / 10,
      completed: verdict.completed,
      lost: verdict.lost.length,
      /** runtime-kill-cancel: the cancels sent, how they were answered, how the orders ended. */
      cancellations: cancellation && {
        sent: cancels?.sent.length ?? 0,
        ...cancellation,
        contradictions: cancellation.contradictions.length,
      },
      notAccepted: sent.driven.failed.length,
      duplicateNotifications: back.notifications.duplicates.length,
      /** Notifications published again after a crash mid-send (same id; subscribers drop the repeat). */
      repeatedSends: back.notifications.repeatedSends.length,
      missingNotifications: back.notifications.missing.length,
      /** Notifications sent, as the runtimes' logs show them. */
      deliveries: [...back.deliveries.values()].reduce((n, c) => n + c, 0),
      doubleReservedUnits: back.effects.doubleReservedUnits,
      stockMismatches: back.effects.stockMismatches.length,
      poison: back.faultVerdict.poison,
      crashPoison: back.faultVerdict.crashPoison,
      deadLettered: back.deadLettered,
      orderStatuses: back.measured.statuses,
      /** A few of the notification problems, for the post-mortem. */
      notificationSamples: {
        duplicates: back.notifications.duplicates.slice(0, 5),
        missing: back.notifications.missing.slice(0, 5),
      },
      /** Completions a runtime reported for an order already completed (a record processed again: no harm by itself). */
      completionsReportedAgain: run.tracker.repeated,
      failures: verdict.failures,
      events: run.events,
      /** Every runtime's log, the first runtime's first (restarts, second runtimes). */
      logFiles: run.runtimes.logFiles,
      ...(run.profile ? injectedFigures(scenario, run, back, warm) : {}),
      durationS: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await run.dispose();
  }
}

/** Injected AWS errors: the attempts per measured order, and the flash sale's figures. */
function injectedFigures(scenario: Scenario, run: ChaosRun, back: ReadBack, warm: ChildStats | undefined) {
  const [stats] = back.stats;
  const { measured } = back;
  // Per order the API wrote (a POST whose 202 the client missed still went down the pipeline).
  const attempts = attemptsOf(stats, warm, measured.orders.size);
  run.note(attemptsLine(attempts));
  const faultProfile = run.profile?.name;
  if (scenario.name !== 'flash-sale') return { attempts, faultProfile };
  const since = subtractStats(stats?.faults, warm?.faults);
  const transactions = since?.byRule['count:dynamodb:TransactWriteItems']?.matched ?? 0;
  const flashSale = flashSaleFigures(measured, run.tracker, run.stock, transactions);
  run.note(
    `${flashSale.reserved} reserved at ${flashSale.reservationsPerSec}/s over ${flashSale.reservingS} s, ${flashSale.rejected} rejected; ${flashSale.transactionsPerReservation} transactions per reservation (${flashSale.transactionsPerDecision} per decision); 202 → shipped p50 ${flashSale.reservedLatency.p50Ms} ms, p99 ${flashSale.reservedLatency.p99Ms} ms`,
  );
  return { attempts, flashSale, faultProfile };
}

/** A scenario's row and JSON: what every scenario reports, and what only some do. */
export type ScenarioResult = Awaited<ReturnType<typeof runScenario>> &
  Partial<ReturnType<typeof injectedFigures>> & {
    /** Why it did not run (a service the run did not start). */
    skipped?: string;
  };

/**
 * Rules that never fire (rate 0) but count, in the layer's `byRule.matched`, every request of their kind:
 * the attempts per order (each HTTP request the functions' clients make, the SDK's own retries included).
 * First, so that each matches every request (latency rules are drawn whatever fires after them).
 */
const COUNTING_RULES: FaultRuleInput[] = [
  { name: 'count:dynamodb', service: 'dynamodb' },
  { name: 'count:dynamodb:TransactWriteItems', service: 'dynamodb', operations: ['TransactWriteItems'] },
  { name: 'count:sns', service: 'sns' },
].map((rule) => ({ ...rule, rate: 0, fault: { kind: 'latency', ms: 0 } }) as FaultRuleInput);

export const withCountingRules = (profile: FaultProfile): FaultProfile =>
  parseFaultProfile({ ...profile, rules: [...COUNTING_RULES, ...profile.rules] });

const countOf = (faults: FaultCounters | undefined, rule: string) => faults?.byRule[rule]?.matched ?? 0;

const per = (n: number, orders: number) => Math.round((n / Math.max(1, orders)) * 100) / 100;

/**
 * The attempts of the measured orders, from the counters at the end less those after the warm-up: the
 * fault layer's requests, the probe's calls and the mappings' failed invocations.
 */
export function attemptsOf(stats: ChildStats | undefined, warm: ChildStats | undefined, orders: number) {
  const since = subtractStats(stats, warm);
  const faults = since?.faults;
  const { latency: _latency, ...errors } = faults?.byKind ?? {};
  const dynamodbCalls = Object.values(since?.dynamodb ?? {}).reduce((n, table) => n + table.calls, 0);
  const failedInvocations = Object.values(since?.emulators ?? {}).reduce(
    (n, e) => n + e.failedInvocations,
    0,
  );
  return {
    /** The run's orders in the orders table (the API wrote them): what the figures are divided by. */
    orders,
    /** Every HTTP request (the SDK's retries and the functions' own), and the calls the functions made. */
    dynamodbRequestsPerOrder: per(countOf(faults, 'count:dynamodb'), orders),
    dynamodbCallsPerOrder: per(dynamodbCalls, orders),
    snsRequestsPerOrder: per(countOf(faults, 'count:sns'), orders),
    /** Errors and dropped connections injected per order; injections by kind (latency aside) over the run. */
    injectedPerOrder: per(faults?.injected ?? 0, orders),
    injectedByKind: Object.fromEntries(Object.entries(errors).sort()),
    /** Mapping invocations that failed (their batch retried or bisected). */
    failedInvocations,
    failedInvocationsPerOrder: per(failedInvocations, orders),
    transactionsPerOrder: per(countOf(faults, 'count:dynamodb:TransactWriteItems'), orders),
  };
}
type AttemptFigures = ReturnType<typeof attemptsOf>;

export const attemptsLine = (a: AttemptFigures) =>
  `per order: ${a.dynamodbRequestsPerOrder} DynamoDB requests for ${a.dynamodbCallsPerOrder} calls, ${a.snsRequestsPerOrder} SNS requests, ${a.transactionsPerOrder} inventory transactions, ${a.injectedPerOrder} faults injected, ${a.failedInvocationsPerOrder} failed invocations retried (${a.failedInvocations}); injected: ${list(a.injectedByKind, 'nothing')}`;

/** The effects of the measured orders only (the warm-up's are checked with the rest: notices, stock). */
export function measuredOnly(effects: EffectsReport): EffectsReport {
  const orders = new Map([...effects.orders].filter(([orderId]) => !isWarmup(orderId)));
  const statuses: Record<string, number> = {};
  for (const order of orders.values()) statuses[order.status] = (statuses[order.status] ?? 0) + 1;
  const shipped = new Set([...effects.shipped].filter((orderId) => !isWarmup(orderId)));
  return { ...effects, orders, statuses, shipped };
}

/** Reservations per second from the CONFIRMED times of the orders' histories (n reservations, n − 1 gaps). */
export function reservationRate(confirmedAt: readonly string[]): { perSec: number; spanS: number } {
  const times = confirmedAt.map((at) => Date.parse(at)).filter(Number.isFinite);
  if (times.length < 2) return { perSec: 0, spanS: 0 };
  const spanS = Math.max(0.001, (Math.max(...times) - Math.min(...times)) / 1000);
  return { perSec: Math.round(((times.length - 1) / spanS) * 10) / 10, spanS: Math.round(spanS * 100) / 100 };
}

/**
 * The flash sale's figures, from its measured orders, their completions and the inventory transactions
 * counted: reservations/s while stock lasted, transactions per decision and per reservation, and the
 * latency (202 to the final notice delivered) of the orders that got a unit and of those rejected.
 */
export function flashSaleFigures(
  measured: EffectsReport,
  tracker: CompletionTracker,
  stock: number,
  transactions: number,
) {
  // When inventory reserved each unit: the order's CONFIRMED entry.
  const reserved = [...measured.orders.values()].flatMap(
    (o) => o.history.find((entry) => entry.status === 'CONFIRMED')?.at ?? [],
  );
  const rejected = measured.statuses.REJECTED ?? 0;
  const rate = reservationRate(reserved);
  const latency = (kind: string) => {
    const samples = [...tracker.completed.values()].flatMap((c) => {
      const accepted = tracker.accepted.get(c.orderId);
      return c.kind === kind && accepted !== undefined && !isWarmup(c.orderId) ? [c.at - accepted] : [];
    });
    const { p50Ms, p99Ms, count } = summarize(samples);
    return { p50Ms, p99Ms, count };
  };
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
