import * as z from 'zod';
import type { KafkaTrigger } from '../../topology/index.ts';
import type { InvokeOutcome } from './lambda-context.ts';
import type { ConsumedRecord } from './msk-event.ts';

/**
 * The rules of one partition's lane of the MSK event source mapping emulator, with no I/O (the shell,
 * `esm-emulator.ts`, fetches, invokes, writes and commits as they say). AWS's pages for them:
 * - "Configuring error handling controls for Kafka event sources" (kafka-retry-configurations): retry
 *   attempts (not counting the first invocation; -1 infinite), maximum record age (-1 infinite), split
 *   batch on error, partial batch response.
 * - The partial batch response's rules, from the stream pages the Kafka feature follows
 *   (services-kinesis-batchfailurereporting): the response is not processed unless ReportBatchItemFailures
 *   is on; an empty or null list or response is a complete success; an empty, null or badly keyed
 *   `itemIdentifier` is a complete failure; "Lambda uses the record with the lowest sequence number as the
 *   checkpoint" and retries every record from it.
 * - The identifier's Kafka shape, `{ partition: "<topic>-<partition>", offset }`, from AWS's Powertools for
 *   Python (its Kafka batch support, PR 7941): the Kafka page's example could not be read here.
 */

/** Lambda's limit on a synchronous invocation's request payload. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** A fetched record, as far as the lane's rules need it (`timestamp`: CreateTime, in ms since the epoch). */
export type LaneRecord = Pick<ConsumedRecord, 'topic' | 'partition' | 'offset' | 'timestamp'>;

/** The mapping's settings the rules follow, as the manifest declares them (topology/types.ts). */
export type LaneSettings = Pick<
  KafkaTrigger,
  | 'batchSize'
  | 'maximumBatchingWindowSeconds'
  | 'retryAttempts'
  | 'bisectBatchOnFunctionError'
  | 'reportBatchItemFailures'
  | 'maximumRecordAgeSeconds'
>;

export const partitionKey = (r: { topic: string; partition: number }): string => `${r.topic}-${r.partition}`;

/**
 * One partition's records waiting for a batch. While its batch is retried and the buffer is full, newer
 * records are dropped (`gap`) and fetched again later; a (re)join starts again after what batches took.
 */
export class LaneBuffer<R extends LaneRecord> {
  readonly #items: { record: R; arrivedAt: number; bytes: number }[] = [];
  #bytes = 0;
  /** Its batch failed and is being retried: it must not hold the stream (and the other partitions) back. */
  retrying = false;
  /** Records were dropped while it was retrying with a full buffer: they must be fetched again. */
  gap = false;
  /** The next offset to accept: anything below was already taken into a batch. */
  #nextOffset: bigint | undefined;
  /** The end of what batches took (in flight or done). */
  #takenUpTo: bigint | undefined;

  constructor(readonly settings: Pick<LaneSettings, 'batchSize' | 'maximumBatchingWindowSeconds'>) {}

  get capacity(): number {
    return Math.max(2 * this.settings.batchSize, 500);
  }

