import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, type MessagesStream, ProduceAcks, Producer } from '@platformatic/kafka';
import { retry } from '../../functions/shared/retry.ts';
import type { KafkaTrigger } from '../../topology/index.ts';
import * as rules from './esm-lane.ts';
import {
  type FunctionIdentity,
  failedOutcome,
  type InvokeOutcome,
  type Invoker,
  localFunctionArn,
  raceTimeout,
  TIMED_OUT,
} from './lambda-context.ts';
import * as msk from './msk-event.ts';

/**
 * A mapping's settings, as the manifest declares them (any topic names: tests use their own). The error
 * handling controls default to off (and records that never expire), as on a mapping created without them.
 */
export type EsmTrigger = Pick<
  KafkaTrigger,
  'batchSize' | 'maximumBatchingWindowSeconds' | 'startingPosition' | 'retryAttempts'
> &
  Partial<rules.LaneSettings> & { topic: string; onFailure: string };

export interface EsmEmulatorOptions extends FunctionIdentity {
  trigger: EsmTrigger;
  groupId: string;
  bootstrapBrokers: string[];
  invoke: Invoker<msk.MskEvent, unknown>;
  retryBackoff?: rules.RetryBackoff;
  log: (line: string) => void;
}

/**
 * The mapping's counters. A failed invocation failed as a whole; a partial failure succeeded but named
 * failed records. Written failure records include reduced ones; a lost one could not be written at all. A
 * refetch restarts the stream to fetch what a retrying partition's full buffer dropped.
 */
export class EsmStats {
  batchesSucceeded = 0;
  partialFailures = 0;
  failedInvocations = 0;
  bisects = 0;
  recordsExpired = 0;
  batchesSentToOnFailure = 0;
  recordsSentToOnFailure = 0;
  failureRecordsReduced = 0;
  failureRecordsLost = 0;
  refetches = 0;

  get invocations(): number {
    return this.batchesSucceeded + this.partialFailures + this.failedInvocations;
  }
}

type Work = rules.Work<Message>;

/** One partition's lane: its buffer (the rules) and the loop that invokes the function with its batches. */
interface Lane {
  buffer: rules.LaneBuffer<Message>;
  wake?: () => void;
  loop?: Promise<void>;
  /** Its commits, chained in order off the invocation path (the next invocation does not wait for them). */
  committed: Promise<void>;
}

/** Attempts at writing one failure record before it is given up (the original stays on its topic). */
const ON_FAILURE_ATTEMPTS = 8;
const COMMIT_TIMEOUT_MS = 15_000;

/**
 * Emulates a Lambda event source mapping for Amazon MSK against any Kafka broker (local/README.md lists
 * what it does): partitions are processed independently, each in offset order by its own lane, one
 * invocation at a time, as `esm-lane.ts`'s rules (with AWS's pages) say; the shell fetches, invokes, writes
 * on-failure records and commits.
 *
 * Differs from AWS:
 * - Each batch holds one partition's records (AWS may mix partitions in one payload), and there is no
 *   cap on concurrent invocations besides one per partition (AWS scales its pollers).
 * - Writing a failure record is never retried forever: a whole failure record the broker refuses as too
 *   large is replaced by a reduced one (see `onFailureRecord`); any other failure is retried
 *   `ON_FAILURE_ATTEMPTS` times; then the record is skipped, loudly, counted in `failureRecordsLost`, and
 *   the offsets are committed past it: the original stays on its topic for the retention period. Lambda's
 *   page on Kafka on-failure destinations (kafka-on-failure-destination) documents the record format but
 *   not what happens to a record too large for the destination topic; for SNS destinations the API
 *   reference (API_OnFailure) documents dropping the payload above the size limit, as the reduced record does.
 * - While a partition retries with a full buffer, its newer records are dropped (not the other
 *   partitions'), and fetched again from the committed offsets once it goes on (`stats.refetches`).
 */
export class EsmEmulator {
  readonly stats = new EsmStats();
  readonly functionName: string;
  readonly groupId: string;
  readonly #options: EsmEmulatorOptions;
  readonly #source: msk.EventSource;
  readonly #settings: rules.LaneSettings;
  readonly #lanes = new Map<string, Lane>();
  readonly #stopping = new AbortController();
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #producer: Producer | undefined;
  #replacement: Promise<void> | undefined;

