import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, type MessagesStream, ProduceAcks, Producer } from '@platformatic/kafka';
import { retry } from '../../functions/shared/retry.ts';
import type { KafkaTrigger } from '../../topology/index.ts';
import {
  afterInvocation,
  approximateEventBytes,
  backoffMs,
  commitPoint,
  expire,
  flow,
  freshWork,
  LaneBuffer,
  type LaneSettings,
  type Next,
  partitionKey,
  readResponse,
  type Verdict,
  type Work,
} from './esm-lane.ts';
import type { InvokeOutcome, Invoker } from './invoke.ts';
import { type FunctionIdentity, localFunctionArn } from './lambda-context.ts';
import {
  buildMskEvent,
  type EventSource,
  type FailureContext,
  localClusterArn,
  type MskEvent,
  onFailureRecord,
} from './msk-event.ts';

export interface RetryBackoff {
  /** Delay before the first retry; each further retry doubles it, up to `maxMs`. */
  initialMs: number;
  maxMs: number;
}

/**
 * A mapping's settings, as the manifest declares them (any topic names: tests use their own). The error
 * handling controls default to off (and records that never expire), as on a mapping created without them.
 */
export type EsmTrigger = Pick<
  KafkaTrigger,
  'batchSize' | 'maximumBatchingWindowSeconds' | 'startingPosition' | 'retryAttempts'
> &
  Partial<
    Pick<KafkaTrigger, 'bisectBatchOnFunctionError' | 'reportBatchItemFailures' | 'maximumRecordAgeSeconds'>
  > & { topic: string; onFailure: string };

export interface EsmEmulatorOptions extends FunctionIdentity {
  trigger: EsmTrigger;
  groupId: string;
  bootstrapBrokers: string[];
  /** Invokes the function once with an event (in whatever execution environment the runtime chooses). */
  invoke: Invoker<MskEvent, unknown>;
  retryBackoff?: RetryBackoff;
  eventSourceArn?: string;
  log?: (line: string) => void;
}

