/** Kafka offsets as the harness reads them: topics' end (or earliest) offsets, consumer groups' lag. */
import { type Admin, ListOffsetTimestamps } from '@platformatic/kafka';

/** Per topic, per partition index, an offset. */
export type Offsets = Map<string, Map<number, bigint>>;

/** Every partition's offset of `topics` at `timestamp`: LATEST the end (high watermark), EARLIEST the first retained. */
export async function topicOffsets(
  admin: Admin,
  topics: readonly string[],
  timestamp: bigint = ListOffsetTimestamps.LATEST,
): Promise<Offsets> {
  const metadata = await admin.metadata({ topics: [...topics], forceUpdate: true });
  const listed = await admin.listOffsets({
    topics: topics.map((name) => ({
      name,
      partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, i) => ({
        partitionIndex: i,
        timestamp,
      })),
    })),
  });
  return new Map(
    listed.map((topic) => [topic.name, new Map(topic.partitions.map((p) => [p.partitionIndex, p.offset]))]),
  );
}

/**
 * Each group's records on its topic not committed yet: the topic's end offsets less the group's committed
 * ones, a partition it never committed counting from `from` (a run's start, or the earliest retained).
 * `committed` is false while the group has committed nothing on its topic.
 */
export async function consumerLag<C extends { groupId: string; topic: string }>(
  admin: Admin,
  consumers: readonly C[],
  from: Offsets,
): Promise<(C & { behind: number; committed: boolean })[]> {
  const [ends, groups] = await Promise.all([
    topicOffsets(admin, [...new Set(consumers.map((c) => c.topic))]),
    admin.listConsumerGroupOffsets({ groups: consumers.map((c) => c.groupId) }),
  ]);
  return consumers.map((consumer) => {
    const { groupId, topic } = consumer;
    const partitions = groups
      .find((g) => g.groupId === groupId)
      ?.topics.find((t) => t.name === topic)?.partitions;
    const done = new Map(
      (partitions ?? [])
        .filter((p) => p.committedOffset >= 0n)
        .map((p) => [p.partitionIndex, p.committedOffset]),
    );
    let behind = 0n;
    for (const [partition, end] of ends.get(topic) ?? [])
      behind += end - (done.get(partition) ?? from.get(topic)?.get(partition) ?? 0n);
    return { ...consumer, behind: Number(behind < 0n ? 0n : behind), committed: done.size > 0 };
  });
}
