import { Admin, type Consumer, ListOffsetTimestamps } from '@platformatic/kafka';
import { type DeadLetterQueueRecord, parseDeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';
import { newReader, readRanges } from '../../tools/dlq/read.ts';
import { consumerGroupId, type FunctionName, manifest } from '../../topology/index.ts';
import { deadLetterTopic, kafkaConsumers } from '../../topology/topics.ts';
import { consumerLag, topicOffsets } from '../infra/consumer-lag.ts';

export interface ConsumerLag {
  function: string;
  groupId: string;
  topic: string;
  /** Records on the topic the group has not committed yet; null before the group committed anything. */
  lag: number | null;
}

type TopicName = keyof typeof manifest.topics;
/** How long one poll may read the dead-letter topic's new records; the next poll goes on from there. */
const DLQ_READ_TIMEOUTS = { overallMs: 10_000, idleMs: 5_000 };

/** One partition's retained offsets: the earliest (inclusive) to the end (exclusive). */
type Range = { start: bigint; end: bigint };
const earlier = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * The dead letters on the dead-letter topic, which also holds `dlq:replay`'s `DeadLetterReplayed` markers:
 * those say a letter went back once, they are no dead letter. Per partition, how far it was read and the
 * offsets of the markers in it (a set: a record read again after a failed read counts once), so that
 * retention (the start moving up) drops letters and markers alike. An unreadable record is a dead letter
 * (someone should look).
 */
export class DeadLetterTally {
  private readonly next = new Map<number, bigint>();
  private readonly markers = new Map<number, Set<bigint>>();

  /** What is left to read of each partition (by index): from where it was read to its end. */
  unread(ranges: readonly Range[]): Range[] {
    return ranges.map(({ start, end }, partition) => {
      const next = this.next.get(partition) ?? start;
      return { start: next > start ? earlier(next, end) : start, end };
    });
  }

  add(partition: number, offset: bigint, record: DeadLetterQueueRecord): void {
    if (record.kind === 'marker')
      this.markers.set(partition, (this.markers.get(partition) ?? new Set()).add(offset));
  }

  /** The ranges given were read to their ends. */
  read(ranges: readonly Range[]): void {
    for (const [partition, { end }] of ranges.entries()) this.next.set(partition, end);
  }

  /** Records read and still retained, less the markers among them. */
  count(ranges: readonly Range[]): number {
    let letters = 0;
    ranges.forEach(({ start, end }, partition) => {
      const upTo = earlier(this.next.get(partition) ?? start, end);
      const markers = this.markers.get(partition) ?? new Set();
      for (const offset of markers) if (offset < start) markers.delete(offset);
      if (upTo > start) letters += Number(upTo - start) - [...markers].filter((o) => o < upTo).length;
    });
    return letters;
  }
}

/**
 * Consumer lag per function (each group's committed offsets against its topic's end offsets) and the
 * dead letters on the dead-letter topic: its records, read as they arrive, less `dlq:replay`'s markers.
 */
export class KafkaState {
  private readonly admin: Admin;
  private readonly reader: Consumer<Buffer, Buffer, Buffer, Buffer>;
  private readonly consumers: { fn: string; topic: TopicName; groupId: string }[];
  private readonly tally = new DeadLetterTally();

  constructor(brokers: string[], groupIdOf: (fn: FunctionName) => string = consumerGroupId) {
    this.admin = new Admin({ clientId: 'local-dashboard', bootstrapBrokers: brokers });
    this.reader = newReader({ clientId: 'local-dashboard', bootstrapBrokers: brokers });
    this.consumers = kafkaConsumers.map(({ name, trigger }) => ({
      fn: name,
      topic: trigger.topic as TopicName,
      groupId: groupIdOf(name as FunctionName),
    }));
  }

  async read(): Promise<{ lag: ConsumerLag[]; deadLettersOnTopic: number }> {
    const topics = [...new Set([...this.consumers.map((c) => c.topic), deadLetterTopic])];
    // A partition without a commit is behind by all it holds (the group starts at TRIM_HORIZON).
    const starts = await topicOffsets(this.admin, topics, ListOffsetTimestamps.EARLIEST);
    const [lags, ends] = await Promise.all([
      consumerLag(this.admin, this.consumers, starts),
      topicOffsets(this.admin, [deadLetterTopic]),
    ]);
    const lag = lags.map(({ fn, topic, groupId, behind, committed }): ConsumerLag => {
      return { function: fn, groupId, topic, lag: committed ? behind : null };
    });
    const [dlqStart, dlqEnd] = [starts.get(deadLetterTopic), ends.get(deadLetterTopic)];
    const ranges: Range[] = Array.from({ length: manifest.topics[deadLetterTopic].partitions }, (_, p) => ({
      start: dlqStart?.get(p) ?? 0n,
      end: dlqEnd?.get(p) ?? 0n,
    }));
    // The dead-letter topic's records not classified yet: which are letters, which are markers.
    const unread = this.tally.unread(ranges);
    await readRanges(
      this.reader,
      deadLetterTopic,
      unread,
      (message) =>
        this.tally.add(message.partition, message.offset, parseDeadLetterQueueRecord(message.value)),
      DLQ_READ_TIMEOUTS,
    );
    this.tally.read(unread);
    return { lag, deadLettersOnTopic: this.tally.count(ranges) };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.admin.close(), this.reader.close(true)]);
  }
}
