/**
 * The systems a bench run measures (the pipeline, or the baseline's bare Kafka hops), and one measured
 * segment on them: open loop (`rate`) or closed loop (`concurrency`), as bench/README.md describes. One
 * target can be measured several times in a row, on the same warm runtime. Open loop: `warmup` orders are
 * sent and waited for before the counters are read. Closed loop: one continuous loop of
 * `warmup + orders + cooldown` orders, the throughput taken between the `warmup`-th and the
 * `(warmup + orders)`-th completion, the counters over the whole loop.
 */
import { manifest } from '../../topology/manifest.ts';
import { costReport } from './cost.ts';
import { cpuUsage, type Processes, sampleCpu } from './cpu.ts';
import { CompletionTracker, drive, type Load, progressBar, waitForCompletions } from './driver.ts';
import { baselineSender, benchOrder, postOrder } from './orders.ts';
import { type Completion, startChild } from './protocol.ts';
import { type BenchStack, benchCatalog, logFileFor, newAdmin, newRunId, preparePipeline } from './stack.ts';
import { summarize } from './stats.ts';
import { orderPathTopics } from './topics.ts';

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

export type Target = Awaited<ReturnType<typeof openTarget>>;

/** Starts the runtime child (the pipeline, or the baseline's hops) on fresh tables and groups, or topics. */
export async function openTarget(kind: 'pipeline' | 'baseline', stack: BenchStack, stock: number) {
  const runId = newRunId();
  const logFile = logFileFor(runId, kind);
  // Where the child's completions go: the current segment's tracker (measure() sets it).
  const completions = { tracker: new CompletionTracker() };
  // What close() undoes, last first; also when opening fails halfway.
  const undo: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
  };
  try {
    const pipeline = kind === 'pipeline' ? await preparePipeline(stack, runId, stock) : undefined;
    if (pipeline) undo.push(pipeline.dispose);
    const topics = Array.from({ length: orderPathTopics.length + 1 }, (_, i) => `bench-${runId}-hop${i}`);
    if (!pipeline) {
      const admin = newAdmin(stack.kafkaBrokers);
      undo.push(() => admin.close());
      await admin.createTopics({ topics, partitions: manifest.topics.OrderReceived.partitions, replicas: 1 });
      undo.push(() => admin.deleteTopics({ topics }));
    }
    const child = await startChild({
      config: {
        runId,
        mode: kind,
        kafkaBrokers: stack.kafkaBrokers,
        dynamodbEndpoint: stack.dynamodbEndpoint,
        snsEndpoint: stack.snsEndpoint,
        apiPort: 0,
        tablePrefix: pipeline?.tablePrefix ?? `bench-${runId}`,
        ...(pipeline ? {} : { baselineTopics: topics }),
      },
      onCompleted: (done: Completion[]) => completions.tracker.complete(done),
      logFile,
    });
    undo.push(() => child.stop());
    const sender = pipeline ? undefined : baselineSender(stack.kafkaBrokers, topics[0] as string);
    if (sender) undo.push(() => sender.close());
    const entries = pipeline?.entries ?? benchCatalog(1);
    return Object.assign(completions, {
      child,
      /** Sends order `index`; resolves with its id once accepted. */
      submit: (index: number) =>
        sender
          ? sender.send(benchOrder(runId, index, entries))
          : // A retry is an extra API request (and invocation) in the counters: say why it happened.
            postOrder(child.apiUrl as string, benchOrder(runId, index, entries), {
              onRetry: (reason) =>
                process.stderr.write(`[bench] POST /orders of order ${index} retried: ${reason}\n`),
            }),
      tablePrefix: pipeline?.tablePrefix ?? '',
      logFile,
      /** `runtime` (the functions' child, or the hops'), the broker, and the pipeline's dynoxide and SNS. */
      processes: (): Processes => {
        const { kafka, ...others } = stack.servicePids();
        return { runtime: child.pid, ...(kafka === undefined ? {} : { kafka }), ...(pipeline ? others : {}) };
      },
      close,
    });
  } catch (error) {
    await close();
    throw error;
  }
}

/** What a run asks of its segments: `npm run bench`'s flags. */
export interface Loads {
  rate: number;
  orders: number;
  concurrency: number;
  warmup: number;
  /** Give up waiting when no order finished for this long. */
  stallMs: number;
}

/** Per closed loop: the completions skipped before the window opens, and the orders sent after it. */
export const closedLoopMargins = (loads: Loads) => ({
  warmup: Math.max(loads.warmup, loads.concurrency),
  cooldown: loads.concurrency,
});

export type SegmentResult = Awaited<ReturnType<typeof measure>>;

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Open loop (latency) at `rate`, or with `closed` a closed loop (throughput, soak) of `concurrency` orders
 * in flight. `label` names the segment in progress lines; order indexes start at `closed.firstIndex`
 * (ids never repeat across the segments of one target).
 */
