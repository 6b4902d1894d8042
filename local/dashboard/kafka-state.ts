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

type TopicName = keyof typeof manifest.topics;
const LATEST = -1n;
const EARLIEST = -2n;
/** How long one poll may read the dead-letter topic's new records; the next poll goes on from there. */
const DLQ_READ_TIMEOUTS = { overallMs: 10_000, idleMs: 5_000 };

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
    /** Per topic, per partition, the offset at `timestamp` (LATEST: the end, EARLIEST: the first retained). */
    const offsets = async (timestamp: bigint) => {
      const listed = await this.admin.listOffsets({
        topics: topics.map((name) => ({
          name,
          partitions: Array.from({ length: manifest.topics[name].partitions }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp,
          })),
        })),
      });
      return (topic: string) =>
        new Map(
          (listed.find((t) => t.name === topic)?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]),
        );
    };
    const [ends, starts, groups] = await Promise.all([
      offsets(LATEST),
      offsets(EARLIEST),
      this.admin.listConsumerGroupOffsets({ groups: this.consumers.map((c) => c.groupId) }),
    ]);
    const lag = this.consumers.map(({ fn, topic, groupId }): ConsumerLag => {
      const committed = (groups.find((g) => g.groupId === groupId)?.topics ?? [])
        .find((t) => t.name === topic)
        ?.partitions.filter((p) => p.committedOffset >= 0n);
      if (!committed || committed.length === 0) return { function: fn, groupId, topic, lag: null };
      const done = new Map(committed.map((p) => [p.partitionIndex, p.committedOffset]));
      const start = starts(topic);
      let behind = 0n;
      // A partition without a commit is behind by all it holds (the group starts at TRIM_HORIZON).
      for (const [partition, last] of ends(topic))
        behind += last - (done.get(partition) ?? start.get(partition) ?? 0n);
      return { function: fn, groupId, topic, lag: Number(behind < 0n ? 0n : behind) };
    });
    const [dlqStart, dlqEnd] = [starts(deadLetterTopic), ends(deadLetterTopic)];
    const ranges: Range[] = Array.from({ length: manifest.topics[deadLetterTopic].partitions }, (_, p) => ({
      start: dlqStart.get(p) ?? 0n,
      end: dlqEnd.get(p) ?? 0n,
    }));
    // The dead-letter topic's records not classified yet: which are letters, which are markers.
    const unread = this.tally.unread(ranges);
    if (unread.some(({ start, end }) => start < end)) {
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
    return { lag, deadLettersOnTopic: this.tally.count(ranges) };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.admin.close(), this.reader.close(true)]);
  }
}
