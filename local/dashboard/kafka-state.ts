import { Admin } from '@platformatic/kafka';
import { consumerGroupId, type FunctionName, functionNames, manifest } from '../../topology/index.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import type { ConsumerLag } from './aggregator.ts';

const LATEST = -1n;
const EARLIEST = -2n;

/** The Kafka-triggered functions, their topic and consumer group. */
export function consumersOf(groupIdOf: (fn: FunctionName) => string = consumerGroupId) {
  return functionNames.flatMap((fn) => {
    const { trigger } = manifest.functions[fn];
    return trigger.kind === 'kafka' ? [{ fn, topic: trigger.topic as string, groupId: groupIdOf(fn) }] : [];
  });
}

/**
 * Consumer lag per function (each group's committed offsets against its topic's end offsets) and the
 * records on the dead-letter topic (end minus start offsets), read with one admin client.
 */
export class KafkaState {
  private readonly admin: Admin;
  private readonly consumers: ReturnType<typeof consumersOf>;

  constructor(brokers: string[], groupIdOf?: (fn: FunctionName) => string) {
    this.admin = new Admin({ clientId: 'local-dashboard', bootstrapBrokers: brokers });
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
    let deadLetters = 0n;
    for (const [partition, last] of dlqEnd) deadLetters += last - (dlqStart.get(partition) ?? 0n);
    return { lag, deadLettersOnTopic: Number(deadLetters) };
  }

  async close(): Promise<void> {
    await this.admin.close();
  }
}
