/**
 * One measured phase of a bench run: the pipeline (orders through POST /orders, finished when the
 * notification function delivered their order-shipped notification) or the baseline chain (records on
 * its first topic, finished when its last hop has forwarded them).
 */
import { Admin } from '@platformatic/kafka';
import { manifest } from '../../topology/manifest.ts';
import { type RunningChild, startChild } from './child-process.ts';
import { CompletionTracker, drive, type Load, waitForCompletions } from './driver.ts';
import { benchOrder, stockFor } from './orders.ts';
import { type Progress, progressBar } from './progress.ts';
import type { ChildStats, Completion } from './protocol.ts';
import { logFileFor, preparePipeline } from './session.ts';
import type { BenchStack } from './stack.ts';
import { benchCatalog, newRunId } from './stack.ts';
import { type LatencySummary, summarize } from './stats.ts';
import { baselineSender, postOrder } from './submit.ts';

export interface PhaseOptions {
  orders: number;
  load: Load;
  /** Orders sent (and waited for) before measuring, so JIT, connections and caches are warm. */
  warmup: number;
  /** Give up waiting when no order finished for this long. */
  stallMs: number;
  quiet?: boolean;
  log: (line: string) => void;
}

export interface PhaseResult extends LatencySummary {
  kind: 'pipeline' | 'baseline';
  ordersPerSec: number;
  sent: number;
  accepted: number;
  completed: number;
  /** Accepted but never finished (within the stall timeout). */
  missing: number;
  /** Submissions that failed for good. */
  failed: number;
  /** Finished orders whose final notification was reported more than once. */
  repeated: number;
  /** First submission to last completion. */
  durationS: number;
  /** The child's counters for the measured orders only (warm-up subtracted). */
  stats: ChildStats;
  logBytes: number;
  tablePrefix: string;
  logFile: string;
}

/** after - before, for every numeric leaf (the counters only grow). */
export function subtractStats<T>(after: T, before: T | undefined): T {
  if (before === undefined) return after;
  if (typeof after === 'number') return (after - ((before as number) ?? 0)) as T;
  if (after && typeof after === 'object') {
    return Object.fromEntries(
      Object.entries(after).map(([key, value]) => [
        key,
        key === 'memoryMb' ? value : subtractStats(value, (before as Record<string, unknown>)?.[key]),
      ]),
    ) as T;
  }
  return after;
}

interface Target {
  child: RunningChild;
  submit: (index: number) => Promise<string>;
  dispose: () => Promise<void>;
  tablePrefix: string;
  logFile: string;
}

async function pipelineTarget(
  stack: BenchStack,
  runId: string,
  options: PhaseOptions,
  onCompleted: (c: Completion[]) => void,
): Promise<Target> {
  const session = await preparePipeline(stack, runId, stockFor(options.orders + options.warmup));
  const logFile = logFileFor(runId, 'pipeline');
  const child = await startChild({
    config: {
      mode: 'pipeline',
      runId,
      kafkaBrokers: stack.kafkaBrokers,
      dynamodbEndpoint: stack.dynamodbEndpoint,
      tablePrefix: session.tablePrefix,
      apiPort: 0,
    },
    onCompleted,
    logFile,
  }).catch(async (error: unknown) => {
    await session.dispose().catch(() => undefined);
    throw error;
  });
  const apiUrl = child.apiUrl as string;
  return {
    child,
    submit: (index) => postOrder(apiUrl, benchOrder(runId, index, session.entries)),
    dispose: () => session.dispose(),
    tablePrefix: session.tablePrefix,
    logFile,
  };
}

async function baselineTarget(
  stack: BenchStack,
  runId: string,
  onCompleted: (c: Completion[]) => void,
): Promise<Target> {
  const topics = Array.from({ length: 5 }, (_, i) => `bench-${runId}-hop${i}`);
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: stack.kafkaBrokers });
  await admin.createTopics({ topics, partitions: manifest.topics.OrderReceived.partitions, replicas: 1 });
  const logFile = logFileFor(runId, 'baseline');
  let child: RunningChild;
  try {
    child = await startChild({
      config: {
        mode: 'baseline',
        runId,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        tablePrefix: `bench-${runId}`,
        apiPort: 0,
        baselineTopics: topics,
      },
      onCompleted,
      logFile,
    });
  } catch (error) {
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.close();
    throw error;
  }
  const sender = baselineSender(stack.kafkaBrokers, topics[0] as string);
  const entries = benchCatalog(1);
  return {
    child,
    submit: (index) => sender.send(benchOrder(runId, index, entries)),
    dispose: async () => {
      await sender.close();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.close();
    },
    tablePrefix: '',
    logFile,
  };
}

/** Index offset of warm-up orders, so their ids never collide with measured ones. */
const WARMUP_OFFSET = 10_000_000;

export async function runPhase(
  kind: 'pipeline' | 'baseline',
  stack: BenchStack,
  options: PhaseOptions,
): Promise<PhaseResult> {
  const runId = newRunId();
  let tracker = new CompletionTracker();
  const onCompleted = (completions: Completion[]) => tracker.complete(completions);
  const target =
    kind === 'pipeline'
      ? await pipelineTarget(stack, runId, options, onCompleted)
      : await baselineTarget(stack, runId, onCompleted);
  try {
    if (options.warmup > 0) {
      await drive({
        count: options.warmup,
        load: { kind: 'concurrency', inFlight: Math.min(options.warmup, 10) },
        submit: (index) => target.submit(WARMUP_OFFSET + index),
        tracker,
      });
      await waitForCompletions(tracker, options.stallMs);
    }
    const before = await target.child.stats();
    const logBytesBefore = target.child.logBytes();

    tracker = new CompletionTracker();
    const progress: Progress | undefined = options.quiet
      ? undefined
      : progressBar(kind.padEnd(8), options.orders);
    const status = () => `accepted ${tracker.accepted.size}  done ${tracker.completed.size}`;
    tracker.onChange(() => progress?.update(tracker.completed.size, status()));
    const driven = await drive({ count: options.orders, load: options.load, submit: target.submit, tracker });
    const missing = await waitForCompletions(tracker, options.stallMs);
    progress?.finish(tracker.completed.size, status());
    for (const failure of driven.failed.slice(0, 5))
      options.log(`[${kind}] order ${failure.index} not accepted: ${failure.error}`);
    if (missing.length > 0)
      options.log(
        `[${kind}] ${missing.length} accepted order(s) never finished, e.g. ${missing.slice(0, 3).join(', ')}`,
      );

    const after = await target.child.stats();
    const logBytes = target.child.logBytes() - logBytesBefore;
    await target.child.stop();
    const first = tracker.firstSentAt ?? 0;
    const last = tracker.lastCompletedAt() ?? first;
    const durationS = (last - first) / 1000;
    return {
      kind,
      ...summarize(tracker.latencies()),
      ordersPerSec: durationS > 0 ? Math.round((tracker.completed.size / durationS) * 100) / 100 : 0,
      sent: options.orders,
      accepted: tracker.accepted.size,
      completed: tracker.completed.size,
      missing: missing.length,
      failed: driven.failed.length,
      repeated: tracker.repeated,
      durationS: Math.round(durationS * 100) / 100,
      stats: subtractStats(after, before),
      logBytes,
      tablePrefix: target.tablePrefix,
      logFile: target.logFile,
    };
  } finally {
    await target.child.stop().catch(() => undefined);
    await target.dispose().catch(() => undefined);
  }
}
