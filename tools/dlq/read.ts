import { randomUUID } from 'node:crypto';
import { Consumer, ListOffsetTimestamps, type Message } from '@platformatic/kafka';
import type { KafkaConnection } from '../../functions/shared/kafka/connection.ts';

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;
type Reader = Consumer<Buffer, Buffer, Buffer, Buffer>;

/** Every wait is bounded: the whole run, and any stretch with no record read and no offset advanced. */
export type Timeouts = { overallMs: number; idleMs: number };

export class ReplayTimeoutError extends Error {
  override readonly name = 'ReplayTimeoutError';
}

/** The readable offsets of one partition: the earliest still retained (inclusive) to the end (exclusive). */
type PartitionRange = { start: bigint; end: bigint };

/** A consumer that never commits; its group is a throwaway, so it reads regardless of anyone else's offsets. */
export function newReader(connection: KafkaConnection): Reader {
  return new Consumer({
    ...connection,
    groupId: `dlq-replay-${randomUUID()}`,
    autocommit: false,
    maxWaitTime: 250,
  });
}

/** Rejects with a `ReplayTimeoutError` naming `what` when `promise` takes longer than `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReplayTimeoutError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Each partition's retained range, from listing the earliest and the latest offsets: retention (or a
 * deleteRecords) moves the start above 0, and a partition whose start reached its end has nothing left.
 */
export async function partitionRanges(
  consumer: Reader,
  topic: string,
  timeoutMs: number,
): Promise<PartitionRange[]> {
  const list = (timestamp: bigint) => consumer.listOffsets({ topics: [topic], timestamp });
  const [earliest, latest] = await within(
    Promise.all([list(ListOffsetTimestamps.EARLIEST), list(ListOffsetTimestamps.LATEST)]),
    timeoutMs,
    `listing the offsets of ${topic}`,
  );
  const starts = earliest.get(topic) ?? [];
  const ends = latest.get(topic);
  if (!ends || ends.length === 0) throw new Error(`topic ${topic} not found`);
  return ends.map((end, partition) => {
    const start = starts[partition] ?? 0n;
    return { start: start < end ? start : end, end };
  });
}

/**
 * Reads `ranges` of `topic` (one per partition, by index), calling `onMessage` for every record in them,
 * and returns when every range is read. A partition counts as read when its next offset to fetch reached
 * the range's end, even when the last offsets hold no record for us (transaction markers, a trim while
 * reading). Rejects with a `ReplayTimeoutError` after `timeouts.overallMs`, or when nothing moved for
 * `timeouts.idleMs`, naming the partitions not read to the end.
 */
export async function readRanges(
  consumer: Reader,
  topic: string,
  ranges: readonly PartitionRange[],
  onMessage: (message: RawMessage) => void,
  timeouts: Timeouts,
): Promise<void> {
  const remaining = new Map([...ranges.entries()].filter(([, range]) => range.start < range.end));
  if (remaining.size === 0) return;
  const stream = await within(
    consumer.consume({
      topics: [topic],
      mode: 'manual',
      // A partition trimmed under our feet continues from its new start instead of jumping to the end.
      fallbackMode: 'earliest',
      offsets: ranges.map((range, partition) => ({
        topic,
        partition,
        offset: remaining.has(partition) ? range.start : range.end,
      })),
      autocommit: false,
      maxWaitTime: 250,
    }),
    timeouts.idleMs,
    `joining a consumer group to read ${topic}`,
  );
  const started = Date.now();
  let lastProgress = started;
  let lastPositions = '';
  let failure: ReplayTimeoutError | undefined;
  const position = (partition: number) => stream.offsetsToFetch.get(`${topic}:${partition}`);
  const fail = (why: string) => {
    const where = [...remaining].map(
      ([p, r]) => `partition ${p} at ${position(p) ?? r.start} of ${r.start}..${r.end}`,
    );
    failure = new ReplayTimeoutError(`reading ${topic} ${why}: ${where.join(', ')}`);
  };
  // Fetched records are in the stream's buffer before its offsets move past them, and closing ends the
  // stream after that buffer: nothing fetched is lost by closing here.
  const check = setInterval(() => {
    for (const [partition, range] of remaining)
      if ((position(partition) ?? -1n) >= range.end) remaining.delete(partition);
    const positions = [...remaining.keys()].map((p) => String(position(p))).join(',');
    if (positions !== lastPositions) {
      lastPositions = positions;
      lastProgress = Date.now();
    }
    if (remaining.size > 0 && Date.now() - started > timeouts.overallMs)
      fail(`timed out after ${timeouts.overallMs} ms`);
    else if (remaining.size > 0 && Date.now() - lastProgress > timeouts.idleMs)
      fail(`made no progress for ${timeouts.idleMs} ms`);
    if (remaining.size === 0 || failure) void stream.close();
  }, 100);
  try {
    for await (const message of stream as AsyncIterable<RawMessage>) {
      lastProgress = Date.now();
      const range = remaining.get(message.partition);
      if (!range || message.offset < range.start || message.offset >= range.end) continue;
      onMessage(message);
      if (message.offset + 1n >= range.end) remaining.delete(message.partition);
      if (remaining.size === 0) break;
    }
  } finally {
    clearInterval(check);
    await stream.close().catch(() => {});
  }
  if (failure) throw failure;
}