  constructor(options: EsmEmulatorOptions) {
    this.#options = options;
    const defaults = { bisectBatchOnFunctionError: false, reportBatchItemFailures: false };
    this.#settings = { ...defaults, maximumRecordAgeSeconds: -1, ...options.trigger };
    this.#source = {
      eventSourceArn: msk.localClusterArn(),
      bootstrapServers: options.bootstrapBrokers.join(','),
    };
    this.functionName = options.functionName;
    this.groupId = options.groupId;
  }

  get #stopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  #log(line: string): void {
    this.#options.log(`[esm:${this.functionName}] ${line}`);
  }

  /** Joins the consumer group and starts polling; resolves once the stream is open. */
  async start(): Promise<void> {
    if (this.#producer) throw new Error(`ESM of ${this.functionName} already started`);
    const { bootstrapBrokers, functionName } = this.#options;
    const clientId = `esm-${functionName}-on-failure`;
    this.#producer = new Producer({ clientId, bootstrapBrokers, acks: ProduceAcks.ALL });
    await this.#connect();
  }

  async #connect(): Promise<void> {
    const { groupId, bootstrapBrokers, trigger, functionName } = this.#options;
    const consumer = new Consumer({
      clientId: `esm-${functionName}`,
      groupId,
      bootstrapBrokers,
      autocommit: false,
      // (The stream takes these two too.) Short long-polls keep the batching window honest; heartbeats keep
      // the membership alive while a handler runs (the invocation does not block the event loop).
      maxWaitTime: 250,
      sessionTimeout: 30_000,
      heartbeatInterval: 1_000,
    });
    consumer.on('consumer:group:join', () => this.#onRebalance());
    const stream = await consumer
      .consume({
        topics: [trigger.topic],
        mode: 'committed',
        fallbackMode: trigger.startingPosition === 'TRIM_HORIZON' ? 'earliest' : 'latest',
      })
      .catch(async (error: unknown) => {
        await consumer.close(true).catch(() => undefined);
        throw error;
      });
    if (this.#stopped) {
      // Stopped while joining (a replacement): this consumer is nobody's to close.
      await stream.close().catch(() => undefined);
      await consumer.close().catch(() => undefined);
      throw new Error('stopped');
    }
    this.#consumer = consumer;
    this.#stream = stream;
    stream.on('data', (record: Message) => this.#accept(record));
    stream.on('error', (error: Error) => {
      if (this.#stopped) return;
      this.#log(`consumer error: ${error.message} — reconnecting`);
      void this.#replaceConsumer('outage', consumer);
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
  #replaceConsumer(why: 'outage' | 'refetch', current = this.#consumer): Promise<void> {
    if (this.#replacement) return this.#replacement;
    if (this.#consumer !== current || this.#stopped) return Promise.resolve();
    this.#replacement = this.#replace(current, why).finally(() => {
      this.#replacement = undefined;
      // A partition that dropped records after this replacement restarted the stream needs another.
      const lanes = [...this.#lanes.values()];
      if (lanes.some(({ buffer }) => buffer.gap && !buffer.retrying)) void this.#replaceConsumer('refetch');
    });
    return this.#replacement;
  }

  async #replace(current: Consumer | undefined, why: 'outage' | 'refetch') {
    this.#stream?.removeAllListeners('data');
    // A refetch starts from the committed offsets: those of the batches that succeeded must be in. (After
    // an outage they go through the dead consumer and fail: those records are delivered again.)
    if (why === 'refetch') await this.#commitsSettled();
    await this.#stream?.close().catch(() => undefined);
    await current?.close(true).catch(() => undefined);
    // What was fetched but not taken into a batch will be fetched again from the committed offsets.
    this.#onRebalance();
    const { signal } = this.#stopping;
    // After an outage the broker was just lost: wait before the first attempt too. Then until the broker
    // answers, as Lambda's pollers do: only stopping ends the attempts.
    if (why === 'outage' && !(await this.#wait(this.#retryDelayMs(1)))) return;
    const connect = async (attempt: number) => {
      await this.#connect();
      if (why === 'refetch') this.stats.refetches++;
      else this.#log(`consumer reconnected after ${attempt} attempt(s)`);
    };
    await retry(connect, {
      attempts: Number.MAX_SAFE_INTEGER,
      delay: (retry) => this.#retryDelayMs(retry + 1),
      signal,
      onRetry: ({ error, attempt }) =>
        this.#log(`reconnect attempt ${attempt} failed: ${errorSummary(error)}`),
    }).catch((error: unknown) => {
      if (!signal.aborted) throw error;
    });
  }

  /**
   * Stops polling. An invocation in flight finishes (and is committed if it succeeded); a batch waiting
   * for a retry is abandoned uncommitted, so the next start delivers it again, as after a redeploy.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
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

  #accept(record: Message): void {
    if (this.#stopped) return;
    const key = rules.partitionKey(record);
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { buffer: new rules.LaneBuffer<Message>(this.#settings), committed: Promise.resolve() };
      lane.loop = this.#runLane(lane).catch((error: unknown) => {
        this.#log(`${key} stopped on an unexpected error: ${(error as Error).stack ?? error}`);
      });
      this.#lanes.set(key, lane);
    }
    if (lane.buffer.accept(record, msk.eventRecordBytes(record), Date.now()) !== 'taken') return;
    this.#updateFlow();
    lane.wake?.();
  }

  #updateFlow(): void {
    const stream = this.#stream;
    if (!stream) return;
    const buffers = [...this.#lanes.values()].map((lane) => lane.buffer);
    const decision = rules.flow(buffers, stream.isPaused());
    if (decision === 'pause') stream.pause();
    else if (decision === 'resume') stream.resume();
  }

  /** After a (re)join the stream restarts from the committed offsets: drop what no batch has taken yet. */
  #onRebalance(): void {
    for (const lane of this.#lanes.values()) lane.buffer.reset();
    if (this.#stream?.isPaused()) this.#stream.resume();
  }

  /** Invokes the function with the lane's batches, one at a time, as they fall due. */
  async #runLane(lane: Lane): Promise<void> {
    while (!this.#stopped) {
      const due = lane.buffer.due(Date.now());
      if (due.kind !== 'ready') {
        // Until the lane's next accepted record, stop, or the end of the batching window.
        await new Promise<void>((resolve) => {
          const timer = due.kind === 'wait' ? setTimeout(resolve, due.ms) : undefined;
          lane.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        lane.wake = undefined;
        continue;
      }
      // With no window, still gather what the same fetch delivered before invoking.
      if (this.#settings.maximumBatchingWindowSeconds === 0) await new Promise(setImmediate);
      if (this.#stopped) return;
      // A rebalance meanwhile may have emptied the buffer.
      const batch = lane.buffer.take();
      this.#updateFlow();
      if (batch.length === 0) continue;
      await this.#workThrough(lane, batch).finally(() => this.#setRetrying(lane, false));
      // What the full buffer dropped meanwhile: fetched again, from the offsets just committed.
      if (lane.buffer.gap && !this.#stopped) await this.#replaceConsumer('refetch');
    }
  }

  /**
   * Works a batch through as the lane's rules say: expired records to on-failure, the rest invoked, then
   * retried, split, resumed from a reported record or sent to on-failure, committing as records finish.
   * Returns early when the emulator stops: the unfinished records stay uncommitted, delivered again later.
   */
  async #workThrough(lane: Lane, batch: Message[]): Promise<void> {
    const pending: Work[] = [rules.freshWork(batch)];
    let failuresInARow = 0;
    // Nothing of the batch is finished yet: the partition is committed up to its first record already.
    let committedTo = batch[0]?.offset;
    for (let work = pending.shift(); work; work = pending.shift()) {
      const fresh = await this.#dropExpired(work);
      if (!fresh) return;
      if (fresh.records.length > 0) {
        if (failuresInARow > 0 && !(await this.#wait(this.#retryDelayMs(failuresInARow)))) return;
        const invoked = { ...fresh, invocations: fresh.invocations + 1 };
        const outcome = await this.#invoke(invoked);
        const { requestId } = outcome;
        const verdict = rules.readResponse(outcome, invoked.records, this.#settings);
        const next = rules.afterInvocation(invoked, verdict, this.#settings);
        this.#report(invoked, verdict, next, requestId);
        failuresInARow = verdict.kind === 'success' ? 0 : failuresInARow + 1;
        const context = { requestId, approximateInvokeCount: invoked.invocations };
        if (!(await this.#sendToOnFailure(next.exhausted, { ...context, condition: 'RetriesExhausted' })))
          return;
        pending.unshift(...next.pending);
        this.#setRetrying(lane, pending.length > 0 && failuresInARow > 0);
      }
      const point = rules.commitPoint(pending, batch);
      if (point !== undefined && (committedTo === undefined || point > committedTo)) {
        committedTo = point;
        // #commit never rejects: a failed commit means the records are delivered again.
        lane.committed = lane.committed.then(() => this.#commit(batch[0] as Message, point));
      }
    }
  }

  #setRetrying(lane: Lane, retrying: boolean): void {
    if (lane.buffer.retrying === retrying) return;
    lane.buffer.retrying = retrying;
    this.#updateFlow();
  }

  /** Sends the work's records older than the maximum record age to on-failure; the rest (none: stopping). */
  async #dropExpired(work: Work): Promise<Work | undefined> {
    const maxAge = this.#settings.maximumRecordAgeSeconds;
    const { expired, fresh } = rules.expire(work.records, Date.now(), maxAge);
    if (expired.length === 0) return work;
    this.stats.recordsExpired += expired.length;
    this.#log(
      `${describeBatch(expired)} older than ${maxAge} s: to ${this.#options.trigger.onFailure} unprocessed`,
    );
    // No invocation carried them this time: the failure record gets a request id of its own.
    const context = { requestId: randomUUID(), approximateInvokeCount: work.invocations };
    const sent = await this.#sendToOnFailure(expired, { ...context, condition: 'RecordAgeExceeded' });
    return sent ? { ...work, records: fresh } : undefined;
  }

  /** An invoker reports failures as outcomes; one that throws is a failed invocation all the same. */
  #invoke(work: Work): Promise<InvokeOutcome> {
    return this.#options.invoke(msk.buildMskEvent(this.#source, work.records)).catch(failedOutcome);
  }

  /** Counts an invocation and logs what follows a failed or partly failed one. */
  #report(work: Work, verdict: rules.Verdict, next: rules.Next<Message>, requestId: string): void {
    const { stats } = this;
    if (verdict.kind === 'success') {
      stats.batchesSucceeded++;
      return;
    }
    if (verdict.kind === 'partial') stats.partialFailures++;
    else stats.failedInvocations++;
    if (next.bisected) stats.bisects++;
    if (next.exhausted.length > 0) stats.batchesSentToOnFailure++;
    const { retryAttempts, onFailure } = this.#options.trigger;
    const what =
      verdict.kind === 'partial'
        ? `reported failed records, the first at offset ${verdict.from}`
        : `failed (${verdict.reason})`;
    const then = next.bisected
      ? 'splitting the batch in halves'
      : next.exhausted.length > 0
        ? `retries exhausted: ${describeBatch(next.exhausted)} to ${onFailure}`
        : `retrying ${describeBatch(next.pending[0]?.records ?? [])}`;
    const invocation = `invocation ${requestId} on ${describeBatch(work.records)}`;
    this.#log(`${invocation} (retry ${work.retries} of ${retryAttempts}) ${what} — ${then}`);
  }

  #commitsSettled(): Promise<unknown> {
    return Promise.all([...this.#lanes.values()].map((lane) => lane.committed));
  }

  #retryDelayMs(failures: number): number {
    return rules.backoffMs(failures, this.#options.retryBackoff ?? { initialMs: 500, maxMs: 10_000 });
  }

  /** Waits `ms`; false when the emulator stops meanwhile. */
  #wait(ms: number): Promise<boolean> {
    return sleep(ms, true, { signal: this.#stopping.signal }).catch(() => false);
  }

  /** One failure record per record, in order; false when stopped meanwhile (the records stay uncommitted). */
  async #sendToOnFailure(
    records: Message[],
    failure: Omit<msk.FailureContext, 'functionArn'>,
  ): Promise<boolean> {
    const context = { ...failure, functionArn: localFunctionArn(this.functionName) };
    for (const record of records) if (!(await this.#writeFailureRecord(record, context))) return false;
    return true;
  }

  /** Whole, else reduced, else skipped (see the class doc); false when stopped meanwhile. */
  async #writeFailureRecord(record: Message, context: msk.FailureContext): Promise<boolean> {
    const { onFailure } = this.#options.trigger;
    const at = `${rules.partitionKey(record)}@${record.offset}`;
    let reduced = false;
    const write = async () => {
      try {
        await this.#produceFailureRecord(record, context, reduced);
      } catch (error) {
        if (reduced || !isTooLarge(error)) throw error;
        this.#log(`the failure record of ${at} is too large for ${onFailure}: writing it without the value`);
        reduced = true;
        await this.#produceFailureRecord(record, context, true);
      }
    };
    const failed = (error: unknown) =>
      `could not write the failure record of ${at} to ${onFailure}: ${errorSummary(error)}`;
    try {
      await retry(write, {
        attempts: ON_FAILURE_ATTEMPTS,
        delay: (retry) => this.#retryDelayMs(retry),
        // A reduced record that is still too large will never fit: no point in waiting for it.
        retryIf: (error) => !this.#stopped && !isTooLarge(error),
        // The first attempt is made even when stopping (as ever); only the waits end with the emulator.
        wait: (ms) => sleep(ms, undefined, { signal: this.#stopping.signal }),
        onRetry: ({ error, attempt }) =>
          this.#log(`${failed(error)} (attempt ${attempt}/${ON_FAILURE_ATTEMPTS})`),
      });
      this.stats.recordsSentToOnFailure++;
      if (reduced) this.stats.failureRecordsReduced++;
    } catch (error) {
      if (this.#stopped) return false;
      this.stats.failureRecordsLost++;
      this.#log(
        `FAILURE RECORD LOST: ${failed(error)}; skipping it (the original stays on its topic until retention removes it)`,
      );
    }
    return true;
  }

  async #produceFailureRecord(record: Message, context: msk.FailureContext, reduced: boolean): Promise<void> {
    const body = msk.onFailureRecord(this.#source, context, record, { reduced });
    // Lambda keeps the original record's key, so the failure lands on the same partition key (unless
    // the key itself is what is too large).
    const keyLeftOut =
      reduced && body.payload.records[rules.partitionKey(record)]?.[0]?.keyTruncated === true;
    const key = record.key && !keyLeftOut ? { key: record.key } : {};
    const message = {
      topic: this.#options.trigger.onFailure,
      ...key,
      value: Buffer.from(JSON.stringify(body)),
    };
    await this.#producer?.send({ messages: [message] });
  }

  /** Commits `record`'s partition up to `offset` (the next to read). */
  async #commit(record: Message, offset: bigint): Promise<void> {
    try {
      if (!this.#consumer) throw new Error('no consumer');
      // Through the current consumer, not the messages' own commit(): after a reconnect the stream that
      // fetched them is closed and its commit would never settle.
      const { topic, partition, leaderEpoch } = record;
      const commit = this.#consumer.commit({ offsets: [{ topic, partition, offset, leaderEpoch }] });
      if ((await raceTimeout(commit, COMMIT_TIMEOUT_MS)) === TIMED_OUT)
        throw new Error(`timed out after ${COMMIT_TIMEOUT_MS} ms`);
    } catch (error) {
      // The records will be delivered again: at least once, as with Lambda after a rebalance.
      this.#log(`commit failed: ${errorSummary(error)}`);
    }
  }
}

/** A batch's records, all of one partition (each lane has its own), as `<topic>-<partition>@<from>..<to>`. */
function describeBatch(batch: readonly Message[]): string {
  const [first, last] = [batch[0], batch.at(-1)];
  if (!first || !last) return 'no records';
  const to = last === first ? '' : `..${last.offset}`;
  return `${rules.partitionKey(first)}@${first.offset}${to}`;
}

/** The broker refused a produce for its size (also inside the client's aggregated errors). */
function isTooLarge(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const { apiId, errors } = error as { apiId?: unknown; errors?: unknown };
  if (apiId === 'MESSAGE_TOO_LARGE' || apiId === 'RECORD_LIST_TOO_LARGE') return true;
  return Array.isArray(errors) && errors.some((inner) => isTooLarge(inner, depth + 1));
}

const errorSummary = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);
