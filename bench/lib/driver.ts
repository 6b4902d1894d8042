/**
 * Drives orders into the system under test: at a fixed rate (open loop: order i leaves at i/rate s,
 * whatever happens downstream) or with a fixed number of orders in flight end to end (closed loop: the
 * next order leaves when one finishes its journey); and watches them finish (completions, consumer lag,
 * a progress bar).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { consumerLag, type Offsets } from '../../local/infra/consumer-lag.ts';
import { kafkaConsumers } from '../../topology/topics.ts';
import { type ApiUrl, type OrderBody, postOrder } from './orders.ts';
import { type Completion, now } from './protocol.ts';
import { type BenchStack, benchGroupId, newAdmin } from './stack.ts';

export class CompletionTracker {
  readonly accepted = new Map<string, number>();
  readonly completed = new Map<string, Completion>();
  /** Completions seen more than once (a notification delivered twice would show here). */
  repeated = 0;
  firstSentAt: number | undefined;
  readonly #waiters = new Map<string, () => void>();
  #onChange: () => void = () => undefined;

  onChange(listener: () => void): void {
    this.#onChange = listener;
  }

  accept(orderId: string): void {
    if (!this.accepted.has(orderId)) this.accepted.set(orderId, now());
    this.#onChange();
  }

  complete(completions: readonly Completion[]): void {
    for (const completion of completions) {
      if (this.completed.has(completion.orderId)) {
        this.repeated += 1;
        continue;
      }
      this.completed.set(completion.orderId, completion);
      this.#waiters.get(completion.orderId)?.();
      this.#waiters.delete(completion.orderId);
    }
    this.#onChange();
  }

  wait(orderId: string): Promise<void> {
    if (this.completed.has(orderId)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(orderId, resolve));
  }

  missing(): string[] {
    return [...this.accepted.keys()].filter((orderId) => !this.completed.has(orderId));
  }
}

export type Load = { kind: 'rate'; perSecond: number } | { kind: 'concurrency'; inFlight: number };

export type DriveResult = { failed: { index: number; error: string }[] };

/** Closed loop: how long a worker waits for its order before sending the next. */
const orderTimeoutMs = 120_000;

export async function drive({
  count,
  load,
  submit,
  tracker,
}: {
  count: number;
  load: Load;
  /** Sends order `index`; resolves with its id once accepted (retrying by itself as it sees fit). */
  submit: (index: number) => Promise<string>;
  tracker: CompletionTracker;
}): Promise<DriveResult> {
  const failed: DriveResult['failed'] = [];
  const send = async (index: number): Promise<string | undefined> => {
    tracker.firstSentAt ??= now();
    try {
      const orderId = await submit(index);
      tracker.accept(orderId);
      return orderId;
    } catch (error) {
      failed.push({ index, error: (error as Error).message });
      return undefined;
    }
  };

  if (load.kind === 'rate') {
    const interval = 1000 / load.perSecond;
    const start = performance.now();
    const inFlight: Promise<unknown>[] = [];
    for (let index = 0; index < count; index++) {
      // Scheduled against the start time, so a slow tick does not slow the whole run down.
      const due = start + index * interval - performance.now();
      if (due > 1) await sleep(due);
      inFlight.push(send(index));
    }
    await Promise.all(inFlight);
  } else {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const orderId = await send(index);
        // An order that never finishes must not stop its worker for good. Unref'd: thousands of pending
        // timers must not keep a finished run alive.
        if (orderId)
          await Promise.race([tracker.wait(orderId), sleep(orderTimeoutMs, undefined, { ref: false })]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(load.inFlight, count) }, worker));
  }
  return { failed };
}

/**
 * Open loop through `POST /orders`, the careful client's way (retries with the same order id for up to 3
 * minutes): order `index` is `order(index)`, sent to `api` (one URL, or a pick per request). Resolves with
 * the submissions that failed for good and the rate this loop's orders were accepted at (first POST to
 * last 202; the target is `rate`).
 */
export async function sendAtRate(options: {
  count: number;
  rate: number;
  tracker: CompletionTracker;
  api: ApiUrl;
  order: (index: number) => OrderBody;
  onAccepted?: (orderId: string) => void;
}): Promise<{ driven: DriveResult; acceptedPerSec: number }> {
  const sendingFrom = Date.now();
  let lastAcceptedAt = sendingFrom;
  let accepted = 0;
  const driven = await drive({
    count: options.count,
    load: { kind: 'rate', perSecond: options.rate },
    tracker: options.tracker,
    submit: async (index) => {
      const orderId = await postOrder(options.api, options.order(index), { deadlineMs: 180_000 });
      lastAcceptedAt = Date.now();
      accepted += 1;
      options.onAccepted?.(orderId);
      return orderId;
    },
  });
  return { driven, acceptedPerSec: accepted / Math.max(0.001, (lastAcceptedAt - sendingFrom) / 1000) };
}

/**
 * Waits until every accepted order finished, giving up when nothing finished for `stallMs`.
 * Resolves with the ids still missing.
 */
export async function waitForCompletions(tracker: CompletionTracker, stallMs: number): Promise<string[]> {
  let lastCount = -1;
  let lastProgress = Date.now();
  for (;;) {
    const missing = tracker.missing();
    if (missing.length === 0) return [];
    if (tracker.completed.size !== lastCount) {
      lastCount = tracker.completed.size;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > stallMs) {
      return missing;
    }
    await sleep(100);
  }
}

/** Records not yet committed by this run's groups, over all consumed topics: what a chaos run waits on. */
export async function pipelineLag(stack: BenchStack, runId: string, start: Offsets): Promise<number> {
  const admin = newAdmin(stack.kafkaBrokers);
  try {
    const groups = kafkaConsumers.map(({ name, trigger }) => ({
      groupId: benchGroupId(runId, name),
      topic: trigger.topic,
    }));
    const lags = await consumerLag(admin, groups, start);
    return lags.reduce((sum, { behind }) => sum + behind, 0);
  } finally {
    await admin.close();
  }
}

/**
 * A one-line progress bar on stderr. On a terminal it redraws in place (at most 10 times a second);
 * otherwise (CI, a pipe) it prints a line at every 10%, so logs stay readable.
 */
export function progressBar(label: string, total: number) {
  const stream = process.stderr;
  const width = 28;
  const started = Date.now();
  let lastDraw = 0;
  let lastDecile = -1;
  const line = (done: number, extra: string) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const elapsed = (Date.now() - started) / 1000;
    return `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(0)}s${extra ? `  ${extra}` : ''}`;
  };
  return {
    update(done: number, extra = '') {
      if (stream.isTTY) {
        if (Date.now() - lastDraw < 100 && done < total) return;
        lastDraw = Date.now();
        stream.write(`\r${line(done, extra)}\x1b[K`);
      } else {
        const decile = Math.floor((10 * done) / Math.max(1, total));
        if (decile === lastDecile) return;
        lastDecile = decile;
        stream.write(`${line(done, extra)}\n`);
      }
    },
    finish(done: number, extra = '') {
      stream.write(stream.isTTY ? `\r${line(done, extra)}\x1b[K\n` : `${line(done, extra)}\n`);
    },
  };
}
