/**
 * Helpers for tests that talk to the integration run's real Kafka broker: topics (create, delete, unique
 * names), producing (`produce` once, `TestProducer` for many sends), reading (`consume` N records,
 * `TopicReader` in the background), committed offsets, and `waitFor` a condition.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, type Message, Producer, stringDeserializer } from '@platformatic/kafka';
import { testInfra } from './env.ts';

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** The brokers the integration project's global setup started (or was given). */
export const testBrokers = (): string[] => testInfra().kafkaBrokers;

export const uniqueName = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

export async function createTopics(brokers: string[], topics: Record<string, number>): Promise<void> {
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers });
  try {
    for (const [topic, partitions] of Object.entries(topics)) {
      await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
    }
    // Wait until every partition has a leader, so the first produce does not race the controller.
    await waitFor(async () => {
      const metadata = await admin.metadata({ topics: Object.keys(topics), forceUpdate: true });
      return Object.entries(topics).every(
        ([topic, partitions]) => metadata.topics.get(topic)?.partitions.length === partitions,
      );
    }, 'topics to be ready');
  } finally {
    await admin.close();
  }
}

export async function deleteTopics(brokers: string[], topics: string[]): Promise<void> {
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers });
  try {
    await admin.deleteTopics({ topics });
  } finally {
    await admin.close();
  }
}

export interface TestRecord {
  topic: string;
  key?: string;
  value: string | Buffer;
  headers?: Record<string, string>;
  partition?: number;
}

export class TestProducer {
  readonly #producer: Producer<Buffer, Buffer, Buffer, Buffer>;

  constructor(brokers: string[]) {
    this.#producer = new Producer({ clientId: 'test-producer', bootstrapBrokers: brokers, acks: -1 });
  }

  async send(records: readonly TestRecord[]): Promise<void> {
    await this.#producer.send({
      messages: records.map((r) => ({
        topic: r.topic,
        ...(r.key !== undefined ? { key: Buffer.from(r.key) } : {}),
        value: Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
        ...(r.partition !== undefined ? { partition: r.partition } : {}),
        ...(r.headers
          ? {
              headers: new Map(
                Object.entries(r.headers).map(
                  ([k, v]) => [Buffer.from(k), Buffer.from(v)] as [Buffer, Buffer],
                ),
              ),
            }
          : {}),
      })),
    });
  }

  close(): Promise<void> {
    return this.#producer.close();
  }
}

/**
 * Reads a topic from the beginning (or from its end when `fromEnd`) into `messages`, in the
 * background, until `close()`.
 */
export class TopicReader {
  readonly messages: RawMessage[] = [];
  readonly #consumer: Consumer<Buffer, Buffer, Buffer, Buffer>;
  readonly #topic: string;
  #stream: Awaited<ReturnType<Consumer<Buffer, Buffer, Buffer, Buffer>['consume']>> | undefined;

  constructor(brokers: string[], topic: string) {
    this.#topic = topic;
    this.#consumer = new Consumer({
      clientId: 'test-reader',
      groupId: uniqueName(`test-reader-${topic}`),
      bootstrapBrokers: brokers,
      autocommit: false,
      maxWaitTime: 250,
    });
  }

  async start(mode: 'earliest' | 'latest' = 'earliest'): Promise<this> {
    this.#stream = await this.#consumer.consume({
      topics: [this.#topic],
      mode,
      autocommit: false,
      maxWaitTime: 250,
    });
    this.#stream.on('data', (message: RawMessage) => this.messages.push(message));
    return this;
  }

  async waitForCount(count: number, timeoutMs = 30_000): Promise<RawMessage[]> {
    await waitFor(() => this.messages.length >= count, `${count} messages on ${this.#topic}`, timeoutMs);
    return this.messages;
  }

  async close(): Promise<void> {
    await this.#stream?.close().catch(() => undefined);
    await this.#consumer.close().catch(() => undefined);
  }
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await condition()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
  );
}

/** The offsets a consumer group has committed on `topic`, in partition order (partitions without a commit left out). */
export async function committedOffsets(brokers: string[], groupId: string, topic: string): Promise<bigint[]> {
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers });
  try {
    const groups = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const partitions = groups[0]?.topics.find((t) => t.name === topic)?.partitions ?? [];
    return partitions
      .filter((p) => p.committedOffset >= 0n)
      .sort((a, b) => a.partitionIndex - b.partitionIndex)
      .map((p) => BigInt(p.committedOffset));
  } finally {
    await admin.close();
  }
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
  records: TestRecord | readonly TestRecord[],
  brokers: string[] = testInfra().kafkaBrokers,
): Promise<void> {
  const producer = new TestProducer(brokers);
  try {
    await producer.send(Array.isArray(records) ? records : [records]);
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
