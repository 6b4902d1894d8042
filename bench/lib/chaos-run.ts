/**
 * The steps ../chaos.ts's `runScenario` runs each scenario of ./chaos-scenarios.ts through: fresh tables and
 * runtimes behind a round-robin API (`startKillRun`), the orders at their rate (`sendOrders`) with the
 * cancels of runtime-kill-cancel (`cancelling`), the drain, the replay, and the read-back of what the run
 * left behind (`readBack`) for the scenario's pure verdict.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CrashKind } from '../../local/faults/crash-poison.ts';
import { findFreePorts } from '../../local/infra/index.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import { cancelOrder } from './cancel.ts';
import type { FaultRun, FaultVerdict, Harness } from './chaos-faults.ts';
import type { KillScenario } from './chaos-scenarios.ts';
import { type RunningChild, startChild } from './child-process.ts';
import { CompletionTracker, type DriveResult, drive } from './driver.ts';
import { pipelineLag } from './lag.ts';
import { benchOrder, stockFor } from './orders.ts';
import type { Completion } from './protocol.ts';
import { commitGroupsAt, logFileFor, type PipelineSession, preparePipeline } from './session.ts';
import { type BenchStack, endOffsets, newAdmin, newRunId, type Offsets } from './stack.ts';
import { postOrder } from './submit.ts';
import {
  type CancelAnswer,
  checkNotifications,
  parseDeadLetter,
  readDeliveries,
  readEffects,
  readProducedNotifications,
  readRange,
} from './verify.ts';

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
export const CANCEL_WITHIN_MS = 2_500;

const DLQ = deadLetterTopic;

/** One scenario's run: its tables, its runtimes, what it noted. */
export type KillRun = Awaited<ReturnType<typeof startKillRun>>;

/** Fresh tables for the run, and the means to start its runtimes (none started yet). */
export async function startKillRun(scenario: KillScenario, stack: BenchStack, options: ChaosOptions) {
  const runId = newRunId();
  const stock = stockFor(options.orders);
  const session = { ...(await preparePipeline(stack, runId, stock)), orders: options.orders };
  const admin = newAdmin(stack.kafkaBrokers);
  const dlqStart = await endOffsets(admin, [DLQ]);
  const [apiPort] = await findFreePorts(1);
  const tracker = new CompletionTracker();
  const events: string[] = [];
  const note = (line: string) => {
    events.push(line);
    options.log(`[chaos:${scenario.name}] ${line}`);
  };
  const runtimes = runtimePool(scenario, stack, session, tracker, apiPort as number);
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
  scenario: KillScenario,
  stack: BenchStack,
  session: PipelineSession,
  tracker: CompletionTracker,
  apiPort: number,
) {
  const logFiles: string[] = [];
  const children: RunningChild[] = [];
  const visitorApis = new Map<RunningChild, string>();
  const mainApi = `http://127.0.0.1:${apiPort}`;
  let current: RunningChild | undefined;
  let turn = 0;
  const spawn = async (what: string, port: number) => {
    const logFile = logFileFor(
      session.runId,
      `chaos-${scenario.name}${logFiles.length === 0 ? '' : `-${what}`}`,
    );
    logFiles.push(logFile);
    const child = await startChild({
      config: {
        mode: 'pipeline',
        runId: session.runId,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        snsEndpoint: stack.snsEndpoint,
        tablePrefix: session.tablePrefix,
        apiPort: port,
        handlerWrapper: scenario.handlerWrapper,
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
      current = await spawn(`runtime${children.length + 1}`, apiPort);
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
export function cancelling(run: KillRun, share: number) {
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
export type Cancelling = ReturnType<typeof cancelling>;

/** The orders at their rate, round-robin over the runtimes' APIs; the rate they were accepted at. */
export async function sendOrders(
  run: KillRun,
  options: ChaosOptions,
  onAccepted: (orderId: string) => void,
): Promise<{ driven: DriveResult; acceptedPerSec: number }> {
  const sendingFrom = Date.now();
  let lastAcceptedAt = sendingFrom;
  const driven = await drive({
    count: options.orders,
    load: { kind: 'rate', perSecond: options.rate },
    tracker: run.tracker,
    submit: async (index) => {
      const order = benchOrder(run.runId, index, run.session.entries);
      const orderId = await postOrder(run.runtimes.pickApi, order, { deadlineMs: 180_000 });
      lastAcceptedAt = Date.now();
      onAccepted(orderId);
      return orderId;
    },
  }).finally(() => {
    run.driving.done = true;
  });
  const acceptedPerSec = run.tracker.accepted.size / Math.max(0.001, (lastAcceptedAt - sendingFrom) / 1000);
  return { driven, acceptedPerSec };
}

/**
 * Waits until every accepted order reported its order-shipped notification, or the pipeline is idle
 * (nothing left to consume) and nothing progressed for `stallMs`. Completions reported by a killed
 * runtime may be lost on the way: an idle pipeline is then checked against DynamoDB by the caller.
 */
export async function waitForDrain(run: KillRun, stack: BenchStack, stallMs: number): Promise<void> {
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

/** Until the run's groups committed everything (a cancelled order's last notification may trail). */
export async function waitUntilIdle(run: KillRun, stack: BenchStack, stallMs: number): Promise<void> {
  for (const idleBy = Date.now() + stallMs; Date.now() < idleBy; await sleep(1_000)) {
    if ((await pipelineLag(stack, run.runId, run.session.startOffsets).catch(() => -1)) === 0) return;
  }
}

/**
 * replay: every runtime stopped, the run's consumer groups reset to where the run began (on a broker of
 * its own: the beginning of the topics), a new runtime delivers everything again.
 */
export async function replayRun(run: KillRun, stack: BenchStack, stallMs: number): Promise<void> {
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
async function deadLettersOf(run: KillRun, stack: BenchStack, ends: Offsets) {
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
 * verdict on the evidence, the dead letters, the notifications recorded, produced and sent.
 */
export async function readBack(run: KillRun, stack: BenchStack, fault: FaultRun) {
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
  return { effects, faultVerdict, deadLettered: dlq.deadLettered, deliveries, notifications };
}
