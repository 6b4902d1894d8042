/**
 * The outbox sweeper on the real broker and moto, run by the local runtime exactly as `npm start` runs
 * it (the manifest's environment, a table prefix of this file's own). Orders are written straight into
 * the orders table, as order-api writes them, to stand for an order-api that crashed between its write
 * and its produce.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import type { SweepSummary } from '../../functions/outbox-sweeper/step.ts';
import { orderReceivedId } from '../../functions/shared/orders/events.ts';
import { newStoredOrder, orderOf, outboxShardOf } from '../../functions/shared/orders/model.ts';
import { sampleOrder } from '../../functions/shared/testing.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { applyEnvironment } from '../../local/runtime/environment.ts';
import type { LocalRuntime } from '../../local/runtime/runtime.ts';
import type { ScheduleEmulator } from '../../local/runtime/scheduler.ts';
import { localTableName, manifest } from '../../topology/index.ts';
import { testInfra } from '../support/env.ts';
import { type RawMessage, TopicReader, uniqueName, waitFor } from '../support/kafka.ts';
import { prepareTestStack, startTestRuntime } from '../support/runtime.ts';

const { kafkaBrokers, dynamodbEndpoint } = testInfra();
const tablePrefix = uniqueName('outbox');
const ordersTable = localTableName('orders', tablePrefix);
const db = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(dynamodbEndpoint)));
const maxAttempts = Number(manifest.functions['outbox-sweeper'].environment.OUTBOX_MAX_ATTEMPTS);
let reader: TopicReader;
let restoreEnv: () => void;

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** Writes an order as order-api does (RECEIVED, in the outbox), with any attributes changed. */
async function putOrder(placedAt: string, overrides: Record<string, unknown> = {}) {
  const orderId = `ord-outbox-${randomUUID().slice(0, 8)}`;
  const stored = newStoredOrder(sampleOrder({ orderId, placedAt }), {
    requestHash: 'hash',
    requestId: `req-${orderId}`,
  });
  await db.send(new PutCommand({ TableName: ordersTable, Item: { ...stored, ...overrides } }));
  return { orderId, stored };
}

/** Moves an order on as inventory does: CONFIRMED, out of the outbox. */
async function confirm(orderId: string) {
  const { outboxShard: _, ...rest } = await item(orderId);
  await db.send(new PutCommand({ TableName: ordersTable, Item: { ...rest, status: 'CONFIRMED' } }));
}

async function item(orderId: string): Promise<Record<string, unknown>> {
  const answer = await db.send(
    new GetCommand({ TableName: ordersTable, Key: { orderId }, ConsistentRead: true }),
  );
  if (!answer.Item) throw new Error(`no order ${orderId}`);
  return answer.Item;
}

/** Waits until the reader has seen every record on OrderReceived up to its current end, then returns them. */
async function everythingProducedSoFar(): Promise<RawMessage[]> {
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: kafkaBrokers });
  let ends: { partitionIndex: number; offset: bigint }[];
  try {
    const partitions = manifest.topics.OrderReceived.partitions;
    const [listed] = await admin.listOffsets({
      topics: [
        {
          name: 'OrderReceived',
          partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp: -1n,
          })),
        },
      ],
    });
    ends = listed?.partitions ?? [];
  } finally {
    await admin.close();
  }
  await waitFor(
    () =>
      ends.every(
        ({ partitionIndex, offset }) =>
          offset === 0n ||
          reader.messages.some((m) => m.partition === partitionIndex && m.offset === offset - 1n),
      ),
    'the reader to reach the end of OrderReceived',
  );
  return reader.messages;
}

const keyed = (messages: RawMessage[], orderId: string) =>
  messages.filter((m) => m.key?.toString() === orderId);

beforeAll(async () => {
  restoreEnv = applyEnvironment({ POWERTOOLS_LOG_LEVEL: 'ERROR' });
  await prepareTestStack({ tablePrefix });
  reader = await new TopicReader(kafkaBrokers, 'OrderReceived').start();
});

afterAll(async () => {
  await reader?.close();
  db.destroy();
  restoreEnv?.();
});