export interface EsmStats {
  invocations: number;
  /** Invocations that failed as a whole (thrown, timed out, crashed, out of memory, invalid response). */
  failedInvocations: number;
  batchesSucceeded: number;
  /** Invocations that succeeded but named failed records (ReportBatchItemFailures). */
  partialFailures: number;
  /** Failed batches split in two (BisectBatchOnFunctionError). */
  bisects: number;
  /** Records older than MaximumRecordAgeInSeconds, sent to on-failure unprocessed. */
  recordsExpired: number;
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

/**
 * One partition's lane: its buffer (the rules, in `esm-lane.ts`) and the loop that invokes the function
 * with its batches, one at a time. Lanes of different partitions run concurrently.
 */
interface Lane {
  key: string;
  buffer: LaneBuffer<Record_>;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
  /**
   * Its commits, in order: a batch's offsets are committed as its records finish, off the invocation path
   * (the next invocation does not wait for the broker's answer), and never ahead of an earlier commit.
   */
  committed: Promise<void>;
  /** The offset last committed (or being committed). */
  committedTo: bigint | undefined;
}

/** Attempts at writing one failure record before it is given up (the original stays on its topic). */
const ON_FAILURE_ATTEMPTS = 8;

/**
 * Emulates a Lambda event source mapping for Amazon MSK against any Kafka broker:
 * - polls the trigger topic in the consumer group `groupId`, starting from the committed offsets
 *   (TRIM_HORIZON → earliest, LATEST → latest when the group has none);
 * - partitions are independent, as on AWS: each has its own lane, which invokes the function with
 *   MSK-shaped events of up to `batchSize` records of that partition, as soon as a batch is full or
 *   `maximumBatchingWindowSeconds` has passed since its first record arrived (and never above Lambda's
 *   6 MB payload limit); at most one invocation per partition at a time, so every partition is processed
 *   in offset order, and invocations of different partitions run concurrently;
 * - commits a partition's offsets as its records finish, in order, without holding the next invocation
 *   back for the broker's answer;
 * - the error-handling controls of a Kafka mapping (see `esm-lane.ts` for the rules and AWS's pages):
 *   a failed invocation is retried with exponential backoff up to `retryAttempts` times, or split in
 *   halves first with `bisectBatchOnFunctionError`; with `reportBatchItemFailures` a response's
 *   `batchItemFailures` makes the partition resume from its first failed record; records older than
 *   `maximumRecordAgeSeconds` are not invoked; records that exhausted their retries or expired go to the
 *   on-failure topic in the format Lambda writes to a Kafka on-failure destination, and the offsets are
 *   committed past them.
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
 * - Where AWS's pages leave the controls open, the choices are in `esm-lane.ts` (a split is not a retry;
 *   an identifier naming no record of the invocation fails it; after a partial response exhausts its
 *   retries only the named record goes to on-failure; an expired record's failure record says
 *   `RecordAgeExceeded`).
 */
export class EsmEmulator {
  readonly stats: EsmStats = {
    invocations: 0,
    failedInvocations: 0,
    batchesSucceeded: 0,
    partialFailures: 0,
    bisects: 0,
    recordsExpired: 0,
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
  readonly #settings: LaneSettings;
  readonly #lanes = new Map<string, Lane>();
  #stopping = new AbortController();
  #consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #started = false;
  /** The consumer being replaced (outage or refetch), while it is. */
  #replacement: Promise<void> | undefined;

  constructor(options: EsmEmulatorOptions) {
    this.#options = options;
    const { trigger } = options;
    this.#settings = {
      batchSize: trigger.batchSize,
      maximumBatchingWindowSeconds: trigger.maximumBatchingWindowSeconds,
      retryAttempts: trigger.retryAttempts,
      bisectBatchOnFunctionError: trigger.bisectBatchOnFunctionError ?? false,
      reportBatchItemFailures: trigger.reportBatchItemFailures ?? false,
      maximumRecordAgeSeconds: trigger.maximumRecordAgeSeconds ?? -1,
    };
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
      const stranded = [...this.#lanes.values()].some(({ buffer }) => buffer.gap && !buffer.retrying);
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
    const stopping = this.#stopping.signal;
    try {
      // After an outage the broker was just lost: wait before the first attempt too.
      if (why === 'outage') await sleep(this.#retryDelayMs(1), undefined, { signal: stopping });
      // Until the broker answers or the emulator stops, as Lambda's pollers do.
      await retry(
        async (attempt) => {
          await this.#connect();
          if (why === 'refetch') {
            this.stats.refetches++;
            return;
          }
          this.stats.reconnects++;
          this.#log(`[esm:${this.functionName}] consumer reconnected after ${attempt} attempt(s)`);
        },
        {
          attempts: Number.MAX_SAFE_INTEGER,
          delay: (retry) => this.#retryDelayMs(retry + 1),
          signal: stopping,
          onRetry: ({ error, attempt }) =>
            this.#log(
              `[esm:${this.functionName}] reconnect attempt ${attempt} failed: ${errorSummary(error)}`,
            ),
        },
      );
    } catch (error) {
      if (!stopping.aborted) throw error;
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
    const lane = this.#lane(partitionKey(record));
    if (lane.buffer.accept(record, approximateEventBytes(record), Date.now()) !== 'taken') return;
    this.#updateFlow();
    lane.wake?.();
  }

  #lane(key: string): Lane {
    const existing = this.#lanes.get(key);
    if (existing) return existing;
    const lane: Lane = {
      key,
      buffer: new LaneBuffer<Record_>(this.#settings),
      wake: undefined,
      loop: undefined,
      committed: Promise.resolve(),
      committedTo: undefined,
    };
    lane.loop = this.#runLane(lane).catch((error: unknown) => {
      this.#log(
        `[esm:${this.functionName}] ${key} stopped on an unexpected error: ${(error as Error).stack ?? error}`,
      );
    });
    this.#lanes.set(key, lane);
    return lane;
  }

