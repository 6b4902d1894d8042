/**
 * order-api under each DynamoDB error class the fault layer injects (local/faults/), through the real
 * endpoints: the local runtime with order-api alone (its bundle, in its own execution environments),
 * the API emulator, dynoxide behind the fault layer, the real broker. Each class is met twice: at a rate
 * the retries absorb (one or a few injections: the answer is the success) and at rate 1 (every attempt
 * fails: the API gives up). The guarantees, whatever the class:
 * - giving up is a 503 with `Retry-After` and a JSON reason (409 `in-progress` for a key whose first
 *   request lost its answer), never a 500;
 * - 0 lost orders: every key is eventually answered 202, and every 202 order is in the orders table and
 *   on OrderReceived;
 * - 0 doubled effects: one order per key (the table holds exactly the accepted orders), one OrderReceived
 *   event id per order, the same order id on every replay, after a 500 that came after the write too.
 * The fault counters show each class was injected.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultRuleInput, parseFaultProfile } from '../../local/faults/profile.ts';
import type { FaultLayer } from '../../local/faults/proxy.ts';
import { localDynamoDbConfig } from '../../local/infra/dynamodb.ts';
import { testInfra } from '../support/env.ts';
import { type RawMessage, TopicReader, waitFor } from '../support/kafka.ts';
import {
  type E2ePipeline,
  e2eCatalog,
  mapConcurrently,
  orderBody,
  startE2ePipeline,
} from '../support/pipeline.ts';

interface Answer {
  status: number;
  retryAfter: string | null;
  replayed: boolean;
  body: Record<string, unknown>;
}

let pipeline: E2ePipeline;
let faults: FaultLayer;
let received: TopicReader;
/** Injections per fault kind over every profile of the file (a profile's counters start afresh). */
const injected: Record<string, number> = {};
let injectedAfter = 0;
/** Every key used, with the order id of its 202 (each must end accepted). */
const accepted = new Map<string, string>();
const keysUsed = new Set<string>();
/** Every status any answer had. */
const statuses = new Set<number>();

function collect(): void {
  const counters = faults.counters();
  for (const [kind, count] of Object.entries(counters.byKind)) injected[kind] = (injected[kind] ?? 0) + count;
  injectedAfter += counters.injectedAfter;
}

/** Switches the fault layer to `rules` (none: off), keeping the counters of the profile before. */
function inject(name: string, rules: FaultRuleInput[] = []): void {
  collect();
  faults.setProfile(parseFaultProfile({ name, seed: 7, rules }));
}