describe('the outbox index (dynoxide)', () => {
  it('holds exactly the orders that carry an outbox shard, oldest first, whole', async () => {
    const shard = '3';
    const older = await putOrder(minutesAgo(10), { outboxShard: shard });
    const newer = await putOrder(minutesAgo(5), { outboxShard: shard });
    const decided = await putOrder(minutesAgo(7), { outboxShard: shard });
    await confirm(decided.orderId);
    const answer = await db.send(
      new QueryCommand({
        TableName: ordersTable,
        IndexName: 'outbox',
        KeyConditionExpression: 'outboxShard = :shard AND placedAt < :now',
        ExpressionAttributeValues: { ':shard': shard, ':now': new Date().toISOString() },
      }),
    );
    expect(answer.Items?.map((i) => i.orderId)).toEqual([older.orderId, newer.orderId]);
    expect(answer.Items?.[0]).toEqual({ ...older.stored, outboxShard: shard });
    // Out of the way of the sweeps below.
    await confirm(older.orderId);
    await confirm(newer.orderId);
  });
});

describe('outbox sweeper (real broker, dynoxide, the local runtime)', () => {
  let runtime: LocalRuntime;
  let sweeper: ScheduleEmulator;
  const sweep = async () => (await sweeper.runNow()) as SweepSummary;

  beforeAll(async () => {
    runtime = await startTestRuntime({
      tablePrefix,
      functions: ['outbox-sweeper'],
      // The test runs every sweep itself.
      scheduleIntervalMs: Number.POSITIVE_INFINITY,
    });
    sweeper = runtime.schedules[0] as ScheduleEmulator;
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  it('re-produces exactly one OrderReceived, with its deterministic id, for an order written but never produced', async () => {
    const lost = await putOrder(minutesAgo(5));
    const fresh = await putOrder(new Date().toISOString());
    const decided = await putOrder(minutesAgo(5));
    await confirm(decided.orderId);

    expect(await sweep()).toMatchObject({ scanned: 1, reproduced: 1, abandoned: 0, skipped: 0 });
    // At once again: the attempt is recorded and the next one is not due yet.
    expect(await sweep()).toMatchObject({ reproduced: 0, abandoned: 0 });

    const messages = await everythingProducedSoFar();
    const produced = keyed(messages, lost.orderId);
    expect(produced).toHaveLength(1);
    const decoded = decode('OrderReceived', produced[0]?.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.event).toMatchObject({
      eventId: orderReceivedId(lost.orderId),
      correlationId: lost.orderId,
      causationId: `req-${lost.orderId}`,
      data: { order: orderOf(lost.stored) },
    });
    const headers = [...(produced[0]?.headers ?? [])].map(([k, v]) => [k.toString(), v.toString()]);
    expect(headers).toContainEqual(['event-id', orderReceivedId(lost.orderId)]);
    expect(await item(lost.orderId)).toMatchObject({
      status: 'RECEIVED',
      outboxShard: outboxShardOf(lost.orderId),
      outboxAttempts: 1,
      outboxNextAttemptAt: expect.any(String),
    });

    // Inside the grace period order-api may still be producing it; a decided order is out of the outbox.
    expect(keyed(messages, fresh.orderId)).toEqual([]);
    expect(keyed(messages, decided.orderId)).toEqual([]);
    expect(await item(fresh.orderId)).toEqual(fresh.stored);
    expect(await item(decided.orderId)).not.toHaveProperty('outboxAttempts');
    await confirm(lost.orderId);
    await confirm(fresh.orderId);
  });

  it('gives up after the last attempt: out of the outbox, marked abandoned, nothing more produced', async () => {
    const due = { outboxNextAttemptAt: minutesAgo(1) };
    const last = await putOrder(minutesAgo(60), { ...due, outboxAttempts: maxAttempts - 1 });
    const spent = await putOrder(minutesAgo(60), { ...due, outboxAttempts: maxAttempts });

    expect(await sweep()).toMatchObject({ reproduced: 1, abandoned: 1 });
    expect(await item(last.orderId)).toMatchObject({
      outboxAttempts: maxAttempts,
      outboxShard: expect.any(String),
    });
    const abandoned = await item(spent.orderId);
    expect(abandoned).toMatchObject({
      status: 'RECEIVED',
      outboxAttempts: maxAttempts,
      outboxAbandonedAt: expect.any(String),
      outboxAbandonReason: `OrderReceived re-produced ${maxAttempts} times and the order is still RECEIVED`,
    });
    expect(abandoned).not.toHaveProperty('outboxShard');

    // Time passes for the last attempt too: the next sweep abandons it instead of producing again.
    await db.send(
      new PutCommand({ TableName: ordersTable, Item: { ...(await item(last.orderId)), ...due } }),
    );
    expect(await sweep()).toMatchObject({ reproduced: 0, abandoned: 1 });
    expect(await item(last.orderId)).not.toHaveProperty('outboxShard');
    expect(await sweep()).toMatchObject({ scanned: 0, reproduced: 0, abandoned: 0 });

    const messages = await everythingProducedSoFar();
    expect(keyed(messages, last.orderId)).toHaveLength(1);
    expect(keyed(messages, spent.orderId)).toEqual([]);
  });

  it('abandons at once an order that can never become an event, and sweeps the others of its shard', async () => {
    const unencodable = await putOrder(minutesAgo(5), { total: 2_000_000 });
    const shard = outboxShardOf(unencodable.orderId);
    let neighbour = await putOrder(minutesAgo(4));
    while (outboxShardOf(neighbour.orderId) !== shard) {
      await confirm(neighbour.orderId);
      neighbour = await putOrder(minutesAgo(4));
    }
    expect(await sweep()).toMatchObject({ reproduced: 1, abandoned: 1 });
    expect(await item(unencodable.orderId)).toMatchObject({
      outboxAbandonReason: 'the order does not fit the OrderReceived schema: data.order.total',
    });
    const messages = await everythingProducedSoFar();
    expect(keyed(messages, unencodable.orderId)).toEqual([]);
    expect(keyed(messages, neighbour.orderId)).toHaveLength(1);
    await confirm(neighbour.orderId);
  });
  it('abandons each row that can never be swept, with its reason, and still recovers a lost order of another shard', async () => {
    // placedAt is the index's sort key: one garbage value sorts before every cutoff, one after every time.
    const early = await putOrder(minutesAgo(5), { placedAt: '2000-01-01T99:99:99Z' });
    const late = await putOrder(minutesAgo(5), { placedAt: 'not-a-date' });
    const counting = await putOrder(minutesAgo(5), { outboxAttempts: 'three' });
    const bad = [early, late, counting];
    let lost = await putOrder(minutesAgo(4));
    while (bad.some((b) => outboxShardOf(b.orderId) === outboxShardOf(lost.orderId))) {
      await confirm(lost.orderId);
      lost = await putOrder(minutesAgo(4));
    }
    expect(await sweep()).toMatchObject({ reproduced: 1, abandoned: 3, failed: 0 });
    for (const [row, path] of [
      [early, 'placedAt'],
      [late, 'placedAt'],
      [counting, 'outboxAttempts'],
    ] as const) {
      const stored = await item(row.orderId);
      expect(stored).toMatchObject({
        outboxAbandonedAt: expect.any(String),
        outboxAbandonReason: `malformed item: ${path}`,
      });
      expect(stored).not.toHaveProperty('outboxShard');
    }
    const messages = await everythingProducedSoFar();
    expect(keyed(messages, lost.orderId)).toHaveLength(1);
    for (const row of bad) expect(keyed(messages, row.orderId)).toEqual([]);
    // Out of the outbox: the next sweep reads none of them again.
    await confirm(lost.orderId);
    expect(await sweep()).toMatchObject({ scanned: 0, abandoned: 0, failed: 0 });
  });
});

describe('outbox sweeper on its timer', () => {
  it('runs on the schedule, and stops with the runtime', async () => {
    const runtime = await startTestRuntime({
      tablePrefix,
      functions: ['outbox-sweeper'],
      scheduleIntervalMs: 100,
    });
    try {
      expect(runtime.functions).toEqual([{ name: 'outbox-sweeper', trigger: 'Schedule every 0.1 s' }]);
      const lost = await putOrder(minutesAgo(5));
      await waitFor(() => keyed(reader.messages, lost.orderId).length > 0, 'a scheduled sweep');
      expect(await item(lost.orderId)).toMatchObject({ outboxAttempts: 1 });
      expect(keyed(await everythingProducedSoFar(), lost.orderId)).toHaveLength(1);
    } finally {
      await runtime.stop();
    }
    const [schedule] = runtime.schedules;
    expect(schedule?.stats.invocations).toBeGreaterThan(0);
    expect(schedule?.stats.failedInvocations).toBe(0);
    expect(schedule?.scheduled).toBe(false);
  });
});
