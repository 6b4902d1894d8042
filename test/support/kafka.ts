/**
 * Small helpers for tests that talk to the integration run's real Kafka broker: produce records,
 * and consume N of them with a fresh (or a given) consumer group, with a timeout.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, type Message, Producer, stringDeserializer, stringSerializer } from '@platformatic/kafka';
import { testInfra } from './env.ts';

export interface RecordToProduce {
  topic: string;
  key?: string;
  value: Buffer | string;
  headers?: Record<string, string>;
  partition?: number;
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | undefined;
  value: Buffer;
  headers: Record<string, string>;
}

/** Produces records (e.g. `encode(...)` results) and waits for the broker's acknowledgement. */
export async function produce(
  records: RecordToProduce | readonly RecordToProduce[],
  brokers: string[] = testInfra().kafkaBrokers,
): Promise<void> {
  const producer = new Producer<string, Buffer, string, string>({
    clientId: 'test-producer',
    bootstrapBrokers: brokers,
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
  });
  try {
    await producer.send({
      messages: (Array.isArray(records) ? records : [records]).map((record: RecordToProduce) => ({
        topic: record.topic,
        key: record.key,
        value: Buffer.isBuffer(record.value) ? record.value : Buffer.from(record.value),
        headers: record.headers,
        partition: record.partition,
      })),
    });
  } finally {
    await producer.close();
  }
}

export interface ConsumeOptions {
  /** How many matching records to wait for. */
  count: number;
  /** Only records for which this is true count (topics are shared between tests: filter by your keys). */
  where?: (record: ConsumedRecord) => boolean;
  /** Default: a fresh group, so reading starts at the beginning of the topic. */
  groupId?: string;
  /** `earliest` ignores committed offsets; `committed` resumes from them (falling back to earliest). */
  from?: 'earliest' | 'committed';
  /** Commit each returned record's offset before closing, so the group resumes after it. */
  commit?: boolean;
  timeoutMs?: number;
  brokers?: string[];
}

/**
 * Reads from `topic` until `count` matching records arrived, then closes the consumer (leaving the
 * group). Rejects, with what it did get, when they do not arrive in time.
 */
export async function consume(topic: string, options: ConsumeOptions): Promise<ConsumedRecord[]> {
  const { count, where, from = 'committed', commit = false, timeoutMs = 30_000 } = options;
  const consumer = new Consumer<string, Buffer, string, string>({
    groupId: options.groupId ?? `test-${randomUUID()}`,
    clientId: 'test-consumer',
    bootstrapBrokers: options.brokers ?? testInfra().kafkaBrokers,
    deserializers: {
      key: stringDeserializer,
      headerKey: stringDeserializer,
      headerValue: stringDeserializer,
    },
    maxWaitTime: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: from,
    fallbackMode: 'earliest',
    autocommit: false,
  });
  const matched: ConsumedRecord[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stream.close();
  }, timeoutMs);
  try {
    for await (const message of stream) {
      const record = toRecord(message);
      if (where && !where(record)) continue;
      matched.push(record);
      if (commit) await message.commit();
      if (matched.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    await stream.close().catch(() => {});
    await consumer.close(true);
  }
  if (matched.length < count || timedOut) {
    throw new Error(
      `consumed ${matched.length} of ${count} expected records from ${topic} within ${timeoutMs} ms`,
    );
  }
  return matched;
}

function toRecord(message: Message<string, Buffer, string, string>): ConsumedRecord {
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key ?? undefined,
    value: message.value ?? Buffer.alloc(0),
    headers: Object.fromEntries(message.headers),
  };
}