  /** Pauses or resumes the stream as the lanes' buffers say (back-pressure). */
  #updateFlow(): void {
    const stream = this.#stream;
    if (!stream) return;
    const decision = flow(
      [...this.#lanes.values()].map((lane) => lane.buffer),
      stream.isPaused(),
    );
    if (decision === 'pause') stream.pause();
    else if (decision === 'resume') stream.resume();
  }

  /** After a (re)join the stream restarts from the committed offsets: drop what no batch has taken yet. */
  #onRebalance(): void {
    for (const lane of this.#lanes.values()) lane.buffer.reset();
    if (this.#stream?.isPaused()) this.#stream.resume();
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
    const stopping = this.#stopping.signal;
    for (;;) {
      if (stopping.aborted) return [];
      const due = lane.buffer.due(Date.now());
      if (due.kind === 'ready') break;
      await this.#waitForRecords(lane, due.kind === 'wait' ? due.ms : undefined);
    }
    // With no window, still gather what the same fetch delivered before invoking.
    if (this.#settings.maximumBatchingWindowSeconds === 0)
      await new Promise((resolve) => setImmediate(resolve));
    if (stopping.aborted) return [];
    // A rebalance meanwhile may have emptied the buffer.
    const batch = lane.buffer.take();
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
      await this.#workThrough(lane, batch);
    } finally {
      this.#setRetrying(lane, false);
    }
    // What the full buffer dropped meanwhile: fetched again, from the offsets just committed.
    if (lane.buffer.gap && !this.#stopping.signal.aborted)
      await this.#replaceConsumer(this.#consumer, 'refetch');
  }

  /**
   * Works a batch through as the lane's rules say: expired records to on-failure, the rest invoked, then
   * retried, split, resumed from a reported record or sent to on-failure, committing as records finish.
   * Returns early when the emulator stops: the unfinished records stay uncommitted, delivered again later.
   */
  async #workThrough(lane: Lane, batch: Record_[]): Promise<void> {
    const pending: Work<Record_>[] = [freshWork(batch)];
    let failuresInARow = 0;
    // Nothing of the batch is finished yet: the partition is committed up to its first record already.
    let committedTo = batch[0]?.offset;
    for (let work = pending.shift(); work; work = pending.shift()) {
      const fresh = await this.#dropExpired(work);
      if (!fresh) return;
      if (fresh.records.length > 0) {
        if (failuresInARow > 0 && !(await this.#backoff(failuresInARow))) return;
        const invoked = { ...fresh, invocations: fresh.invocations + 1 };
        const { verdict, requestId } = await this.#invokeOnce(invoked);
        const next = afterInvocation(invoked, verdict, this.#settings);
        this.#report(invoked, verdict, next, requestId);
        failuresInARow = verdict.kind === 'success' ? 0 : failuresInARow + 1;
        if (next.exhausted.length > 0) {
          const context = { requestId, approximateInvokeCount: invoked.invocations };
          if (!(await this.#sendToOnFailure(next.exhausted, { ...context, condition: 'RetriesExhausted' })))
            return;
          this.stats.batchesSentToOnFailure++;
        }
        pending.unshift(...next.pending);
        this.#setRetrying(lane, pending.length > 0 && failuresInARow > 0);
      }
      const point = commitPoint(pending, batch);
      if (point !== undefined && (committedTo === undefined || point > committedTo)) {
        committedTo = point;
        // #commit never rejects: a failed commit means the records are delivered again.
        lane.committed = lane.committed.then(() => this.#commit(batch[0] as Record_, point));
      }
    }
  }

  #setRetrying(lane: Lane, retrying: boolean): void {
    if (lane.buffer.retrying === retrying) return;
    lane.buffer.retrying = retrying;
    this.#updateFlow();
  }

  /** Sends the work's records older than the maximum record age to on-failure; the rest (none: stopping). */
  async #dropExpired(work: Work<Record_>): Promise<Work<Record_> | undefined> {
    const { expired, fresh } = expire(work.records, Date.now(), this.#settings.maximumRecordAgeSeconds);
    if (expired.length === 0) return work;
    this.stats.recordsExpired += expired.length;
    const { functionName, trigger } = this.#options;
    this.#log(
      `[esm:${functionName}] ${describeBatch(expired)} older than ${this.#settings.maximumRecordAgeSeconds} s: to ${trigger.onFailure} unprocessed`,
    );
    // No invocation carried them this time: the failure record gets a request id of its own.
    const context = { requestId: randomUUID(), approximateInvokeCount: work.invocations };
    const sent = await this.#sendToOnFailure(expired, { ...context, condition: 'RecordAgeExceeded' });
    return sent ? { ...work, records: fresh } : undefined;
  }

  /** One invocation, and what it means for the mapping. */
  async #invokeOnce(work: Work<Record_>): Promise<{ verdict: Verdict; requestId: string }> {
    this.stats.invocations++;
    let outcome: InvokeOutcome<unknown>;
    try {
      outcome = await this.#options.invoke(buildMskEvent(this.#source, work.records));
    } catch (error) {
      // An invoker reports failures as outcomes; one that throws is a failed invocation all the same.
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      outcome = {
        status: 'error',
        requestId: 'unknown',
        kind: 'function',
        errorType: name,
        errorMessage: message,
      };
    }
    const verdict: Verdict =
      outcome.status === 'error'
        ? { kind: 'failure', reason: `${outcome.kind}: ${outcome.errorType}: ${outcome.errorMessage}` }
        : readResponse(outcome.payload, work.records, this.#settings);
    if (verdict.kind === 'success') this.stats.batchesSucceeded++;
    else if (verdict.kind === 'partial') this.stats.partialFailures++;
    else this.stats.failedInvocations++;
    return { verdict, requestId: outcome.requestId };
  }

  /** Counts a split and logs what follows a failed or partly failed invocation. */
  #report(work: Work<Record_>, verdict: Verdict, next: Next<Record_>, requestId: string): void {
    if (next.bisected) this.stats.bisects++;
    if (verdict.kind === 'success') return;
    const { functionName, trigger } = this.#options;
    const what =
      verdict.kind === 'partial'
        ? `reported failed records, the first at offset ${verdict.from}`
        : `failed (${verdict.reason})`;
    const then = next.bisected
      ? 'splitting the batch in halves'
      : next.exhausted.length > 0
        ? `retries exhausted: ${describeBatch(next.exhausted)} to ${trigger.onFailure}`
        : `retrying ${describeBatch(next.pending[0]?.records ?? [])}`;
    this.#log(
      `[esm:${functionName}] invocation ${requestId} on ${describeBatch(work.records)} (retry ${work.retries} of ${trigger.retryAttempts}) ${what} — ${then}`,
    );
  }

  /** Until every lane's commits so far have been answered (or failed). */
  async #commitsSettled(): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((lane) => lane.committed));
  }

  /** The wait before the retry that follows `failures` failures in a row (Lambda's doubling, capped). */
  #retryDelayMs(failures: number): number {
    return backoffMs(failures, this.#options.retryBackoff ?? { initialMs: 500, maxMs: 10_000 });
  }

  /** Waits before the retry after `failures` failures in a row; false when the emulator is stopping. */
  async #backoff(failures: number): Promise<boolean> {
    try {
      await sleep(this.#retryDelayMs(failures), undefined, { signal: this.#stopping.signal });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Writes one on-failure record per record, in order. False when the emulator stopped meanwhile (the
   * records stay uncommitted); true otherwise, even when a record had to be skipped.
   */
  async #sendToOnFailure(records: Record_[], failure: Omit<FailureContext, 'functionArn'>): Promise<boolean> {
    const context = { ...failure, functionArn: localFunctionArn(this.#options.functionName) };
    for (const record of records) {
      const written = await this.#writeFailureRecord(record, context);
      if (written === 'stopped') return false;
    }
    return true;
  }

  /**
   * One failure record: whole; reduced at once when the broker refuses the whole one as too large; after
   * `ON_FAILURE_ATTEMPTS` failed attempts skipped (logged, counted), never retried forever.
   */
  async #writeFailureRecord(
    record: Record_,
    context: FailureContext,
  ): Promise<'written' | 'reduced' | 'lost' | 'stopped'> {
    const { trigger, functionName } = this.#options;
    const producer = this.#producer;
    if (!producer) return 'stopped';
    const at = `${partitionKey(record)}@${record.offset}`;
    const failed = (attempt: number, error: unknown) =>
      this.#log(
        `[esm:${functionName}] could not write the failure record of ${at} to ${trigger.onFailure} (attempt ${attempt}/${ON_FAILURE_ATTEMPTS}): ${errorSummary(error)}`,
      );
    let reduced = false;
    let attempts = 0;
    try {
      await retry(
        async (attempt) => {
          attempts = attempt;
          if (!reduced) {
            try {
              return await this.#produceFailureRecord(producer, record, context, false);
            } catch (error) {
              if (!isTooLarge(error)) throw error;
              this.#log(
                `[esm:${functionName}] the failure record of ${at} is too large for ${trigger.onFailure}: writing it without the value`,
              );
              reduced = true;
            }
          }
          await this.#produceFailureRecord(producer, record, context, true);
        },
        {
          attempts: ON_FAILURE_ATTEMPTS,
          delay: (retry) => this.#retryDelayMs(retry),
          // A reduced record that is still too large will never fit: no point in waiting for it.
          retryIf: (error) => !this.#stopping.signal.aborted && !isTooLarge(error),
          // The first attempt is made even when stopping (as ever); only the waits end with the emulator.
          wait: (ms) => sleep(ms, undefined, { signal: this.#stopping.signal }),
          onRetry: ({ error, attempt }) => failed(attempt, error),
        },
      );
      this.stats.recordsSentToOnFailure++;
      if (reduced) this.stats.failureRecordsReduced++;
      return reduced ? 'reduced' : 'written';
    } catch (error) {
      if (this.#stopping.signal.aborted) return 'stopped';
      failed(attempts, error);
    }
    this.stats.failureRecordsLost++;
    this.#log(
      `[esm:${functionName}] FAILURE RECORD LOST: ${at} exhausted its retries and no failure record could be written to ${trigger.onFailure}; ` +
        'skipping it (the original stays on its topic until retention removes it)',
    );
    return 'lost';
  }

  /** Produces `record`'s failure record, whole or reduced (without the value). */
  async #produceFailureRecord(
    producer: Producer<Buffer, Buffer, Buffer, Buffer>,
    record: Record_,
    context: FailureContext,
    reduced: boolean,
  ): Promise<void> {
    const body = onFailureRecord(this.#source, context, record, { reduced });
    // Lambda keeps the original record's key, so the failure lands on the same partition key (unless
    // the key itself is what is too large).
    const keyLeftOut = reduced && body.payload.records[partitionKey(record)]?.[0]?.keyTruncated === true;
    await producer.send({
      messages: [
        {
          topic: this.#options.trigger.onFailure,
          ...(record.key && !keyLeftOut ? { key: record.key } : {}),
          value: Buffer.from(JSON.stringify(body)),
        },
      ],
    });
  }

  /** Commits `record`'s partition up to `offset` (the next to read). */
  async #commit(record: Record_, offset: bigint): Promise<void> {
    const consumer = this.#consumer;
    try {
      if (!consumer) throw new Error('no consumer');
      // Through the current consumer, not the messages' own commit(): after a reconnect the stream that
      // fetched them is closed and its commit would never settle.
      await withTimeout(
        consumer.commit({
          offsets: [
            { topic: record.topic, partition: record.partition, offset, leaderEpoch: record.leaderEpoch },
          ],
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

function describeBatch(batch: readonly Record_[]): string {
  const ranges = new Map<string, [bigint, bigint]>();
  for (const r of batch) {
    const key = partitionKey(r);
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
