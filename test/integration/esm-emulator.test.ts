import { randomUUID } from 'node:crypto';
import { KafkaMskEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Context, MSKEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EncodedRecord, encode } from '../../events/codec.ts';
import type { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { DeadLettered } from '../../events/schemas/events.ts';
import { eventsFor } from '../../events/testing.ts';
import { batchProcessor } from '../../functions/shared/consumer.ts';
import { MAX_DEAD_LETTER_BYTES, VALUE_PREFIX_BYTES } from '../../functions/shared/msk-records.ts';
import type { ConsumerStep } from '../../functions/shared/step-types.ts';
import { MemoryPersistenceLayer, silentLogger, testMetrics } from '../../functions/shared/testing.ts';
import { EsmEmulator, type EsmEmulatorOptions, type EsmTrigger } from '../../local/runtime/esm-emulator.ts';
import { type Invoker, inProcessInvoker, type LambdaHandler } from '../../local/runtime/lambda-context.ts';
import type { MskEvent } from '../../local/runtime/msk-event.ts';
import {
  committedOffsets,
  createTopics,
  deleteTopics,
  TestProducer,
  type TestRecord,
  TopicReader,
  testBrokers,
  uniqueName,
  waitFor,
} from '../support/kafka.ts';

/** The example event of the Lambda developer guide ("Using Lambda with Amazon MSK"). */
const awsDocsExample = {
  eventSource: 'aws:kafka',
  eventSourceArn:
    'arn:aws:kafka:us-east-1:123456789012:cluster/vpc-2priv-2pub/751d2973-a626-431c-9d4e-d7975eb44dd7-2',
  bootstrapServers:
    'b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092,b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092',
  records: {
    'mytopic-0': [
      {
        topic: 'mytopic',
        partition: 0,
        offset: 15,
        timestamp: 1545084650987,
        timestampType: 'CREATE_TIME',
        key: 'abcDEFghiJKLmnoPQRstuVWXyz1234==',
        value: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
        headers: [{ headerKey: [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101] }],
      },
    ],
  },
};

const typesOf = (value: object) =>
  Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Array.isArray(v) ? 'array' : typeof v]));

interface Invocation {
  event: MskEvent;
  context: Context;
  remainingAtStart: number;
}

/** Offsets of every record of an event, as `"<topic>-<partition>@<offset>"`. */
const offsetsOf = (event: MskEvent) =>
  Object.values(event.records)
    .flat()
    .map((r) => `${r.topic}-${r.partition}@${r.offset}`);
const valuesOf = (event: { records: Record<string, { value?: string }[]> }) =>
  Object.values(event.records)
    .flat()
    .map((r) => Buffer.from(r.value ?? '', 'base64').toString());

