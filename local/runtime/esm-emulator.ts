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
  type FailureContext,
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
  /** Failure records written to the on-failure topic (whole or reduced). */
  recordsSentToOnFailure: number;
  /** Of those, written reduced (without the value) because the whole one was too large for the topic. */
  failureRecordsReduced: number;
  /** Failed records whose failure record could not be written at all: skipped, left on their source topic. */
  failureRecordsLost: number;
  /** Consumers replaced after their stream failed (e.g. a broker outage). */
  reconnects: number;
  /** Streams restarted to fetch again what a partition's full buffer had to drop while it was retrying. */
  refetches: number;
}

type Record_ = Message<Buffer, Buffer, Buffer, Buffer>;

interface Buffered {
  record: Record_;
  arrivedAt: number;
  approximateBytes: number;
}

/**
 * One partition's lane: its records waiting for a batch, and the loop that invokes the handler with them,
 * one batch at a time. Lanes of different partitions run concurrently.
 */
interface Lane {
  key: string;
  buffer: Buffered[];
  bytes: number;
  /** Its batch failed and is being retried: it must not hold the stream (and the other partitions) back. */
  retrying: boolean;
  /** Records were dropped while it was retrying with a full buffer: they are fetched again afterwards. */
  gap: boolean;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
  /**
   * Its commits, in order: a batch's offsets are committed after its success, off the invocation path
   * (the next batch does not wait for the broker's answer), and never ahead of an earlier batch's.
   */
  committed: Promise<void>;
}

const partitionOf = (r: { topic: string; partition: number }) => `${r.topic}-${r.partition}`;

/** Attempts at writing one failure record before it is given up (the original stays on its topic). */
const ON_FAILURE_ATTEMPTS = 8;

/**
 * Emulates a Lambda event source mapping for Amazon MSK against any Kafka broker:
 * - polls the trigger topic in the consumer group `groupId`, starting from the committed offsets
 *   (TRIM_HORIZON → earliest, LATEST → latest when the group has none);
 * - partitions are independent, as on AWS: each has its own lane, which invokes the handler with
 *   MSK-shaped events of up to `batchSize` records of that partition, as soon as a batch is full or
 *   `maximumBatchingWindowSeconds` has passed since its first record arrived (and never above Lambda's
 *   6 MB payload limit); at most one invocation per partition at a time, so every partition is processed
 *   in offset order, and invocations of different partitions run concurrently;
 * - commits a batch's offsets (its partition's) only after the handler succeeded, in order, without
 *   holding the next batch back for the broker's answer;
 * - a failing (or timed-out) invocation is retried with the same batch, with exponential backoff, up to
 *   `retryAttempts` times, while the other partitions go on; then each record goes to the on-failure
 *   topic in the format Lambda writes to a Kafka on-failure destination, and the offsets are committed
 *   past the batch.
 *
 * Differs from AWS:
 * - Each batch holds one partition's records (AWS may mix partitions in one payload), and there is no
 *   cap on concurrent invocations besides one per partition (AWS scales its pollers).
 * - Writing a failure record is never retried forever: a whole failure record the broker refuses as too
 *   large is replaced by a reduced one (its payload record without the value, with `valueBytes` and
 *   `valueTruncated`; see `onFailureRecord`); any other failure is retried `ON_FAILURE_ATTEMPTS` times;
 *   then the record is skipped, loudly, counted in `stats.failureRecordsLost`, and the offsets are
 *   committed past it: the original stays on its topic for the retention period. Lambda's page on Kafka
 *   on-failure destinations (kafka-on-failure-destination) documents the record format but not what
 *   happens to a record too large for the destination topic; for SNS destinations the API reference
 *   (API_OnFailure) documents dropping the payload above the destination's size limit, which is what the
 *   reduced record does.
 * - While a partition retries with a full buffer, its newer records are dropped (not the other
 *   partitions'), and fetched again from the committed offsets once it goes on (`stats.refetches`).
 * - BisectBatchOnFunctionError, MaximumRecordAgeInSeconds and partial batch responses are not emulated
 *   (the manifest does not use them).
 */