export async function measure(
  target: Target,
  loads: Loads,
  label: string,
  closed?: { orders: number; firstIndex: number },
) {
  const log = (line: string) => process.stderr.write(`[${label.trim()}] ${line}\n`);
  const { warmup, cooldown } = closed ? closedLoopMargins(loads) : { warmup: loads.warmup, cooldown: 0 };
  const { orders, firstIndex } = closed ?? { orders: loads.orders, firstIndex: 0 };
  const load: Load = closed
    ? { kind: 'concurrency', inFlight: loads.concurrency }
    : { kind: 'rate', perSecond: loads.rate };
  if (!closed && warmup > 0) {
    target.tracker = new CompletionTracker();
    await drive({
      count: warmup,
      load: { kind: 'concurrency', inFlight: Math.min(warmup, 10) },
      submit: (index) => target.submit(firstIndex + index),
      tracker: target.tracker,
    });
    await waitForCompletions(target.tracker, loads.stallMs);
  }
  const processes = target.processes();
  const before = await target.child.stats();
  const cpuBefore = sampleCpu(processes);
  const logBytesBefore = target.child.logBytes();

  const tracker = new CompletionTracker();
  target.tracker = tracker;
  const total = closed ? warmup + orders + cooldown : orders;
  const offset = closed ? firstIndex : firstIndex + warmup;
  // The ids of the measured orders (closed loop: those between the warm-up and the cool-down).
  const measured = new Set<string>();
  const submit = async (index: number) => {
    const orderId = await target.submit(offset + index);
    if (!closed || (index >= warmup && index < warmup + orders)) measured.add(orderId);
    return orderId;
  };
  const progress = progressBar(label, total);
  const status = () => `accepted ${tracker.accepted.size}  done ${tracker.completed.size}`;
  tracker.onChange(() => progress.update(tracker.completed.size, status()));
  const driven = await drive({ count: total, load, submit, tracker });
  const missing = await waitForCompletions(tracker, loads.stallMs);
  progress.finish(tracker.completed.size, status());
  for (const failure of driven.failed.slice(0, 5))
    log(`order ${failure.index} not accepted: ${failure.error}`);
  if (missing.length > 0)
    log(`${missing.length} accepted order(s) never finished, e.g. ${missing.slice(0, 3).join(', ')}`);
  const after = await target.child.stats();
  const cpuAfter = sampleCpu(processes);

  const latencies: number[] = [];
  const measuredTimes: number[] = [];
  for (const [orderId, completion] of tracker.completed) {
    if (!measured.has(orderId)) continue;
    measuredTimes.push(completion.at);
    const accepted = tracker.accepted.get(orderId);
    if (accepted !== undefined) latencies.push(completion.at - accepted);
  }
  const allTimes = [...tracker.completed.values()].map((c) => c.at).sort((a, b) => a - b);
  measuredTimes.sort((a, b) => a - b);
  const firstSent = tracker.firstSentAt ?? 0;
  const completed = measuredTimes.length;
  // Open loop: measured orders finished / (last finish - first send). Closed loop: the orders between the
  // `warmup`-th and the `(warmup + orders)`-th completion, over the time between them (at saturation).
  const endIndex = Math.min(allTimes.length, warmup + orders) - 1;
  const windowStart = closed && warmup > 0 ? (allTimes[warmup - 1] ?? firstSent) : firstSent;
  const windowEnd = (closed ? allTimes[endIndex] : measuredTimes.at(-1)) ?? windowStart;
  const windowOrders = closed ? Math.max(0, endIndex + 1 - warmup) : completed;
  const windowS = (windowEnd - windowStart) / 1000;
  // Orders whose work the counters hold: the denominator of per-order figures.
  const countedOrders = closed ? tracker.completed.size : completed;
  const { count: _, ...latency } = summarize(latencies);
  return {
    /** What bench/results/*.json shows of the segment. */
    figures: {
      ...latency,
      ordersPerSec: windowS > 0 ? round2(windowOrders / windowS) : 0,
      windowS: round2(windowS),
      sent: orders,
      accepted: [...measured].filter((id) => tracker.accepted.has(id)).length,
      completed,
      // Accepted (any part of the segment) but never finished within the stall timeout.
      missing: missing.length,
      // Submissions that failed for good (any part of the segment).
      failed: driven.failed.length,
      // Finished orders whose final notification was reported more than once.
      repeatedCompletions: tracker.repeated,
    },
    counted: {
      orders: countedOrders,
      allFinished: missing.length === 0 && driven.failed.length === 0 && countedOrders === total,
    },
    // Usage per order and what it costs, from the counters of the segment.
    cost: costReport({
      stats: subtractStats(after, before),
      orders: countedOrders,
      logBytes: target.child.logBytes() - logBytesBefore,
      tablePrefix: target.tablePrefix,
    }),
    cpu: cpuUsage(cpuBefore, cpuAfter, countedOrders),
    logFile: target.logFile,
    /** Completion times of the measured part, sorted (epoch ms); closed loop: every completion of the loop. */
    completionTimes: closed ? allTimes : measuredTimes,
    windowStart,
  };
}

/**
 * Throughput of consecutive windows of `size` completions after the first `skip` (the warm-up): window
 * i spans completions skip + i*size to skip + (i+1)*size, starting at the completion that closed the
 * window before it (or at `start` for the first window when nothing is skipped).
 */
export function windowRates(
  times: readonly number[],
  skip: number,
  size: number,
  start: number,
): { fromOrder: number; toOrder: number; seconds: number; ordersPerSec: number }[] {
  const windows: { fromOrder: number; toOrder: number; seconds: number; ordersPerSec: number }[] = [];
  for (let from = 0; skip + from + size <= times.length; from += size) {
    const begin = skip + from === 0 ? start : (times[skip + from - 1] as number);
    const end = times[skip + from + size - 1] as number;
    const seconds = (end - begin) / 1000;
    windows.push({
      fromOrder: from + 1,
      toOrder: from + size,
      seconds: round2(seconds),
      ordersPerSec: seconds > 0 ? round2(size / seconds) : 0,
    });
  }
  return windows;
}