describe('MSK event source mapping emulator (real broker)', () => {
  const brokers = testBrokers();
  const producer = new TestProducer(brokers);
  const topics: string[] = [];
  const running: EsmEmulator[] = [];
  const readers: TopicReader[] = [];

  /** A fresh trigger topic and on-failure topic for one test. */
  async function freshTopics(partitions = 1): Promise<{ topic: string; dlq: string }> {
    const topic = uniqueName('esm-src');
    const dlq = uniqueName('esm-dlq');
    await createTopics(brokers, { [topic]: partitions, [dlq]: 1 });
    topics.push(topic, dlq);
    return { topic, dlq };
  }

  type EmulatorSetup = Partial<Omit<EsmEmulatorOptions, 'trigger' | 'invoke'>> & {
    topic: string;
    dlq: string;
    /** The trigger's settings besides its topics (defaults: batches of 100, no window, 2 retries). */
    trigger?: Partial<Omit<EsmTrigger, 'topic' | 'onFailure'>>;
  } & (
      | { handler: LambdaHandler<MskEvent, unknown>; invoke?: never }
      | { invoke: Invoker<MskEvent, unknown>; handler?: never }
    );

  /** An emulator on `topic` with `dlq` as its on-failure topic, stopped after the test. */
  function emulator(setup: EmulatorSetup): EsmEmulator {
    const { topic, dlq, trigger, handler, invoke, ...rest } = setup;
    const identity = {
      functionName: rest.functionName ?? 'esm-test',
      memoryMb: rest.memoryMb ?? 256,
      timeoutSeconds: rest.timeoutSeconds ?? 10,
    };
    const esm = new EsmEmulator({
      ...identity,
      groupId: uniqueName('esm-test-group'),
      bootstrapBrokers: brokers,
      trigger: {
        batchSize: 100,
        maximumBatchingWindowSeconds: 0,
        startingPosition: 'TRIM_HORIZON',
        retryAttempts: 2,
        ...trigger,
        topic,
        onFailure: dlq,
      },
      invoke: invoke ?? inProcessInvoker(identity, handler),
      retryBackoff: { initialMs: 20, maxMs: 100 },
      log: () => {},
      ...rest,
    });
    running.push(esm);
    return esm;
  }

  type WithoutTopics<T> = T extends unknown ? Omit<T, 'topic' | 'dlq'> : never;
  type FreshSetup = WithoutTopics<EmulatorSetup> & {
    /** Partitions of the trigger topic (1 by default). */
    partitions?: number;
    /** Produced on the trigger topic before the emulator starts. */
    records?: (topic: string) => TestRecord[];
    /** An on-failure topic of the test's own instead of a fresh one (one with a small limit). */
    dlq?: string;
  };

  /** The set-up most tests share: fresh topics, `records` on the trigger topic, an emulator started on them. */
  async function startOnFreshTopics(
    setup: FreshSetup,
  ): Promise<{ topic: string; dlq: string; esm: EsmEmulator }> {
    const { partitions, records, dlq: ownDlq, ...rest } = setup;
    const fresh = await freshTopics(partitions);
    const dlq = ownDlq ?? fresh.dlq;
    if (records) await producer.send(records(fresh.topic));
    const esm = emulator({ ...rest, topic: fresh.topic, dlq } as EmulatorSetup);
    await esm.start();
    return { topic: fresh.topic, dlq, esm };
  }

  /** A one-partition on-failure topic whose broker limit on a message is `maxMessageBytes`. */
  async function smallTopic(maxMessageBytes: number): Promise<string> {
    const name = uniqueName('esm-small-dlq');
    const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers });
    try {
      await admin.createTopics({
        topics: [name],
        partitions: 1,
        replicas: 1,
        configs: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }],
      });
      topics.push(name);
      await waitFor(async () => {
        const metadata = await admin.metadata({ topics: [name], forceUpdate: true });
        return (metadata.topics.get(name)?.partitions.length ?? 0) === 1;
      }, `${name} to be ready`);
    } finally {
      await admin.close();
    }
    return name;
  }

  async function reader(topic: string): Promise<TopicReader> {
    const r = await new TopicReader(brokers, topic).start();
    readers.push(r);
    return r;
  }

  beforeAll(() => {
    expect(brokers.length).toBeGreaterThan(0);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((esm) => esm.stop()));
    await Promise.all(readers.splice(0).map((r) => r.close()));
  });

  afterAll(async () => {
    await producer.close();
    if (topics.length > 0) await deleteTopics(brokers, topics).catch(() => undefined);
  });

  it('invokes the handler with an event shaped like the AWS MSK event, and a Lambda context', async () => {
    const invocations: Invocation[] = [];
    const { topic } = await startOnFreshTopics({
      records: (topic) => [
        {
          topic,
          key: 'order-1',
          value: '{"hello":"world"}',
          headers: { 'event-type': 'OrderReceived', 'correlation-id': 'order-1' },
        },
        { topic, value: 'no key, no headers' },
      ],
      timeoutSeconds: 7,
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 1, retryAttempts: 0 },
      handler: async (event: MskEvent, context: Context) => {
        invocations.push({ event, context, remainingAtStart: context.getRemainingTimeInMillis() });
      },
    });
    await waitFor(() => invocations.flatMap((i) => offsetsOf(i.event)).length === 2, 'both records');

    const { event, context, remainingAtStart } = invocations[0]!;
    // Same keys and value types as the documented example, at every level.
    expect(Object.keys(event).sort()).toEqual(Object.keys(awsDocsExample).sort());
    expect(typesOf(event)).toEqual(typesOf(awsDocsExample));
    expect(event.eventSource).toBe('aws:kafka');
    expect(event.eventSourceArn).toMatch(/^arn:aws:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/]+\/[\w-]+$/);
    expect(event.bootstrapServers).toBe(brokers.join(','));
    expect(Object.keys(event.records)).toEqual([`${topic}-0`]);

    const [withKey, withoutKey] = invocations.flatMap((i) => Object.values(i.event.records).flat());
    const docRecord = awsDocsExample.records['mytopic-0'][0]!;
    expect(Object.keys(withKey!)).toEqual(Object.keys(docRecord));
    expect(typesOf(withKey!)).toEqual(typesOf(docRecord));
    expect(withKey).toMatchObject({ topic, partition: 0, offset: 0, timestampType: 'CREATE_TIME' });
    expect(Buffer.from(withKey!.key!, 'base64').toString()).toBe('order-1');
    expect(Buffer.from(withKey!.value!, 'base64').toString()).toBe('{"hello":"world"}');
    expect(withKey!.headers).toEqual([
      { 'event-type': [...Buffer.from('OrderReceived')] },
      { 'correlation-id': [...Buffer.from('order-1')] },
    ]);
    expect(Math.abs(withKey!.timestamp - Date.now())).toBeLessThan(10 * 60_000);
    // Like AWS, a record without a key has no `key` field.
    expect(withoutKey).not.toHaveProperty('key');
    expect(withoutKey).toMatchObject({ offset: 1, headers: [] });

    // Powertools' own MSK schema accepts it.
    const parsed = KafkaMskEventSchema.parse(event);
    expect(parsed.records[`${topic}-0`]![0]!.value).toBe('{"hello":"world"}');

    expect(context.functionName).toBe('esm-test');
    expect(context.memoryLimitInMB).toBe('256');
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.invokedFunctionArn).toMatch(/^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:esm-test$/);
    expect(remainingAtStart).toBeGreaterThan(0);
    expect(remainingAtStart).toBeLessThanOrEqual(7_000);
  });

  it('never puts more than batchSize records in one event, and invokes without a full batch once the window passes', async () => {
    const batches: string[][] = [];
    const { topic } = await startOnFreshTopics({
      records: (topic) => Array.from({ length: 23 }, (_, i) => ({ topic, key: 'k', value: `v${i}` })),
      trigger: { batchSize: 5, maximumBatchingWindowSeconds: 1, retryAttempts: 0 },
      handler: async (event: MskEvent) => {
        batches.push(valuesOf(event));
      },
    });
    await waitFor(() => batches.flat().length === 23, 'all 23 records');
    expect(batches.every((batch) => batch.length >= 1 && batch.length <= 5)).toBe(true);
    expect(batches.length).toBeGreaterThanOrEqual(5);
    expect(batches.flat()).toEqual(Array.from({ length: 23 }, (_, i) => `v${i}`));

    // Three records never fill a batch of 5: they are delivered when the window closes.
    await producer.send([0, 1, 2].map((i) => ({ topic, key: 'k', value: `late${i}` })));
    await waitFor(() => batches.flat().length === 26, 'the three late records');
    expect(batches.flat().slice(23)).toEqual(['late0', 'late1', 'late2']);
  });

  it('keeps every partition in offset order across batches', async () => {
    const { topic, dlq } = await freshTopics(3);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    const sent = Array.from({ length: 90 }, (_, i) => ({
      topic,
      key: keys[i % keys.length]!,
      value: `${keys[i % keys.length]}:${Math.floor(i / keys.length)}`,
    }));
    // Three sends, so the emulator sees records arrive while it is already working.
    for (let i = 0; i < 3; i++) await producer.send(sent.slice(i * 30, (i + 1) * 30));
    const seen: { partition: number; offset: number; key: string; seq: number }[] = [];
    const esm = emulator({
      topic,
      dlq,
      trigger: { batchSize: 7, maximumBatchingWindowSeconds: 0, retryAttempts: 0 },
      handler: async (event: MskEvent) => {
        for (const [group, records] of Object.entries(event.records)) {
          for (const r of records) {
            expect(group).toBe(`${r.topic}-${r.partition}`);
            const [key, seq] = Buffer.from(r.value!, 'base64').toString().split(':');
            seen.push({ partition: r.partition, offset: r.offset, key: key!, seq: Number(seq) });
          }
        }
      },
    });
    await esm.start();
    await waitFor(() => seen.length === 90, 'all 90 records');
    expect(new Set(seen.map((s) => s.partition)).size).toBeGreaterThan(1);
    for (const partition of [0, 1, 2]) {
      const offsets = seen.filter((s) => s.partition === partition).map((s) => s.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(new Set(offsets).size).toBe(offsets.length);
    }
    for (const key of keys) {
      expect(seen.filter((s) => s.key === key).map((s) => s.seq)).toEqual(
        Array.from({ length: 15 }, (_, i) => i),
      );
    }
  });

  it('commits only after the handler succeeded: a failed batch is delivered again after a restart', async () => {
    const { topic, dlq } = await freshTopics();
    const groupId = uniqueName('esm-commit-group');
    await producer.send([0, 1, 2].map((i) => ({ topic, key: 'k', value: `r${i}` })));

    const failing: string[][] = [];
    const first = emulator({
      topic,
      dlq,
      groupId,
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 10_000 },
      handler: async (event: MskEvent) => {
        failing.push(offsetsOf(event));
        throw new Error('downstream unavailable');
      },
    });
    await first.start();
    await waitFor(() => failing.length >= 3, 'three failed attempts');
    await first.stop();
    // Every attempt carried the same batch, and nothing was committed.
    expect(new Set(failing.map((f) => f.join()))).toEqual(
      new Set([`${topic}-0@0,${topic}-0@1,${topic}-0@2`]),
    );
    expect(first.stats.recordsSentToOnFailure).toBe(0);
    expect(await committedOffsets(brokers, groupId, topic)).toEqual([]);

    /** Another instance of the group, started, keeping the values it is handed. */
    const collecting = async () => {
      const values: string[] = [];
      const esm = emulator({
        topic,
        dlq,
        groupId,
        trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 0 },
        handler: async (event: MskEvent) => {
          values.push(...valuesOf(event));
        },
      });
      await esm.start();
      return { esm, values };
    };
    const { esm: second, values: delivered } = await collecting();
    await waitFor(() => delivered.length === 3, 'the redelivered batch');
    expect(delivered).toEqual(['r0', 'r1', 'r2']);
    await waitFor(
      async () => (await committedOffsets(brokers, groupId, topic))[0] === 3n,
      'the commit after success',
    );
    await second.stop();

    // A third instance of the same group starts after the committed batch.
    const { values: third } = await collecting();
    await producer.send([{ topic, key: 'k', value: 'r3' }]);
    await waitFor(() => third.length === 1, 'the new record');
    expect(third).toEqual(['r3']);
  });

  it('retries a transiently failing batch, then succeeds without touching the on-failure destination', async () => {
    const attempts: string[][] = [];
    const { esm } = await startOnFreshTopics({
      records: (topic) => [0, 1].map((i) => ({ topic, key: 'k', value: `t${i}` })),
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 3 },
      handler: async (event: MskEvent) => {
        attempts.push(offsetsOf(event));
        if (attempts.length <= 2) throw new Error(`transient failure ${attempts.length}`);
      },
    });
    await waitFor(() => esm.stats.batchesSucceeded === 1, 'the batch to succeed');
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.join())).size).toBe(1);
    expect(esm.stats).toMatchObject({ invocations: 3, failedInvocations: 2, recordsSentToOnFailure: 0 });
  });

  it('sends an always failing batch to the on-failure topic after retryAttempts, record by record, then goes on', async () => {
    const invocations: string[][] = [];
    const { topic, dlq, esm } = await startOnFreshTopics({
      records: (topic) => [
        { topic, key: 'order-7', value: 'poison-a', headers: { 'event-id': 'e-1' } },
        { topic, key: 'order-8', value: 'poison-b' },
      ],
      functionName: 'always-failing',
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 2 },
      handler: async (event: MskEvent) => {
        invocations.push(valuesOf(event));
        if (valuesOf(event).some((v) => v.startsWith('poison'))) throw new TypeError('cannot process poison');
      },
    });
    const dlqReader = await reader(dlq);
    const dead = await dlqReader.waitForCount(2);

    // The initial invocation plus two retries, all with the same batch.
    expect(invocations).toEqual([
      ['poison-a', 'poison-b'],
      ['poison-a', 'poison-b'],
      ['poison-a', 'poison-b'],
    ]);
    const records = dead.map((m) => ({ key: m.key?.toString(), body: JSON.parse(m.value.toString()) }));
    records.sort((a, b) => (a.key ?? '').localeCompare(b.key ?? ''));
    expect(records.map((r) => r.key)).toEqual(['order-7', 'order-8']);
    records.forEach(({ body }, i) => {
      const failure = body as LambdaKafkaFailureRecord;
      expect(Object.keys(failure).sort()).toEqual(
        ['KafkaBatchInfo', 'payload', 'requestContext', 'responseContext', 'timestamp', 'version'].sort(),
      );
      expect(failure.requestContext).toMatchObject({
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
        functionArn: expect.stringMatching(/:function:always-failing:\$LATEST$/),
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
      expect(failure.responseContext).toEqual({
        statusCode: 200,
        executedVersion: '$LATEST',
        functionError: 'Unhandled',
      });
      expect(failure.version).toBe('1.0');
      expect(failure.KafkaBatchInfo).toMatchObject({
        batchSize: 1,
        bootstrapServers: brokers.join(','),
        recordInfo: { offset: String(i) },
      });
      expect(failure.KafkaBatchInfo.payloadSize).toBe(Buffer.byteLength(JSON.stringify(failure.payload)));
      const original = failure.payload.records[`${topic}-0`]!;
      expect(original).toHaveLength(1);
      expect(original[0]).toMatchObject({ topic, partition: 0, offset: i });
      expect(Buffer.from(original[0]!.value!, 'base64').toString()).toBe(i === 0 ? 'poison-a' : 'poison-b');
    });
    expect(records[0]!.body.payload.records[`${topic}-0`][0].headers).toEqual([
      { 'event-id': [...Buffer.from('e-1')] },
    ]);

    // The offsets moved past the failed batch: the next record is processed on its own.
    await producer.send([{ topic, key: 'order-9', value: 'fine' }]);
    await waitFor(() => esm.stats.batchesSucceeded === 1, 'the next batch');
    expect(invocations.at(-1)).toEqual(['fine']);
    expect(esm.stats).toMatchObject({ batchesSentToOnFailure: 1, recordsSentToOnFailure: 2 });
  });

  it('counts a timed-out invocation as a failure', async () => {
    const { dlq, esm } = await startOnFreshTopics({
      records: (topic) => [{ topic, key: 'slow', value: 'slow' }],
      timeoutSeconds: 1,
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 0 },
      handler: (_event: MskEvent, context: Context) =>
        new Promise<void>((resolve) => setTimeout(resolve, context.getRemainingTimeInMillis() + 1_000)),
    });
    const dlqReader = await reader(dlq);
    const [dead] = await dlqReader.waitForCount(1);
    expect(JSON.parse(dead!.value.toString()).requestContext.approximateInvokeCount).toBe(1);
    expect(esm.stats).toMatchObject({ failedInvocations: 1, batchesSucceeded: 0 });
  });
  it('dead-letters a ~900 KB value as one bounded dead letter, and processes the next record of the partition', async () => {
    const { topic, dlq } = await freshTopics();
    // The real consumer wrapper, its topics renamed: the fresh topic plays `Notification`, `dlq` the
    // DeadLetterQueue (a topic with the broker's default limit on a message, ~1 MiB).
    const seen: string[] = [];
    const step: ConsumerStep<'Notification'> = {
      name: 'notification',
      topic: 'Notification',
      async process(event) {
        seen.push(event.data.orderId);
        return { orderId: event.data.orderId, events: [], kpis: [], replayed: false, summary: 'ok' };
      },
    };
    const produce = async (records: readonly EncodedRecord[]) => {
      const deadLetters = records.filter((r) => r.topic === 'DeadLetterQueue');
      await producer.send(
        deadLetters.map((r) => ({ topic: dlq, key: r.key, value: r.value, headers: r.headers })),
      );
    };
    const processBatch = batchProcessor(step, {
      logger: silentLogger(),
      metrics: testMetrics(),
      deps: {
        produce,
        deadLetterStore: new MemoryPersistenceLayer(),
      },
    });
    const hugeValue = Buffer.alloc(900_000, 0x20);
    const next = encode('Notification', eventsFor('ord-after-huge').Notification);
    await producer.send([
      { topic, key: 'ord-huge', value: hugeValue },
      { topic, key: next.key, value: next.value, headers: next.headers },
    ]);
    const esm = emulator({
      topic,
      dlq,
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 0 },
      handler: async (event: MskEvent) => {
        const records = Object.fromEntries(
          Object.entries(event.records).map(([k, list]) => [
            k,
            list.map((r) => ({ ...r, topic: 'Notification' })),
          ]),
        );
        await processBatch({ records } as unknown as MSKEvent);
      },
    });
    const dlqReader = await reader(dlq);
    await esm.start();
    const [dead] = await dlqReader.waitForCount(1);
    await waitFor(() => seen.length === 1, 'the record after the huge one');
    expect(seen).toEqual(['ord-after-huge']);

    expect(dead!.value.length).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    const letter = DeadLettered.parse(JSON.parse(dead!.value.toString()));
    expect(letter.correlationId).toBe('ord-huge');
    expect(letter.data.error.name).toBe('RecordTooLargeError');
    expect(letter.data.record).toMatchObject({
      topic: 'Notification',
      partition: 0,
      offset: '0',
      valueBytes: 900_000,
      valueTruncated: true,
    });
    expect(
      Buffer.from(letter.data.record.value ?? '', 'base64').equals(hugeValue.subarray(0, VALUE_PREFIX_BYTES)),
    ).toBe(true);
    // Handled by the function (a poison record), not by the mapping's on-failure path; the partition moved on.
    expect(esm.stats).toMatchObject({ failedInvocations: 0, recordsSentToOnFailure: 0 });
    await waitFor(async () => (await committedOffsets(brokers, esm.groupId, topic))[0] === 2n, 'the commit');
    expect(dlqReader.messages).toHaveLength(1);
  });

  it('keeps the other partitions going while one partition keeps failing, and loses nothing of it', async () => {
    let partition0Down = true;
    const delivered: { partition: number; offset: number }[] = [];
    const { topic, esm } = await startOnFreshTopics({
      partitions: 2,
      trigger: { batchSize: 10, maximumBatchingWindowSeconds: 0, retryAttempts: 10_000 },
      handler: async (event: MskEvent) => {
        const records = Object.values(event.records).flat();
        // Lambda never mixes partitions here: one lane per partition.
        expect(new Set(records.map((r) => r.partition)).size).toBe(1);
        if (partition0Down && records[0]!.partition === 0)
          throw new Error('downstream of partition 0 unavailable');
        delivered.push(...records.map((r) => ({ partition: r.partition, offset: r.offset })));
      },
    });
    // More records than partition 0's buffer holds while it retries: the surplus is fetched again later.
    await producer.send(Array.from({ length: 600 }, (_, i) => ({ topic, partition: 0, value: `p0-${i}` })));
    await producer.send(Array.from({ length: 20 }, (_, i) => ({ topic, partition: 1, value: `p1-${i}` })));

    await waitFor(() => delivered.filter((d) => d.partition === 1).length === 20, "partition 1's records");
    await waitFor(
      async () => (await committedOffsets(brokers, esm.groupId, topic)).join() === '20',
      "partition 1's commit, none of partition 0",
    );
    expect(delivered.filter((d) => d.partition === 0)).toEqual([]);
    expect(esm.stats.failedInvocations).toBeGreaterThan(0);

    partition0Down = false;
    await waitFor(() => delivered.filter((d) => d.partition === 0).length >= 600, "partition 0's records");
    expect(delivered.filter((d) => d.partition === 0).map((d) => d.offset)).toEqual(
      Array.from({ length: 600 }, (_, i) => i),
    );
    expect(delivered.filter((d) => d.partition === 1).map((d) => d.offset)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
    expect(esm.stats.refetches).toBeGreaterThanOrEqual(1);
    expect(esm.stats.recordsSentToOnFailure).toBe(0);
    await waitFor(
      async () => (await committedOffsets(brokers, esm.groupId, topic)).join() === '600,20',
      'both commits',
    );
  });

  it('writes a reduced failure record when the on-failure topic refuses the whole one, and goes on', async () => {
    const { topic } = await freshTopics();
    const dlq = await smallTopic(20_000);
    const value = Buffer.alloc(30_000, 0x61);
    await producer.send([
      { topic, key: 'order-big', value, headers: { 'event-id': 'e-big' } },
      { topic, key: 'order-ok', value: 'fine' },
    ]);
    const delivered: string[] = [];
    const esm = emulator({
      topic,
      dlq,
      trigger: { batchSize: 1, maximumBatchingWindowSeconds: 0, retryAttempts: 1 },
      handler: async (event: MskEvent) => {
        const values = valuesOf(event);
        if (values.some((v) => v !== 'fine')) throw new Error('cannot process it');
        delivered.push(...values);
      },
    });
    const dlqReader = await reader(dlq);
    await esm.start();
    const [failure] = await dlqReader.waitForCount(1);
    await waitFor(() => delivered.length === 1, 'the next record');
    expect(delivered).toEqual(['fine']);

    expect(failure!.key?.toString()).toBe('order-big');
    const body = JSON.parse(failure!.value.toString()) as LambdaKafkaFailureRecord;
    expect(body.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 2 });
    const [original] = body.payload.records[`${topic}-0`]!;
    expect(original).not.toHaveProperty('value');
    expect(original).toMatchObject({
      topic,
      partition: 0,
      offset: 0,
      key: Buffer.from('order-big').toString('base64'),
      headers: [{ 'event-id': [...Buffer.from('e-big')] }],
      valueBytes: 30_000,
      valueTruncated: true,
    });
    expect(body.KafkaBatchInfo.payloadSize).toBeGreaterThan(40_000);
    expect(esm.stats).toMatchObject({
      recordsSentToOnFailure: 1,
      failureRecordsReduced: 1,
      failureRecordsLost: 0,
    });
    await waitFor(async () => (await committedOffsets(brokers, esm.groupId, topic))[0] === 2n, 'the commit');
  });

  it('skips, loudly, a failed record whose failure record the topic refuses even reduced, and goes on', async () => {
    const { topic } = await freshTopics();
    const dlq = await smallTopic(300);
    await producer.send([
      { topic, key: 'order-bad', value: 'bad' },
      { topic, key: 'order-ok', value: 'fine' },
    ]);
    const delivered: string[] = [];
    const lines: string[] = [];
    const esm = emulator({
      topic,
      dlq,
      log: (line) => lines.push(line),
      trigger: { batchSize: 1, maximumBatchingWindowSeconds: 0, retryAttempts: 0 },
      handler: async (event: MskEvent) => {
        if (valuesOf(event).includes('bad')) throw new Error('cannot process it');
        delivered.push(...valuesOf(event));
      },
    });
    await esm.start();
    await waitFor(() => delivered.length === 1, 'the next record');
    expect(delivered).toEqual(['fine']);
    expect(esm.stats).toMatchObject({
      recordsSentToOnFailure: 0,
      failureRecordsLost: 1,
      batchesSucceeded: 1,
    });
    expect(lines.some((l) => l.includes('FAILURE RECORD LOST') && l.includes(`${topic}-0@0`))).toBe(true);
    await waitFor(async () => (await committedOffsets(brokers, esm.groupId, topic))[0] === 2n, 'the commit');
  });

  describe('error-handling controls', () => {
    /** Values of an event's records, and an invocation's outcome as an invoker reports it. */
    const ok = (payload: unknown = null) => ({ status: 'ok' as const, requestId: randomUUID(), payload });
    const failures = {
      crash: { errorType: 'Runtime.ExitError', errorMessage: 'exited with status 1' },
      timeout: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 10.00 seconds' },
      'out-of-memory': { errorType: 'Runtime.OutOfMemory', errorMessage: 'Runtime exited: out of memory' },
    } as const;

    it.each(Object.keys(failures) as (keyof typeof failures)[])(
      'bisects a batch whose invocation fails as a whole (%s) until the poison record is dead-lettered alone; its neighbours run once',
      async (kind) => {
        const succeeded: string[] = [];
        const { topic, dlq, esm } = await startOnFreshTopics({
          records: (topic) =>
            Array.from({ length: 24 }, (_, i) => ({
              topic,
              key: `order-${i}`,
              value: i === 9 ? 'poison' : `v${i}`,
            })),
          trigger: { batchSize: 100, retryAttempts: 2, bisectBatchOnFunctionError: true },
          // A record that kills every invocation carrying it, as a crash, a timeout or running out of memory do.
          invoke: async (event) => {
            const values = valuesOf(event);
            if (values.includes('poison'))
              return { status: 'error', requestId: randomUUID(), kind, ...failures[kind] };
            succeeded.push(...values);
            return ok();
          },
        });
        const dlqReader = await reader(dlq);
        await waitFor(
          async () => (await committedOffsets(brokers, esm.groupId, topic))[0] === 24n,
          'the partition committed past the batch',
        );
        expect(dlqReader.messages.length).toBeLessThanOrEqual(1);
        const [dead] = await dlqReader.waitForCount(1);
        const failure = JSON.parse(dead!.value.toString()) as LambdaKafkaFailureRecord;
        expect(dead!.key?.toString()).toBe('order-9');
        expect(failure.KafkaBatchInfo).toMatchObject({ batchSize: 1, recordInfo: { offset: '9' } });
        // The first invocation, the splits that carried it, then its own two retries.
        expect(failure.requestContext.approximateInvokeCount).toBeGreaterThanOrEqual(3);
        expect(valuesOf(failure.payload)).toEqual(['poison']);
        expect([...succeeded].sort()).toEqual(
          Array.from({ length: 24 }, (_, i) => `v${i}`)
            .filter((v) => v !== 'v9')
            .sort(),
        );
        expect(esm.stats).toMatchObject({ recordsSentToOnFailure: 1, batchesSentToOnFailure: 1 });
        expect(esm.stats.bisects).toBeGreaterThan(0);
        expect(dlqReader.messages).toHaveLength(1);
      },
    );

    it('resumes only the partition that reported a failed record, from that record', async () => {
      const { topic, dlq } = await freshTopics(2);
      await producer.send([
        ...Array.from({ length: 6 }, (_, i) => ({ topic, partition: 0, key: 'a', value: `p0-${i}` })),
        ...Array.from({ length: 6 }, (_, i) => ({ topic, partition: 1, key: 'b', value: `p1-${i}` })),
      ]);
      const deliveries: string[][] = [];
      let failOnce = true;
      const esm = emulator({
        topic,
        dlq,
        trigger: {
          batchSize: 100,
          retryAttempts: 2,
          reportBatchItemFailures: true,
          bisectBatchOnFunctionError: true,
        },
        handler: async (event: MskEvent) => {
          const records = Object.values(event.records).flat();
          deliveries.push(valuesOf(event));
          const failed = records.find((r) => Buffer.from(r.value ?? '', 'base64').toString() === 'p0-3');
          if (!failed || !failOnce) return { batchItemFailures: [] };
          failOnce = false;
          // Kafka's identifier: the event's records key and the offset (AWS Powertools for Python's shape).
          return {
            batchItemFailures: [
              { itemIdentifier: { partition: `${failed.topic}-${failed.partition}`, offset: failed.offset } },
            ],
          };
        },
      });
      await esm.start();
      await waitFor(
        async () => (await committedOffsets(brokers, esm.groupId, topic)).join() === '6,6',
        'both partitions committed',
      );
      const p0 = deliveries.filter((d) => d[0]?.startsWith('p0'));
      const p1 = deliveries.filter((d) => d[0]?.startsWith('p1'));
      expect(p0.flat()).toEqual(['p0-0', 'p0-1', 'p0-2', 'p0-3', 'p0-4', 'p0-5', 'p0-3', 'p0-4', 'p0-5']);
      expect(p1.flat()).toEqual(['p1-0', 'p1-1', 'p1-2', 'p1-3', 'p1-4', 'p1-5']);
      expect(esm.stats).toMatchObject({
        partialFailures: 1,
        failedInvocations: 0,
        bisects: 0,
        recordsSentToOnFailure: 0,
      });
    });

    it("redoes only the consumer wrapper's transiently failed record and what followed it", async () => {
      const { topic, dlq } = await freshTopics();
      const processed: string[] = [];
      let failOnce = true;
      const step: ConsumerStep<'Notification'> = {
        name: 'notification',
        topic: 'Notification',
        async process(event) {
          const { orderId } = event.data;
          if (orderId === 'ord-2' && failOnce) {
            failOnce = false;
            throw new Error('SNS unavailable');
          }
          processed.push(orderId);
          return { orderId, events: [], kpis: [], replayed: false, summary: 'ok' };
        },
      };
      const processBatch = batchProcessor(step, {
        logger: silentLogger(),
        metrics: testMetrics(),
        deps: { produce: async () => {}, deadLetterStore: new MemoryPersistenceLayer() },
        reportBatchItemFailures: true,
      });
      const orders = ['ord-0', 'ord-1', 'ord-2', 'ord-3'];
      await producer.send(
        orders.map((id) => {
          const encoded = encode('Notification', eventsFor(id).Notification);
          return { topic, key: encoded.key, value: encoded.value, headers: encoded.headers };
        }),
      );
      const deliveries: string[][] = [];
      const esm = emulator({
        topic,
        dlq,
        trigger: { retryAttempts: 2, reportBatchItemFailures: true, bisectBatchOnFunctionError: true },
        handler: async (event: MskEvent) => {
          deliveries.push(offsetsOf(event));
          // The wrapper reads the step's topic name; its answer names the emulator's topic as delivered.
          const report = await processBatch({
            records: Object.fromEntries(
              Object.entries(event.records).map(([k, list]) => [
                k,
                list.map((r) => ({ ...r, topic: 'Notification' })),
              ]),
            ),
          } as unknown as MSKEvent);
          return {
            batchItemFailures: (report.batchItemFailures ?? []).map(({ itemIdentifier: id }) => ({
              itemIdentifier: { ...id, partition: id.partition.replace(/^Notification-/, `${topic}-`) },
            })),
          };
        },
      });
      await esm.start();
      await waitFor(
        async () => (await committedOffsets(brokers, esm.groupId, topic))[0] === 4n,
        'the commit',
      );
      expect(deliveries.flat()).toEqual([0, 1, 2, 3, 2, 3].map((o) => `${topic}-0@${o}`));
      // ord-3 ran twice (after ord-2 in the partition, so redone with it): the steps are idempotent.
      expect(processed.slice(0, 3).sort()).toEqual(['ord-0', 'ord-1', 'ord-3']);
      expect(processed.slice(3).sort()).toEqual(['ord-2', 'ord-3']);
      expect(esm.stats).toMatchObject({
        partialFailures: 1,
        failedInvocations: 0,
        recordsSentToOnFailure: 0,
      });
    });

    it('fails the whole invocation when batchItemFailures names no record of it', async () => {
      const { topic, dlq } = await freshTopics();
      await producer.send([{ topic, key: 'k', value: 'only' }]);
      let calls = 0;
      const esm = emulator({
        topic,
        dlq,
        trigger: { retryAttempts: 1, reportBatchItemFailures: true },
        handler: async () => {
          calls++;
          return { batchItemFailures: [{ itemIdentifier: `${topic}-0-0` }] };
        },
      });
      const dlqReader = await reader(dlq);
      await esm.start();
      await dlqReader.waitForCount(1);
      expect(calls).toBe(2);
      expect(esm.stats).toMatchObject({
        failedInvocations: 2,
        partialFailures: 0,
        recordsSentToOnFailure: 1,
      });
    });

    it('sends records older than maximumRecordAgeSeconds to on-failure unprocessed, and processes the others', async () => {
      const { topic, dlq } = await freshTopics();
      const old = new Producer({
        clientId: 'test-old-records',
        bootstrapBrokers: brokers,
        acks: ProduceAcks.ALL,
      });
      try {
        await old.send({
          messages: [
            {
              topic,
              key: Buffer.from('old'),
              value: Buffer.from('stale'),
              timestamp: BigInt(Date.now() - 3_600_000),
            },
            { topic, key: Buffer.from('new'), value: Buffer.from('fresh') },
          ],
        });
      } finally {
        await old.close();
      }
      const processed: string[] = [];
      const esm = emulator({
        topic,
        dlq,
        trigger: { maximumRecordAgeSeconds: 60 },
        handler: async (event: MskEvent) => {
          processed.push(...valuesOf(event));
        },
      });
      const dlqReader = await reader(dlq);
      await esm.start();
      const [expired] = await dlqReader.waitForCount(1);
      await waitFor(
        async () => (await committedOffsets(brokers, esm.groupId, topic))[0] === 2n,
        'the commit',
      );
      expect(processed).toEqual(['fresh']);
      const failure = JSON.parse(expired!.value.toString()) as LambdaKafkaFailureRecord;
      expect(expired!.key?.toString()).toBe('old');
      expect(failure.requestContext).toMatchObject({
        condition: 'RecordAgeExceeded',
        approximateInvokeCount: 0,
      });
      expect(esm.stats).toMatchObject({ recordsExpired: 1, recordsSentToOnFailure: 1, invocations: 1 });
    });
  });
});