export class EsmEmulator {
  readonly stats: EsmStats = {
    invocations: 0,
    failedInvocations: 0,
    batchesSucceeded: 0,
    batchesSentToOnFailure: 0,
    recordsSentToOnFailure: 0,
    failureRecordsReduced: 0,
    failureRecordsLost: 0,
    reconnects: 0,
    refetches: 0,
  };
  readonly #options: EsmEmulatorOptions;
  readonly #source: EventSource;
  readonly #log: (line: string) => void;
  readonly #lanes = new Map<string, Lane>();
  /** Per partition, the next offset to accept: anything below was already taken into a batch. */
  #nextOffset = new Map<string, bigint>();
  /** Per partition, the end of what has been handed to the handler (in flight or done). */
  readonly #takenUpTo = new Map<string, bigint>();
  #stopping = new AbortController();
  #consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #started = false;
  /** The consumer being replaced (outage or refetch), while it is. */
  #replacement: Promise<void> | undefined;

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
    if (this.#started) throw new Error(`ESM of ${this.functionName} already started`);
    this.#started = true;
    const { bootstrapBrokers, functionName } = this.#options;
    this.#producer = new Producer({
      clientId: `esm-${functionName}-on-failure`,
      bootstrapBrokers,
      acks: ProduceAcks.ALL,
    });
    await this.#connect();
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
    if (this.#stopping.signal.aborted) {
      // Stopped while joining (a replacement): this consumer is nobody's to close.
      await stream.close().catch(() => undefined);
      await consumer.close().catch(() => undefined);
      throw new Error('stopped');
    }
    this.#consumer = consumer;
    this.#stream = stream;
    stream.on('data', (record: Record_) => this.#accept(record));
    stream.on('error', (error: Error) => {
      if (this.#stopping.signal.aborted) return;
      this.#log(`[esm:${functionName}] consumer error: ${error.message} — reconnecting`);
      void this.#replaceConsumer(consumer, 'outage');
    });
  }

  /**
   * Replaces the consumer: a new one rejoins the group and resumes from the committed offsets.
   * - `outage`: a stream that failed (the broker went away longer than the client's retries) fetches
   *   nothing more, so it is replaced, as Lambda's pollers keep polling through an outage, with backoff
   *   until the broker answers again.
   * - `refetch`: a partition dropped records while it was retrying with a full buffer; the client cannot
   *   seek one partition back, so the stream starts again from the committed offsets.
   */
  #replaceConsumer(
    current: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined,
    why: 'outage' | 'refetch',
  ): Promise<void> {
    if (this.#replacement) return this.#replacement;
    if (this.#consumer !== current || this.#stopping.signal.aborted) return Promise.resolve();
    this.#replacement = this.#replace(current, why).finally(() => {
      this.#replacement = undefined;
      // A partition that dropped records after this replacement restarted the stream needs another.
      const stranded = [...this.#lanes.values()].some((lane) => lane.gap && !lane.retrying);
      if (stranded) void this.#replaceConsumer(this.#consumer, 'refetch');
    });
    return this.#replacement;
  }

  async #replace(current: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined, why: 'outage' | 'refetch') {
    this.#stream?.removeAllListeners('data');
    // A refetch starts from the committed offsets: those of the batches that succeeded must be in. (After
    // an outage they go through the dead consumer and fail: those records are delivered again.)
    if (why === 'refetch') await this.#commitsSettled();
    await this.#stream?.close().catch(() => undefined);
    await current?.close(true).catch(() => undefined);
    // What was fetched but not taken into a batch will be fetched again from the committed offsets.
    this.#onRebalance();
    for (let attempt = 1; !this.#stopping.signal.aborted; attempt++) {
      if ((why === 'outage' || attempt > 1) && !(await this.#backoff(attempt))) return;
      try {
        await this.#connect();
        if (why === 'outage') {
          this.stats.reconnects++;
          this.#log(`[esm:${this.functionName}] consumer reconnected after ${attempt} attempt(s)`);
        } else {
          this.stats.refetches++;
        }
        return;
      } catch (error) {
        this.#log(`[esm:${this.functionName}] reconnect attempt ${attempt} failed: ${errorSummary(error)}`);
      }
    }
  }

  /**
   * Stops polling. An invocation in flight finishes (and is committed if it succeeded); a batch waiting
   * for a retry is abandoned uncommitted, so the next start delivers it again, as after a redeploy.
   */
  async stop(): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    for (const lane of this.#lanes.values()) lane.wake?.();
    await Promise.all([...this.#lanes.values()].map((lane) => lane.loop));
    await this.#replacement;
    await this.#commitsSettled();
    this.#stream?.removeAllListeners('data');
    await this.#stream?.close().catch(() => undefined);
    await this.#consumer?.close().catch(() => undefined);
    await this.#producer?.close().catch(() => undefined);
  }

  #accept(record: Record_): void {
    if (this.#stopping.signal.aborted) return;
    const key = partitionOf(record);
    const next = this.#nextOffset.get(key);
    // A refetch after a rebalance can hand over records again that are already in a batch.
    if (next !== undefined && record.offset < next) return;
    const lane = this.#lane(key);
    if (lane.gap || (lane.retrying && this.#isFull(lane))) {
      // Not taken, and the next offset stays: the record is fetched again once the lane goes on.
      lane.gap = true;
      return;
    }
    this.#nextOffset.set(key, record.offset + 1n);
    const approximateBytes =
      200 +
      Math.ceil(((record.key?.length ?? 0) + (record.value?.length ?? 0)) / 3) * 4 +
      record.headerEntries.reduce((n, [k, v]) => n + k.length + 4 * (v?.length ?? 0) + 8, 0);
    lane.buffer.push({ record, arrivedAt: Date.now(), approximateBytes });
    lane.bytes += approximateBytes;
    this.#updateFlow();
    lane.wake?.();
  }

  #lane(key: string): Lane {
    let lane = this.#lanes.get(key);
    if (!lane) {
      const created: Lane = {
        key,
        buffer: [],
        bytes: 0,
        retrying: false,
        gap: false,
        wake: undefined,
        loop: undefined,
        committed: Promise.resolve(),
      };
      created.loop = this.#runLane(created).catch((error: unknown) => {
        this.#log(
          `[esm:${this.functionName}] ${key} stopped on an unexpected error: ${(error as Error).stack ?? error}`,
        );
      });
      this.#lanes.set(key, created);
      lane = created;
    }
    return lane;
  }

  #isFull(lane: Lane): boolean {
    return lane.buffer.length >= this.#maxBuffered() || lane.bytes >= 2 * MAX_PAYLOAD_BYTES;
  }

  /**
   * Pauses the stream while a partition that is making progress has a full buffer (back-pressure), and
   * resumes it once every such partition is down to half. A retrying partition never pauses it: the
   * other partitions go on.
   */
  #updateFlow(): void {
    const stream = this.#stream;
    if (!stream) return;
    const progressing = [...this.#lanes.values()].filter((lane) => !lane.retrying);
    if (progressing.some((lane) => this.#isFull(lane))) {
      if (!stream.isPaused()) stream.pause();
    } else if (
      stream.isPaused() &&
      progressing.every(
        (lane) => lane.buffer.length < this.#maxBuffered() / 2 && lane.bytes < MAX_PAYLOAD_BYTES,
      )
    ) {
      stream.resume();
    }
  }

  /** After a (re)join the stream restarts from the committed offsets: drop what no batch has taken yet. */
  #onRebalance(): void {
    for (const lane of this.#lanes.values()) {
      lane.buffer.length = 0;
      lane.bytes = 0;
      lane.gap = false;
    }
    this.#nextOffset = new Map(this.#takenUpTo);
    if (this.#stream?.isPaused()) this.#stream.resume();
  }

  #maxBuffered(): number {
    return Math.max(2 * this.#options.trigger.batchSize, 500);
  }

  /** Resolves on the lane's next accepted record, on stop, or after `ms`. */
  async #waitForRecords(lane: Lane, ms?: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, Math.max(0, ms));
      lane.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    lane.wake = undefined;
  }

  async #nextBatch(lane: Lane): Promise<Record_[]> {
    const { batchSize, maximumBatchingWindowSeconds } = this.#options.trigger;
    const stopping = this.#stopping.signal;
    while (lane.buffer.length === 0 && !stopping.aborted) await this.#waitForRecords(lane);
    const first = lane.buffer[0];
    if (stopping.aborted || !first) return [];
    const windowEnd = first.arrivedAt + maximumBatchingWindowSeconds * 1000;
    while (
      lane.buffer.length < batchSize &&
      lane.bytes < MAX_PAYLOAD_BYTES &&
      Date.now() < windowEnd &&
      !stopping.aborted
    ) {
      await this.#waitForRecords(lane, windowEnd - Date.now());
    }
    // With no window, still gather what the same fetch delivered before invoking.
    if (maximumBatchingWindowSeconds === 0) await new Promise((resolve) => setImmediate(resolve));
    if (stopping.aborted) return [];
    let bytes = 0;
    let count = 0;
    for (const item of lane.buffer) {
      if (count === batchSize || (count > 0 && bytes + item.approximateBytes > MAX_PAYLOAD_BYTES)) break;
      bytes += item.approximateBytes;
      count++;
    }
    // A rebalance while the window was open may have emptied the buffer.
    const batch = lane.buffer.splice(0, count).map((item) => item.record);
    lane.bytes -= bytes;
    const last = batch.at(-1);
    if (last) this.#takenUpTo.set(lane.key, last.offset + 1n);
    this.#updateFlow();
    return batch;
  }

  async #runLane(lane: Lane): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      const batch = await this.#nextBatch(lane);
      if (batch.length > 0) await this.#deliver(lane, batch);
    }
  }

  async #deliver(lane: Lane, batch: Record_[]): Promise<void> {
    try {
      await this.#invokeUntilDone(lane, batch);
    } finally {
      lane.retrying = false;
      this.#updateFlow();
    }
    // What the full buffer dropped meanwhile: fetched again, from the offsets just committed.
    if (lane.gap && !this.#stopping.signal.aborted) await this.#replaceConsumer(this.#consumer, 'refetch');
  }

  async #invokeUntilDone(lane: Lane, batch: Record_[]): Promise<void> {
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
        if (!lane.retrying) {
          lane.retrying = true;
          this.#updateFlow();
        }
        if (!(await this.#backoff(attempt))) return;
      }
    }
    // #commit never rejects: a failed commit means the records are delivered again.
    lane.committed = lane.committed.then(() => this.#commit(batch));
  }

  /** Until every lane's commits so far have been answered (or failed). */
  async #commitsSettled(): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((lane) => lane.committed));
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

  /**
   * Writes one on-failure record per record of the batch, in order. False when the emulator stopped
   * meanwhile (the batch stays uncommitted); true otherwise, even when a record had to be skipped.
   */
  async #sendToOnFailure(
    batch: Record_[],
    failure: { requestId: string; approximateInvokeCount: number },
  ): Promise<boolean> {
    const context = { ...failure, functionArn: localFunctionArn(this.#options.functionName) };
    for (const record of batch) {
      const written = await this.#writeFailureRecord(record, context);
      if (written === 'stopped') return false;
    }
    this.stats.batchesSentToOnFailure++;
    return true;
  }

  /**
   * One failure record: whole; reduced when the broker refuses the whole one as too large; after
   * `ON_FAILURE_ATTEMPTS` failed attempts skipped (logged, counted), never retried forever.
   */
  async #writeFailureRecord(
    record: Record_,
    context: FailureContext,
  ): Promise<'written' | 'reduced' | 'lost' | 'stopped'> {
    const { trigger, functionName } = this.#options;
    const producer = this.#producer;
    if (!producer) return 'stopped';
    const at = `${partitionOf(record)}@${record.offset}`;
    let reduced = false;
    for (let attempt = 1; attempt <= ON_FAILURE_ATTEMPTS; attempt++) {
      const body = onFailureRecord(this.#source, context, record, { reduced });
      // Lambda keeps the original record's key, so the failure lands on the same partition key (unless
      // the key itself is what is too large).
      const keyLeftOut = reduced && body.payload.records[partitionOf(record)]?.[0]?.keyTruncated === true;
      try {
        await producer.send({
          messages: [
            {
              topic: trigger.onFailure,
              ...(record.key && !keyLeftOut ? { key: record.key } : {}),
              value: Buffer.from(JSON.stringify(body)),
            },
          ],
        });
        this.stats.recordsSentToOnFailure++;
        if (reduced) this.stats.failureRecordsReduced++;
        return reduced ? 'reduced' : 'written';
      } catch (error) {
        if (this.#stopping.signal.aborted) return 'stopped';
        if (isTooLarge(error) && !reduced) {
          this.#log(
            `[esm:${functionName}] the failure record of ${at} is too large for ${trigger.onFailure}: writing it without the value`,
          );
          reduced = true;
          continue;
        }
        this.#log(
          `[esm:${functionName}] could not write the failure record of ${at} to ${trigger.onFailure} (attempt ${attempt}/${ON_FAILURE_ATTEMPTS}): ${errorSummary(error)}`,
        );
        // A reduced record that is still too large will never fit: no point in waiting for it.
        if (isTooLarge(error)) break;
        if (attempt < ON_FAILURE_ATTEMPTS && !(await this.#backoff(attempt))) return 'stopped';
      }
    }
    this.stats.failureRecordsLost++;
    this.#log(
      `[esm:${functionName}] FAILURE RECORD LOST: ${at} exhausted its retries and no failure record could be written to ${trigger.onFailure}; ` +
        'skipping it (the original stays on its topic until retention removes it)',
    );
    return 'lost';
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

/** The broker refused a produce for its size (also inside the client's aggregated errors). */
function isTooLarge(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const { apiId, errors } = error as { apiId?: unknown; errors?: unknown };
  if (apiId === 'MESSAGE_TOO_LARGE' || apiId === 'RECORD_LIST_TOO_LARGE') return true;
  return Array.isArray(errors) && errors.some((inner) => isTooLarge(inner, depth + 1));
}

function errorSummary(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