async function call(method: string, path: string, body?: unknown, key?: string): Promise<Answer> {
  const response = await fetch(`${pipeline.api}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(key ? { 'Idempotency-Key': key } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  statuses.add(response.status);
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    replayed: response.headers.get('idempotent-replayed') === 'true',
    body: (await response.json()) as Record<string, unknown>,
  };
}

const bodies = new Map<string, unknown>();
/** POST /orders under `key`, always with the key's one body (a retry is the same request). */
async function post(key: string, entry = e2eCatalog.plenty): Promise<Answer> {
  if (!bodies.has(key)) bodies.set(key, orderBody([{ entry, quantity: 1 }]));
  keysUsed.add(key);
  const answer = await call('POST', '/orders', bodies.get(key), key);
  if (answer.status === 202) {
    const orderId = answer.body.orderId as string;
    expect(accepted.get(key) ?? orderId, `one order id for key ${key}`).toBe(orderId);
    accepted.set(key, orderId);
  }
  return answer;
}

/** A give-up: the status, a Retry-After in seconds, the reason in the body. */
function expectGaveUp(answer: Answer, reason: string, status = 503): void {
  expect({ status: answer.status, reason: answer.body.reason }).toEqual({ status, reason });
  expect(answer.retryAfter).toMatch(/^[1-9][0-9]*$/);
  expect(answer.body.retryAfterSeconds).toBe(Number(answer.retryAfter));
}

/** A client that honours Retry-After: retries 503s and 409 in-progress until a 202, at most `tries` times. */
async function postUntilAccepted(key: string, tries = 20): Promise<{ answer: Answer; attempts: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await post(key);
    const retriable =
      answer.status === 503 || (answer.status === 409 && answer.body.reason === 'in-progress');
    if (!retriable || attempt >= tries) return { answer, attempts: attempt };
    await new Promise((resolve) => setTimeout(resolve, Number(answer.retryAfter ?? '1') * 1_000));
  }
}

const newKey = () => `faults-${randomUUID()}`;
const dynamodb = (rule: Omit<FaultRuleInput, 'service'>): FaultRuleInput => ({
  service: 'dynamodb',
  ...rule,
});

beforeAll(async () => {
  pipeline = await startE2ePipeline('order-api-faults', {
    runtime: { functions: ['order-api'], faults: parseFaultProfile({ name: 'off', rules: [] }) },
  });
  faults = pipeline.runtime.faults as FaultLayer;
  received = await new TopicReader(testInfra().kafkaBrokers, 'OrderReceived').start('earliest');
});

afterAll(async () => {
  await received?.close();
  await pipeline?.stop();
});

describe('order-api under injected DynamoDB errors (real endpoints, the fault layer in between)', () => {
  it('catalog reads: throttled past the SDK retries is 503 throttled; one throttle is retried and accepted', async () => {
    // First, while no environment has the SKU's price cached: every POST reads the catalog.
    const key = newKey();
    const read = { operations: ['BatchGetItem'], tables: ['inventory'] };
    inject('catalog-throttled', [dynamodb({ ...read, rate: 1, fault: { kind: 'ThrottlingException' } })]);
    expectGaveUp(await post(key, e2eCatalog.duplicate), 'throttled');
    expect(faults.counters().byOperation['dynamodb:BatchGetItem']).toBe(3); // the SDK's 3 attempts
    inject('catalog-throttled-once', [
      dynamodb({ ...read, rate: 1, limit: 1, fault: { kind: 'ProvisionedThroughputExceededException' } }),
    ]);
    expect((await post(key, e2eCatalog.duplicate)).status).toBe(202);
    expect(faults.counters().injected).toBe(1);
  });

  it('an order write meeting a transaction (TransactionConflictException) is retried; past the retries, 503 conflict', async () => {
    const write = { operations: ['PutItem'], tables: ['orders'] };
    inject('conflict-3', [
      dynamodb({ ...write, rate: 1, limit: 3, fault: { kind: 'TransactionConflictException' } }),
    ]);
    expect((await post(newKey())).status).toBe(202);
    expect(faults.counters().byKind.TransactionConflictException).toBe(3);
    const key = newKey();
    inject('conflict-always', [
      dynamodb({ ...write, rate: 1, fault: { kind: 'TransactionConflictException' } }),
    ]);
    expectGaveUp(await post(key), 'conflict');
    inject('off');
    expect((await post(key)).status).toBe(202);
  });

  it('throttling of the orders and idempotency tables is retried by the SDK; past its attempts, 503 throttled', async () => {
    inject('throttled-twice', [
      dynamodb({
        tables: ['orders'],
        rate: 1,
        limit: 2,
        fault: { kind: 'ProvisionedThroughputExceededException' },
      }),
      dynamodb({ tables: ['idempotency'], rate: 1, limit: 2, fault: { kind: 'ThrottlingException' } }),
    ]);
    expect((await post(newKey())).status).toBe(202);
    expect(faults.counters().injected).toBe(4);
    const key = newKey();
    inject('throttled-always', [
      dynamodb({ tables: ['idempotency'], rate: 1, fault: { kind: 'ThrottlingException' } }),
    ]);
    expectGaveUp(await post(key), 'throttled');
    inject('off');
    expect((await post(key)).status).toBe(202);
  });

  it('InternalServerError and dropped connections before the write are retried; past the retries, 503 unavailable', async () => {
    const write = { operations: ['PutItem'], tables: ['orders'] };
    inject('500-and-drop-once', [
      dynamodb({ ...write, rate: 1, limit: 1, fault: { kind: 'InternalServerError' } }),
      dynamodb({ ...write, rate: 1, limit: 1, fault: { kind: 'drop' } }),
    ]);
    expect((await post(newKey())).status).toBe(202);
    expect(faults.counters().byKind).toMatchObject({ InternalServerError: 1, drop: 1 });
    for (const fault of [{ kind: 'InternalServerError' }, { kind: 'drop' }] as const) {
      const key = newKey();
      inject(`${fault.kind}-always`, [dynamodb({ ...write, rate: 1, fault })]);
      expectGaveUp(await post(key), 'unavailable');
      inject('off');
      expect((await post(key)).status).toBe(202);
    }
  });

  it('a 500 or a drop AFTER the order was written: one order, answered as new; replays give the same order', async () => {
    const write = { operations: ['PutItem'], tables: ['orders'], when: 'after' as const };
    for (const fault of [{ kind: 'InternalServerError' }, { kind: 'drop' }] as const) {
      const key = newKey();
      inject(`${fault.kind}-after-once`, [dynamodb({ ...write, rate: 1, limit: 1, fault })]);
      const first = await post(key);
      expect([first.status, first.replayed]).toEqual([202, false]);
      expect(faults.counters().injectedAfter).toBe(1);
      inject('off');
      const replay = await post(key);
      expect([replay.status, replay.replayed, replay.body.orderId]).toEqual([202, true, first.body.orderId]);
    }
    // Every attempt's answer lost after the write: the API gives up, the order is written but not sent;
    // the client's retry with the key gets that order, and its event is produced then.
    const key = newKey();
    inject('500-after-always', [dynamodb({ ...write, rate: 1, fault: { kind: 'InternalServerError' } })]);
    expectGaveUp(await post(key), 'unavailable');
    inject('off');
    const retry = await post(key);
    expect([retry.status, retry.replayed]).toEqual([202, true]);
  });

  it("an idempotency record whose put lost its answer is the request's own; one whose completion failed is 409 in-progress until it expires, with no second order", async () => {
    inject('idempotency-put-500-after', [
      dynamodb({
        operations: ['PutItem'],
        tables: ['idempotency'],
        rate: 1,
        limit: 1,
        when: 'after',
        fault: { kind: 'InternalServerError' },
      }),
    ]);
    expect((await post(newKey())).status).toBe(202);
    // The order is accepted and sent, then its answer cannot be stored: the record stays in progress.
    const key = newKey();
    inject('idempotency-completion-fails', [
      dynamodb({
        operations: ['UpdateItem'],
        tables: ['idempotency'],
        rate: 1,
        fault: { kind: 'InternalServerError' },
      }),
    ]);
    expectGaveUp(await post(key), 'unavailable');
    inject('off');
    const blocked = await post(key);
    expectGaveUp(blocked, 'in-progress', 409);
    const { answer, attempts } = await postUntilAccepted(key);
    expect(answer.status).toBe(202);
    expect(attempts).toBeGreaterThan(1);
    expect(answer.body.orderId).toBe(accepted.get(key));
  });

  it('cancellations: a conflict is retried, a 500 after the update is its own, past the retries 503 conflict', async () => {
    const orderIds: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const key = newKey();
      expect((await post(key)).status).toBe(202);
      orderIds.push(accepted.get(key) as string);
    }
    const [a, b, c] = orderIds as [string, string, string];
    const cancel = (orderId: string) => call('POST', `/orders/${orderId}/cancel`);
    const update = { operations: ['UpdateItem'], tables: ['orders'] };
    inject('cancel-conflict-twice', [
      dynamodb({ ...update, rate: 1, limit: 2, fault: { kind: 'TransactionConflictException' } }),
    ]);
    expect((await cancel(a)).status).toBe(202);
    inject('cancel-500-after', [
      dynamodb({ ...update, rate: 1, limit: 1, when: 'after', fault: { kind: 'InternalServerError' } }),
    ]);
    expect((await cancel(b)).status).toBe(202);
    inject('cancel-conflict-always', [
      dynamodb({ ...update, rate: 1, fault: { kind: 'TransactionConflictException' } }),
    ]);
    expectGaveUp(await cancel(c), 'conflict');
    inject('off');
    expect((await cancel(c)).status).toBe(202);
    for (const orderId of orderIds) {
      const stored = await pipeline.tables.order(orderId);
      expect(stored?.status).toBe('CANCELLED');
      expect(stored?.history.filter((h) => h.status === 'CANCELLED')).toHaveLength(1);
    }
  });

  it('GET /orders/{id}: throttled or cut past the retries is 503 with the reason; once, it is answered', async () => {
    const orderId = [...accepted.values()][0] as string;
    inject('get-throttled', [
      dynamodb({
        operations: ['GetItem'],
        tables: ['orders'],
        rate: 1,
        fault: { kind: 'ProvisionedThroughputExceededException' },
      }),
    ]);
    expectGaveUp(await call('GET', `/orders/${orderId}`), 'throttled');
    inject('notifications-dropped', [
      dynamodb({ operations: ['Query'], tables: ['notifications'], rate: 1, fault: { kind: 'drop' } }),
    ]);
    expectGaveUp(await call('GET', `/orders/${orderId}`), 'unavailable');
    inject('get-once', [
      dynamodb({
        operations: ['GetItem'],
        tables: ['orders'],
        rate: 1,
        limit: 1,
        fault: { kind: 'ThrottlingException' },
      }),
      dynamodb({
        operations: ['Query'],
        rate: 1,
        limit: 1,
        when: 'after',
        fault: { kind: 'InternalServerError' },
      }),
    ]);
    const read = await call('GET', `/orders/${orderId}`);
    expect([read.status, read.body.orderId]).toEqual([200, orderId]);
  });

  it('at load, every class at once: each key accepted once, the clients retrying as Retry-After says', async () => {
    const tables = { tables: ['orders', 'idempotency'] };
    inject('mixed', [
      dynamodb({ rate: 0.5, fault: { kind: 'latency', ms: 10, jitterMs: 40 } }),
      dynamodb({
        operations: ['PutItem', 'UpdateItem'],
        tables: ['orders'],
        rate: 0.3,
        fault: { kind: 'TransactionConflictException' },
      }),
      dynamodb({ ...tables, rate: 0.1, fault: { kind: 'ProvisionedThroughputExceededException' } }),
      dynamodb({ ...tables, rate: 0.05, fault: { kind: 'ThrottlingException' } }),
      dynamodb({ ...tables, rate: 0.04, fault: { kind: 'InternalServerError' } }),
      dynamodb({ ...tables, rate: 0.04, when: 'after', fault: { kind: 'InternalServerError' } }),
      dynamodb({ ...tables, rate: 0.02, fault: { kind: 'drop' } }),
      dynamodb({ ...tables, rate: 0.02, when: 'after', fault: { kind: 'drop' } }),
    ]);
    const keys = Array.from({ length: 40 }, newKey);
    const results = await mapConcurrently(keys, 8, (key) => postUntilAccepted(key));
    const attempts = results.map((r) => r.attempts);
    console.log(
      `order-api-faults load: ${keys.length} keys, ${attempts.reduce((a, b) => a + b, 0)} requests, ` +
        `at most ${Math.max(...attempts)} per key, statuses ${[...statuses].sort().join(' ')}; injected ${JSON.stringify(faults.counters().byKind)}`,
    );
    expect(results.map((r) => r.answer.status)).toEqual(keys.map(() => 202));
    inject('off');
  }, 240_000);

  it('no answer was a 500, every key ended accepted, and each accepted order is in the table and on OrderReceived once', async () => {
    collect();
    expect([...statuses].filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect([...keysUsed].filter((key) => !accepted.has(key))).toEqual([]);
    const orderIds = new Set(accepted.values());
    expect(orderIds.size).toBe(accepted.size);
    // The table holds exactly the accepted orders: no order of a key twice, none without its 202.
    const stored = await scanOrderIds(pipeline.tables.name('orders'));
    expect(stored.sort()).toEqual([...orderIds].sort());
    await waitFor(
      () => [...orderIds].every((id) => keyed(id).length > 0),
      'an OrderReceived for every accepted order',
      60_000,
    );
    for (const orderId of orderIds) {
      const eventIds = new Set(keyed(orderId).map(eventIdOf));
      expect(eventIds.size, `OrderReceived event ids of ${orderId}`).toBe(1);
    }
    const copies = [...orderIds].reduce((sum, id) => sum + keyed(id).length - 1, 0);
    console.log(
      `order-api-faults: ${orderIds.size} orders, ${copies} OrderReceived copies (same event id, dropped downstream); injected ${JSON.stringify(injected)}, ${injectedAfter} after the write`,
    );
    for (const kind of [
      'TransactionConflictException',
      'ThrottlingException',
      'ProvisionedThroughputExceededException',
      'InternalServerError',
      'drop',
      'latency',
    ]) {
      expect(injected[kind] ?? 0, kind).toBeGreaterThan(0);
    }
    expect(injectedAfter).toBeGreaterThan(0);
  });
});

const keyed = (orderId: string): RawMessage[] =>
  received.messages.filter((m) => m.key?.toString() === orderId);

const eventIdOf = (message: RawMessage): string | undefined =>
  [...message.headers].find(([name]) => name.toString() === 'event-id')?.[1].toString();

async function scanOrderIds(tableName: string): Promise<string[]> {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient(localDynamoDbConfig(testInfra().dynamodbEndpoint)),
  );
  const ids: string[] = [];
  let start: Record<string, unknown> | undefined;
  try {
    do {
      const page = await client.send(
        new ScanCommand({
          TableName: tableName,
          ProjectionExpression: 'orderId',
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      ids.push(...(page.Items ?? []).map((item) => item.orderId as string));
      start = page.LastEvaluatedKey;
    } while (start);
  } finally {
    client.destroy();
  }
  return ids;
}
