import { Admin, type Consumer } from '@platformatic/kafka';
import { parseDeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';
import { newReader, readRanges } from '../../tools/dlq/read.ts';
import { consumerGroupId, type FunctionName, manifest } from '../../topology/index.ts';
import { deadLetterTopic, kafkaConsumers } from '../../topology/topics.ts';
import { DeadLetterTally, type Range } from './dead-letters.ts';

export interface ConsumerLag {
  function: string;
  groupId: string;
  topic: string;
  /** Records on the topic the group has not committed yet; null before the group committed anything. */
  lag: number | null;
}

const LATEST = -1n;
const EARLIEST = -2n;

/** The Kafka-triggered functions, their topic and consumer group. */
export function consumersOf(groupIdOf: (fn: FunctionName) => string = consumerGroupId) {
  return kafkaConsumers.map(({ name, trigger }) => ({
    fn: name as FunctionName,
    topic: trigger.topic as string,
    groupId: groupIdOf(name),
  }));
}

/** How long one poll may read the dead-letter topic's new records; the next poll goes on from there. */
const DLQ_READ_TIMEOUTS = { overallMs: 10_000, idleMs: 5_000 };

/**
 * Consumer lag per function (each group's committed offsets against its topic's end offsets) and the
 * dead letters on the dead-letter topic: its records, read as they arrive, less `dlq:replay`'s markers.
 */
export class KafkaState {
  private readonly admin: Admin;
  private readonly reader: Consumer<Buffer, Buffer, Buffer, Buffer>;
  private readonly consumers: ReturnType<typeof consumersOf>;
  private readonly tally = new DeadLetterTally();

  constructor(brokers: string[], groupIdOf?: (fn: FunctionName) => string) {
    this.admin = new Admin({ clientId: 'local-dashboard', bootstrapBrokers: brokers });
    this.reader = newReader({ clientId: 'local-dashboard', bootstrapBrokers: brokers });
    this.consumers = consumersOf(groupIdOf);
  }

  async read(): Promise<{ lag: ConsumerLag[]; deadLettersOnTopic: number }> {
    const topics = [...new Set([...this.consumers.map((c) => c.topic), deadLetterTopic])];
    const request = (timestamp: bigint) =>
      this.admin.listOffsets({
        topics: topics.map((name) => ({
          name,
          partitions: Array.from(
            { length: manifest.topics[name as keyof typeof manifest.topics].partitions },
            (_, partitionIndex) => ({ partitionIndex, timestamp }),
          ),
        })),
      });
    const [ends, starts, groups] = await Promise.all([
      request(LATEST),
      request(EARLIEST),
      this.admin.listConsumerGroupOffsets({ groups: this.consumers.map((c) => c.groupId) }),
    ]);
    const offsets = (listed: typeof ends, topic: string) =>
      new Map(
        (listed.find((t) => t.name === topic)?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]),
      );
    const lag = this.consumers.map(({ fn, topic, groupId }): ConsumerLag => {
      const end = offsets(ends, topic);
      const start = offsets(starts, topic);
      const committed = (groups.find((g) => g.groupId === groupId)?.topics ?? [])
        .find((t) => t.name === topic)
        ?.partitions.filter((p) => p.committedOffset >= 0n);
      if (!committed || committed.length === 0) return { function: fn, groupId, topic, lag: null };
      const done = new Map(committed.map((p) => [p.partitionIndex, p.committedOffset]));
      let behind = 0n;
      // A partition without a commit is behind by all it holds (the group starts at TRIM_HORIZON).
      for (const [partition, last] of end)
        behind += last - (done.get(partition) ?? start.get(partition) ?? 0n);
      return { function: fn, groupId, topic, lag: Number(behind < 0n ? 0n : behind) };
    });
    const dlqEnd = offsets(ends, deadLetterTopic);
    const dlqStart = offsets(starts, deadLetterTopic);
    const ranges: Range[] = Array.from({ length: manifest.topics[deadLetterTopic].partitions }, (_, p) => ({
      start: dlqStart.get(p) ?? 0n,
      end: dlqEnd.get(p) ?? 0n,
    }));
    await this.classifyDeadLetters(ranges);
    return { lag, deadLettersOnTopic: this.tally.count(ranges) };
  }

  /** Reads the dead-letter topic's records not classified yet: which are letters, which are markers. */
  private async classifyDeadLetters(ranges: readonly Range[]): Promise<void> {
    const unread = this.tally.unread(ranges);
    if (unread.every(({ start, end }) => start >= end)) return;
    await readRanges(
      this.reader,
      deadLetterTopic,
      unread,
      (message) =>
        this.tally.add(message.partition, message.offset, parseDeadLetterQueueRecord(message.value)),
      DLQ_READ_TIMEOUTS,
    );
    this.tally.read(unread);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.admin.close(), this.reader.close(true)]);
  }
}
