import { randomUUID } from 'node:crypto';
import { Consumer, Producer, type SASLOptions } from '@platformatic/kafka';
import { isTopicName } from '../../events/topics.ts';
import { type DeadLetter, matches, parseDeadLetter, type ReplayFilter } from './dead-letter.ts';

export const DLQ_TOPIC = 'DeadLetterQueue';
/** Marks a replayed record, so its history shows where it came back from. */
export const REPLAYED_FROM_HEADER = 'replayed-from';

export interface KafkaConnection {
  brokers: string[];
  /** TLS + SASL OAUTHBEARER (MSK IAM); absent for a plaintext local broker. */
  sasl?: SASLOptions;
}

export interface ReplayOptions extends KafkaConnection {
  filter: ReplayFilter;
  dryRun: boolean;
  log?: (line: string) => void;
}

export interface ReplaySummary {
  scanned: number;
  unreadable: number;
  matched: number;
  replayed: number;
  /** Matching letters whose source topic is not a pipeline topic (never replayed). */
  skipped: number;
}

const clientSecurity = (connection: KafkaConnection) =>
  connection.sasl ? { sasl: connection.sasl, tls: {} } : {};

/**
 * Reads the dead-letter topic from its first to its current last record, and every dead letter that
 * matches `filter` goes back to its source topic with its original key, value and headers — so it
 * passes through the consumers' idempotency again: a record that was in fact processed has no second
 * effect. Nothing is committed: the dead letters stay where they are.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const log = options.log ?? (() => {});
  const summary: ReplaySummary = { scanned: 0, unreadable: 0, matched: 0, replayed: 0, skipped: 0 };
  const toReplay: Array<{ letter: DeadLetter; at: string }> = [];

  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    groupId: `dlq-replay-${randomUUID()}`,
    clientId: 'order-pipeline-dlq-replay',
    bootstrapBrokers: options.brokers,
    maxWaitTime: 250,
    ...clientSecurity(options),
  });
  try {
    const ends = (await consumer.listOffsets({ topics: [DLQ_TOPIC] })).get(DLQ_TOPIC) ?? [];
    const remaining = new Map<number, bigint>();
    ends.forEach((end, partition) => {
      if (end > 0n) remaining.set(partition, end);
    });
    if (remaining.size > 0) {
      const stream = await consumer.consume({ topics: [DLQ_TOPIC], mode: 'earliest', autocommit: false });
      try {
        for await (const message of stream) {
          const end = remaining.get(message.partition);
          if (end === undefined || message.offset >= end) continue;
          summary.scanned++;
          const at = `${DLQ_TOPIC}:${message.partition}:${message.offset}`;
          const parsed = parseDeadLetter(message.value ?? null);
          if ('error' in parsed) {
            summary.unreadable++;
            log(`skip ${at}: unreadable dead letter (${parsed.error})`);
          } else {
            for (const letter of parsed.filter((l) => matches(l, options.filter)))
              toReplay.push({ letter, at });
          }
          if (message.offset + 1n >= end) remaining.delete(message.partition);
          if (remaining.size === 0) break;
        }
      } finally {
        await stream.close().catch(() => {});
      }
    }
  } finally {
    await consumer.close(true);
  }

  summary.matched = toReplay.length;
  const producer = options.dryRun
    ? undefined
    : new Producer<Buffer, Buffer, Buffer, Buffer>({
        clientId: 'order-pipeline-dlq-replay',
        bootstrapBrokers: options.brokers,
        idempotent: true,
        autocreateTopics: false,
        ...clientSecurity(options),
      });
  try {
    for (const { letter, at } of toReplay) {
      const { original } = letter;
      const what = `${at} → ${original.topic} (was ${original.topic}:${original.partition}:${original.offset}, ${letter.reason} in ${letter.failedIn}: ${letter.error})`;
      if (!isTopicName(original.topic) || original.topic === DLQ_TOPIC) {
        summary.skipped++;
        log(`skip ${what}: not a pipeline topic`);
        continue;
      }
      if (!producer) {
        log(`would replay ${what}`);
        continue;
      }
      await producer.send({
        messages: [
          {
            topic: original.topic,
            key: original.key ?? undefined,
            value: original.value ?? undefined,
            headers: new Map<Buffer, Buffer>([
              ...original.headers
                .filter(([name]) => name !== REPLAYED_FROM_HEADER)
                .map(([name, bytes]): [Buffer, Buffer] => [Buffer.from(name), bytes]),
              [Buffer.from(REPLAYED_FROM_HEADER), Buffer.from(at)],
            ]),
          },
        ],
      });
      summary.replayed++;
      log(`replayed ${what}`);
    }
  } finally {
    await producer?.close();
  }
  return summary;
}