  accept(record: R, bytes: number, now: number): 'taken' | 'already-taken' | 'dropped' {
    // A refetch after a rebalance can hand over records again that are already in a batch.
    if (this.#nextOffset !== undefined && record.offset < this.#nextOffset) return 'already-taken';
    if (this.gap || (this.retrying && this.isFull())) {
      // Not taken, and the next offset stays: the record is fetched again once the lane goes on.
      this.gap = true;
      return 'dropped';
    }
    this.#nextOffset = record.offset + 1n;
    this.#items.push({ record, arrivedAt: now, bytes });
    this.#bytes += bytes;
    return 'taken';
  }

  isFull(): boolean {
    return this.#items.length >= this.capacity || this.#bytes >= 2 * MAX_PAYLOAD_BYTES;
  }

  /** Down to half: a paused stream may resume. */
  isDrained(): boolean {
    return this.#items.length < this.capacity / 2 && this.#bytes < MAX_PAYLOAD_BYTES;
  }

  /**
   * When the next batch may be taken: once `batchSize` records or 6 MB are in, or the batching window that
   * opened with the first record has passed.
   */
  due(now: number): { kind: 'empty' } | { kind: 'ready' } | { kind: 'wait'; ms: number } {
    const first = this.#items[0];
    if (!first) return { kind: 'empty' };
    const windowEnd = first.arrivedAt + this.settings.maximumBatchingWindowSeconds * 1000;
    if (this.#items.length >= this.settings.batchSize || this.#bytes >= MAX_PAYLOAD_BYTES || now >= windowEnd)
      return { kind: 'ready' };
    return { kind: 'wait', ms: windowEnd - now };
  }

  /** Takes the next batch: up to `batchSize` records and never above the payload limit (but one). */
  take(): R[] {
    let bytes = 0;
    let count = 0;
    for (const item of this.#items) {
      if (count === this.settings.batchSize || (count > 0 && bytes + item.bytes > MAX_PAYLOAD_BYTES)) break;
      bytes += item.bytes;
      count++;
    }
    const batch = this.#items.splice(0, count).map((item) => item.record);
    this.#bytes -= bytes;
    const last = batch.at(-1);
    if (last) this.#takenUpTo = last.offset + 1n;
    return batch;
  }

  /** After a (re)join the stream restarts from the committed offsets: drops what no batch has taken. */
  reset(): void {
    this.#items.length = 0;
    this.#bytes = 0;
    this.gap = false;
    this.#nextOffset = this.#takenUpTo;
  }
}

/**
 * Back-pressure: the stream pauses while a partition that is making progress has a full buffer, and
 * resumes once every such partition is down to half. A retrying partition never pauses it.
 */
export function flow(lanes: Iterable<LaneBuffer<LaneRecord>>, paused: boolean): 'pause' | 'resume' | 'keep' {
  const progressing = [...lanes].filter((lane) => !lane.retrying);
  if (progressing.some((lane) => lane.isFull())) return paused ? 'keep' : 'pause';
  if (paused && progressing.every((lane) => lane.isDrained())) return 'resume';
  return 'keep';
}

/** Records still to be invoked together, with what they went through so far. */
export interface Work<R> {
  records: R[];
  /** Retries these records used (a split is not one: the halves keep it). */
  retries: number;
  /** Invocations that carried them (the on-failure record's `approximateInvokeCount`). */
  invocations: number;
}

export const freshWork = <R>(records: R[]): Work<R> => ({ records, retries: 0, invocations: 0 });

/** Splits off the records older than the maximum record age: they go to on-failure unprocessed. */
export function expire<R extends LaneRecord>(
  records: readonly R[],
  now: number,
  maximumRecordAgeSeconds: number,
): { expired: R[]; fresh: R[] } {
  if (maximumRecordAgeSeconds < 0) return { expired: [], fresh: [...records] };
  const oldest = BigInt(now - maximumRecordAgeSeconds * 1000);
  return {
    expired: records.filter((r) => r.timestamp < oldest),
    fresh: records.filter((r) => r.timestamp >= oldest),
  };
}

/** What an invocation's outcome means for the mapping. */
export type Verdict =
  | { kind: 'success' }
  | { kind: 'partial'; from: bigint }
  | { kind: 'failure'; reason: string };

const ResponseSchema = z.object({
  batchItemFailures: z
    .array(z.object({ itemIdentifier: z.object({ partition: z.string(), offset: z.int() }) }))
    .nullish(),
});

/**
 * Reads an invocation's outcome as the mapping does: one that failed as a whole (thrown, timed out, crashed,
 * out of memory) is a failure; a successful one's response, without ReportBatchItemFailures it is not
 * looked at; with it, `batchItemFailures` names the records to resume from. The lowest offset is the
 * checkpoint. An identifier that is malformed, or names a record that was not in this invocation, makes
 * the invocation a complete failure (the pages say so of a bad key; of an unknown record they say nothing:
 * strict, so a consumer's bug shows).
 */
export function readResponse(
  outcome: InvokeOutcome,
  records: readonly LaneRecord[],
  settings: Pick<LaneSettings, 'reportBatchItemFailures'>,
): Verdict {
  if (outcome.status === 'error')
    return { kind: 'failure', reason: `${outcome.kind}: ${outcome.errorType}: ${outcome.errorMessage}` };
  const { payload } = outcome;
  const isObject = typeof payload === 'object' && payload !== null && !Array.isArray(payload);
  if (!settings.reportBatchItemFailures || !isObject) return { kind: 'success' };
  const response = ResponseSchema.safeParse(payload);
  if (!response.success) return { kind: 'failure', reason: z.prettifyError(response.error) };
  let from: bigint | undefined;
  for (const { itemIdentifier: id } of response.data.batchItemFailures ?? []) {
    const found = records.find((r) => partitionKey(r) === id.partition && r.offset === BigInt(id.offset));
    const unknown = `itemIdentifier ${JSON.stringify(id)} names no record of this invocation`;
    if (!found) return { kind: 'failure', reason: unknown };
    if (from === undefined || found.offset < from) from = found.offset;
  }
  return from === undefined ? { kind: 'success' } : { kind: 'partial', from };
}

/** What follows an invocation of `work` (its `invocations` already counting that one). */
export interface Next<R> {
  /** To invoke next, in order, before anything newer of the partition. */
  pending: Work<R>[];
  /** To write to the on-failure destination (retries exhausted), then to commit past. */
  exhausted: R[];
  /** The batch was split in two. */
  bisected: boolean;
}

const retriesLeft = (work: Work<unknown>, retryAttempts: number) =>
  retryAttempts < 0 || work.retries < retryAttempts;

/**
 * The mapping's rules after an invocation:
 * - success: done, committed past;
 * - partial (a successful invocation that named failed records): the records before the checkpoint are
 *   done; the rest is retried from it, one retry used; once the retries are used up the checkpoint record
 *   alone goes to on-failure and the records after it are invoked again as a new batch (it was named as
 *   the one that failed; those after it were not);
 * - failure (thrown, timed out, crashed, out of memory): with BisectBatchOnFunctionError and more than one
 *   record, split in two halves, each invoked on its own, in order, keeping the retries used so far (a
 *   split is not a retry); otherwise retried whole, one retry used; once they are used up, every record
 *   goes to on-failure.
 */
export function afterInvocation<R extends LaneRecord>(
  work: Work<R>,
  verdict: Verdict,
  settings: Pick<LaneSettings, 'retryAttempts' | 'bisectBatchOnFunctionError'>,
): Next<R> {
  const next = (pending: Work<R>[], exhausted: R[] = [], bisected = false) => ({
    pending,
    exhausted,
    bisected,
  });
  if (verdict.kind === 'success') return next([]);
  if (verdict.kind === 'partial') {
    const tail = work.records.filter((r) => r.offset >= verdict.from);
    if (retriesLeft(work, settings.retryAttempts))
      return next([{ ...work, records: tail, retries: work.retries + 1 }]);
    const [failed, ...rest] = tail;
    return next(rest.length > 0 ? [freshWork(rest)] : [], failed ? [failed] : []);
  }
  if (settings.bisectBatchOnFunctionError && work.records.length > 1) {
    const half = Math.ceil(work.records.length / 2);
    const halves = [work.records.slice(0, half), work.records.slice(half)];
    return next(
      halves.map((records) => ({ ...work, records })),
      [],
      true,
    );
  }
  if (retriesLeft(work, settings.retryAttempts)) return next([{ ...work, retries: work.retries + 1 }]);
  return next([], work.records);
}

/**
 * The partition's commit point while a batch is worked through: everything before the first record still
 * pending is finished (done, expired or sent to on-failure); with nothing pending, the whole batch is.
 */
export function commitPoint(
  pending: readonly Work<LaneRecord>[],
  batch: readonly LaneRecord[],
): bigint | undefined {
  const next = pending.find((work) => work.records.length > 0)?.records[0];
  if (next) return next.offset;
  const last = batch.at(-1);
  return last ? last.offset + 1n : undefined;
}

export type RetryBackoff = { initialMs: number; maxMs: number };

/** The wait before the retry after `failures` failed invocations in a row: `initialMs`, doubling up to `maxMs`. */
export function backoffMs(failures: number, backoff: RetryBackoff): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));
}
