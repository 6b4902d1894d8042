import { randomUUID } from 'node:crypto';
import { Consumer, ListOffsetTimestamps, type Message } from '@platformatic/kafka';
import type { KafkaConnection } from '../../functions/shared/kafka/connection.ts';

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** Every wait of the tool is bounded: the whole run, and any stretch without progress. */
export interface Timeouts {
  /** The whole run. */
  overallMs: number;
  /** No record read and no offset advanced for this long: the broker is not giving what it said it has. */
  idleMs: number;
}

export class ReplayTimeoutError extends Error {
  override readonly name = 'ReplayTimeoutError';
}

/** The readable offsets of one partition: the earliest still retained (inclusive) to the end (exclusive). */
export interface PartitionRange {
  start: bigint;
  end: bigint;
}

/** A consumer that never commits; its group is a throwaway, so it reads regardless of anyone else's offsets. */
export function newReader(connection: KafkaConnection): Consumer<Buffer, Buffer, Buffer, Buffer> {
  return new Consumer<Buffer, Buffer, Buffer, Buffer>({
    ...connection,
    groupId: `dlq-replay-${randomUUID()}`,
    autocommit: false,
    maxWaitTime: 250,
  });
}

/** Rejects with a `ReplayTimeoutError` naming `what` when `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReplayTimeoutError(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Each partition's retained range, from listing the earliest and the latest offsets: retention (or a
 * deleteRecords) moves the start above 0, and a partition whose start reached its end has nothing left.
 */
export async function partitionRanges(
  consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
  topic: string,
  timeoutMs: number,
): Promise<PartitionRange[]> {
  const [earliest, latest] = await within(
    Promise.all([
      consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST }),
      consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST }),
    ]),
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
  consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
  topic: string,
  ranges: readonly PartitionRange[],
  onMessage: (message: RawMessage) => void,
  timeouts: Timeouts,
): Promise<void> {
  const remaining = new Map<number, PartitionRange>();
  ranges.forEach((range, partition) => {
    if (range.start < range.end) remaining.set(partition, range);
  });
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
  const describe = () =>
    [...remaining]
      .map(([p, range]) => `partition ${p} at ${position(p) ?? range.start} of ${range.start}..${range.end}`)
      .join(', ');
  // Fetched records are in the stream's buffer before its offsets move past them, and closing ends the
  // stream after that buffer: nothing fetched is lost by closing here.
  const check = setInterval(() => {
    for (const [partition, range] of remaining) {
      const next = position(partition);
      if (next !== undefined && next >= range.end) remaining.delete(partition);
    }
    const positions = [...remaining.keys()].map((p) => String(position(p))).join(',');
    if (positions !== lastPositions) {
      lastPositions = positions;
      lastProgress = Date.now();
    }
    const now = Date.now();
    if (remaining.size > 0 && now - started > timeouts.overallMs) {
      failure = new ReplayTimeoutError(
        `reading ${topic} timed out after ${timeouts.overallMs} ms: ${describe()}`,
      );
    } else if (remaining.size > 0 && now - lastProgress > timeouts.idleMs) {
      failure = new ReplayTimeoutError(
        `reading ${topic} made no progress for ${timeouts.idleMs} ms: ${describe()}`,
      );
    }
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

export type FetchedRecord = { found: RawMessage } | { missing: string };

/**
 * The record at `topic`/`partition`/`offset`, or why it is not there: trimmed by retention (below the
 * partition's start), beyond its end, or skipped (no record at that offset).
 */
export async function fetchRecord(
  connection: KafkaConnection,
  at: { topic: string; partition: number; offset: bigint },
  timeouts: Timeouts,
): Promise<FetchedRecord> {
  const consumer = newReader(connection);
  try {
    const ranges = await partitionRanges(consumer, at.topic, timeouts.idleMs);
    const range = ranges[at.partition];
    if (!range) return { missing: `${at.topic} has no partition ${at.partition}` };
    if (at.offset < range.start) {
      return {
        missing: `gone from ${at.topic}: partition ${at.partition} now starts at offset ${range.start} (trimmed by retention)`,
      };
    }
    if (at.offset >= range.end) {
      return { missing: `not on ${at.topic}: partition ${at.partition} ends at offset ${range.end}` };
    }
    let found: RawMessage | undefined;
    await readRanges(
      consumer,
      at.topic,
      ranges.map((r, partition) =>
        partition === at.partition ? { start: at.offset, end: at.offset + 1n } : { start: r.end, end: r.end },
      ),
      (message) => {
        if (message.offset === at.offset) found = message;
      },
      timeouts,
    );
    return found ? { found } : { missing: `no record at ${at.topic}:${at.partition}:${at.offset}` };
  } finally {
    await consumer.close(true).catch(() => {});
  }
}
