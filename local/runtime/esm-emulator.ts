import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, type MessagesStream, ProduceAcks, Producer } from '@platformatic/kafka';
import type { KafkaTrigger } from '../../topology/index.ts';
import {
  type FunctionIdentity,
  InvocationTimeoutError,
  invokeHandler,
  type LambdaHandler,
  localFunctionArn,
  requestIdOf,
} from './lambda-context.ts';
import {
  buildMskEvent,
  type EventSource,
  localClusterArn,
  type MskEvent,
  onFailureRecord,
} from './msk-event.ts';

/** Lambda's limit on a synchronous invocation's request payload. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface RetryBackoff {
  /** Delay before the first retry; each further retry doubles it, up to `maxMs`. */
  initialMs: number;
  maxMs: number;
}

/** A mapping's settings, as the manifest declares them (any topic names: tests use their own). */
export type EsmTrigger = Pick<
  KafkaTrigger,
  'batchSize' | 'maximumBatchingWindowSeconds' | 'startingPosition' | 'retryAttempts'
> & { topic: string; onFailure: string };

export interface EsmEmulatorOptions extends FunctionIdentity {
  trigger: EsmTrigger;
  groupId: string;
  bootstrapBrokers: string[];
  handler: LambdaHandler<MskEvent, unknown>;
  retryBackoff?: RetryBackoff;
  eventSourceArn?: string;
  log?: (line: string) => void;
}

export interface EsmStats {
  invocations: number;
  failedInvocations: number;
  batchesSucceeded: number;
  batchesSentToOnFailure: number;
  recordsSentToOnFailure: number;
  /** Consumers replaced after their stream failed (e.g. a broker outage). */
  reconnects: number;
}

type Record_ = Message<Buffer, Buffer, Buffer, Buffer>;

interface Buffered {
  record: Record_;
  arrivedAt: number;
  approximateBytes: number;
}

const partitionOf = (r: { topic: string; partition: number }) => `${r.topic}-${r.partition}`;

/**
 * Emulates a Lambda event source mapping for Amazon MSK against any Kafka broker:
 * - polls the trigger topic in the consumer group `groupId`, starting from the committed offsets
 *   (TRIM_HORIZON → earliest, LATEST → latest when the group has none);
 * - invokes the handler with MSK-shaped events of up to `batchSize` records, as soon as a batch is
 *   full or `maximumBatchingWindowSeconds` has passed since its first record arrived (and never above
 *   Lambda's 6 MB payload limit);
 * - one batch at a time, so every partition is processed in offset order;
 * - commits a batch's offsets only after the handler succeeded;
 * - a failing (or timed-out) invocation is retried with the same batch, with exponential backoff, up to
 *   `retryAttempts` times; then each record goes to the on-failure topic in the format Lambda writes to a
 *   Kafka on-failure destination, and the offsets are committed past the batch.
 *
 * Differs from AWS: AWS may process several partitions concurrently (one poller per set of partitions);
 * the emulator runs a single invocation at a time per mapping, which keeps the same per-partition
 * order with less throughput. BisectBatchOnFunctionError, MaximumRecordAgeInSeconds and partial batch
 * responses are not emulated (the manifest does not use them).
 */
export class EsmEmulator {
  readonly stats: EsmStats = {
    invocations: 0,
    failedInvocations: 0,
    batchesSucceeded: 0,
    batchesSentToOnFailure: 0,
    recordsSentToOnFailure: 0,
    reconnects: 0,
  };
  readonly #options: EsmEmulatorOptions;
  readonly #source: EventSource;
  readonly #log: (line: string) => void;
  readonly #buffer: Buffered[] = [];
  /** Per partition, the next offset to accept: anything below was already taken into a batch. */
  #nextOffset = new Map<string, bigint>();
  /** Per partition, the end of what has been handed to the handler (in flight or done). */
  readonly #takenUpTo = new Map<string, bigint>();
  #wake: (() => void) | undefined;
  #stopping = new AbortController();
  #consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #loop: Promise<void> | undefined;
  #reconnecting = false;

  constructor(options: EsmEmulatorOptions) {
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.#source = {
      eventSourceArn: options.eventSourceArn ?? localClusterArn(),
      bootstrapServers: options.bootstrapBrokers.join(','),
    };
  }

  get functionName(): string {
    return this.#options.functionName;
  }

  get groupId(): string {
    return this.#options.groupId;
  }

  get topic(): string {
    return this.#options.trigger.topic;
  }

  /** Joins the consumer group and starts polling; resolves once the stream is open. */
  async start(): Promise<void> {
    if (this.#loop) throw new Error(`ESM of ${this.functionName} already started`);
    const { bootstrapBrokers, functionName } = this.#options;
    this.#producer = new Producer({
      clientId: `esm-${functionName}-on-failure`,
      bootstrapBrokers,
      acks: ProduceAcks.ALL,
    });
    await this.#connect();
    this.#loop = this.#run().catch((error: unknown) => {
      this.#log(`[esm:${functionName}] stopped on an unexpected error: ${(error as Error).stack ?? error}`);
    });
  }

  async #connect(): Promise<void> {
    const { groupId, bootstrapBrokers, trigger, functionName } = this.#options;
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      clientId: `esm-${functionName}`,
      groupId,
      bootstrapBrokers,
      autocommit: false,
      // Short long-polls keep the batching window honest; heartbeats keep the membership alive while a
      // handler runs (the invocation does not block the event loop).
      maxWaitTime: 250,
      sessionTimeout: 30_000,
      heartbeatInterval: 1_000,
    });
    consumer.on('consumer:group:join', () => this.#onRebalance());
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    try {
      stream = await consumer.consume({
        topics: [trigger.topic],
        mode: 'committed',
        fallbackMode: trigger.startingPosition === 'TRIM_HORIZON' ? 'earliest' : 'latest',
        autocommit: false,
        maxWaitTime: 250,
      });
    } catch (error) {
      await consumer.close(true).catch(() => undefined);
      throw error;
    }
    this.#consumer = consumer;
    this.#stream = stream;
    stream.on('data', (record: Record_) => this.#accept(record));
    stream.on('error', (error: Error) => {
      if (this.#stopping.signal.aborted) return;
      this.#log(`[esm:${functionName}] consumer error: ${error.message} — reconnecting`);
      void this.#reconnect(consumer);
    });
  }

  /**
   * A stream that failed (the broker went away longer than the client's retries) fetches nothing more,
   * so it is replaced, as Lambda's pollers keep polling through an outage: a new consumer rejoins the
   * group and resumes from the committed offsets, with backoff until the broker answers again.
   */
  async #reconnect(failed: Consumer<Buffer, Buffer, Buffer, Buffer>): Promise<void> {
    if (this.#reconnecting || this.#consumer !== failed) return;
    this.#reconnecting = true;
    try {
      this.#stream?.removeAllListeners('data');
      await this.#stream?.close().catch(() => undefined);
      await failed.close(true).catch(() => undefined);
      // What was fetched but not taken into a batch will be fetched again from the committed offsets.
      this.#onRebalance();
      for (let attempt = 1; !this.#stopping.signal.aborted; attempt++) {
        if (!(await this.#backoff(attempt))) return;
        try {
          await this.#connect();
          this.stats.reconnects++;
          this.#log(`[esm:${this.functionName}] consumer reconnected after ${attempt} attempt(s)`);
          return;
        } catch (error) {
          this.#log(`[esm:${this.functionName}] reconnect attempt ${attempt} failed: ${errorSummary(error)}`);
        }
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  /**
   * Stops polling. An invocation in flight finishes (and is committed if it succeeded); a batch waiting
   * for a retry is abandoned uncommitted, so the next start delivers it again, as after a redeploy.
   */
  async stop(): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    this.#wake?.();
    await this.#loop;
    this.#stream?.removeAllListeners('data');
    await this.#stream?.close().catch(() => undefined);
    await this.#consumer?.close().catch(() => undefined);
    await this.#producer?.close().catch(() => undefined);
  }

  #accept(record: Record_): void {
    const key = partitionOf(record);
    const next = this.#nextOffset.get(key);
    // A refetch after a rebalance can hand over records again that are already in a batch.
    if (next !== undefined && record.offset < next) return;
    this.#nextOffset.set(key, record.offset + 1n);
    const approximateBytes =
      200 +
      Math.ceil(((record.key?.length ?? 0) + (record.value?.length ?? 0)) / 3) * 4 +
      record.headerEntries.reduce((n, [k, v]) => n + k.length + 4 * (v?.length ?? 0) + 8, 0);
    this.#buffer.push({ record, arrivedAt: Date.now(), approximateBytes });
    if (this.#buffer.length >= this.#maxBuffered()) this.#stream?.pause();
    this.#wake?.();
  }

  /** After a (re)join the stream restarts from the committed offsets: drop what no batch has taken yet. */
  #onRebalance(): void {
    this.#buffer.length = 0;
    this.#nextOffset = new Map(this.#takenUpTo);
    if (this.#stream?.isPaused()) this.#stream.resume();
  }

  #maxBuffered(): number {
    return Math.max(2 * this.#options.trigger.batchSize, 500);
  }

  /** Resolves on the next accepted record, on stop, or after `ms`. */
  async #waitForRecords(ms?: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, Math.max(0, ms));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #nextBatch(): Promise<Record_[]> {
    const { batchSize, maximumBatchingWindowSeconds } = this.#options.trigger;
    const stopping = this.#stopping.signal;
    while (this.#buffer.length === 0 && !stopping.aborted) await this.#waitForRecords();
    const first = this.#buffer[0];
    if (stopping.aborted || !first) return [];
    const windowEnd = first.arrivedAt + maximumBatchingWindowSeconds * 1000;
    while (
      this.#buffer.length < batchSize &&
      this.#bufferedBytes() < MAX_PAYLOAD_BYTES &&
      Date.now() < windowEnd &&
      !stopping.aborted
    ) {
      await this.#waitForRecords(windowEnd - Date.now());
    }
    // With no window, still gather what the same fetch delivered before invoking.
    if (maximumBatchingWindowSeconds === 0) await new Promise((resolve) => setImmediate(resolve));
    if (stopping.aborted) return [];
    let bytes = 0;
    let count = 0;
    for (const item of this.#buffer) {
      if (count === batchSize || (count > 0 && bytes + item.approximateBytes > MAX_PAYLOAD_BYTES)) break;
      bytes += item.approximateBytes;
      count++;
    }
    const batch = this.#buffer.splice(0, count).map((item) => item.record);
    for (const record of batch) this.#takenUpTo.set(partitionOf(record), record.offset + 1n);
    if (this.#stream?.isPaused() && this.#buffer.length < this.#maxBuffered() / 2) this.#stream.resume();
    return batch;
  }

  #bufferedBytes(): number {
    return this.#buffer.reduce((n, item) => n + item.approximateBytes, 0);
  }

  async #run(): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      const batch = await this.#nextBatch();
      if (batch.length > 0) await this.#deliver(batch);
    }
  }

  async #deliver(batch: Record_[]): Promise<void> {
    const { functionName, trigger, handler } = this.#options;
    const event = buildMskEvent(this.#source, batch);
    const span = describeBatch(batch);
    for (let attempt = 1; ; attempt++) {
      this.stats.invocations++;
      try {
        await invokeHandler(this.#options, handler, event);
        this.stats.batchesSucceeded++;
        break;
      } catch (error) {
        this.stats.failedInvocations++;
        const reason = error instanceof InvocationTimeoutError ? error.message : errorSummary(error);
        const retriesLeft = trigger.retryAttempts - (attempt - 1);
        this.#log(
          `[esm:${functionName}] invocation ${requestIdOf(error) ?? ''} failed on ${span} (attempt ${attempt}): ${reason}` +
            (retriesLeft > 0
              ? ` — retrying (${retriesLeft} left)`
              : ` — retries exhausted, to ${trigger.onFailure}`),
        );
        if (retriesLeft <= 0) {
          const delivered = await this.#sendToOnFailure(batch, {
            requestId: requestIdOf(error) ?? 'unknown',
            approximateInvokeCount: attempt,
          });
          if (!delivered) return;
          break;
        }
        if (!(await this.#backoff(attempt))) return;
      }
    }
    await this.#commit(batch);
  }

  /** Waits before retry `attempt`; false when the emulator is stopping (the batch stays uncommitted). */
  async #backoff(attempt: number): Promise<boolean> {
    const { initialMs, maxMs } = this.#options.retryBackoff ?? { initialMs: 500, maxMs: 10_000 };
    try {
      await sleep(Math.min(maxMs, initialMs * 2 ** (attempt - 1)), undefined, {
        signal: this.#stopping.signal,
      });
      return true;
    } catch {
      return false;
    }
  }

  /** Writes one on-failure record per record of the batch; retried until it lands or the emulator stops. */
  async #sendToOnFailure(
    batch: Record_[],
    failure: { requestId: string; approximateInvokeCount: number },
  ): Promise<boolean> {
    const { trigger, functionName } = this.#options;
    const messages = batch.map((record) => ({
      topic: trigger.onFailure,
      // Lambda keeps the original record's key, so the failure lands on the same partition key.
      ...(record.key ? { key: record.key } : {}),
      value: Buffer.from(
        JSON.stringify(
          onFailureRecord(this.#source, { ...failure, functionArn: localFunctionArn(functionName) }, record),
        ),
      ),
    }));
    const producer = this.#producer;
    if (!producer) return false;
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send({ messages });
        this.stats.batchesSentToOnFailure++;
        this.stats.recordsSentToOnFailure += batch.length;
        return true;
      } catch (error) {
        this.#log(`[esm:${functionName}] could not write to ${trigger.onFailure}: ${errorSummary(error)}`);
        if (!(await this.#backoff(attempt))) return false;
      }
    }
  }

  async #commit(batch: Record_[]): Promise<void> {
    const last = new Map<string, Record_>();
    for (const record of batch) last.set(partitionOf(record), record);
    const consumer = this.#consumer;
    try {
      if (!consumer) throw new Error('no consumer');
      // Through the current consumer, not the messages' own commit(): after a reconnect the stream that
      // fetched them is closed and its commit would never settle. The committed offset is the next to read.
      await withTimeout(
        consumer.commit({
          offsets: [...last.values()].map((r) => ({
            topic: r.topic,
            partition: r.partition,
            offset: r.offset + 1n,
            leaderEpoch: r.leaderEpoch,
          })),
        }),
        COMMIT_TIMEOUT_MS,
      );
    } catch (error) {
      // The records will be delivered again: at least once, as with Lambda after a rebalance.
      this.#log(`[esm:${this.functionName}] commit failed: ${errorSummary(error)}`);
    }
  }
}

const COMMIT_TIMEOUT_MS = 15_000;

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeBatch(batch: Record_[]): string {
  const ranges = new Map<string, [bigint, bigint]>();
  for (const r of batch) {
    const key = partitionOf(r);
    const range = ranges.get(key);
    ranges.set(key, range ? [range[0], r.offset] : [r.offset, r.offset]);
  }
  return [...ranges]
    .map(([key, [from, to]]) => (from === to ? `${key}@${from}` : `${key}@${from}..${to}`))
    .join(', ');
}

function errorSummary(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
