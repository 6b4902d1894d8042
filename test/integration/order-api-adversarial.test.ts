import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrderApi } from '../../functions/order-api/api.ts';
import { dynamoCatalog } from '../../functions/order-api/catalog.ts';
import { dynamoNotifications } from '../../functions/order-api/notifications.ts';
import { dynamoOrders } from '../../functions/shared/orders/repository.ts';
import { RecordingProducer, silentLogger, testMetrics } from '../../functions/shared/testing.ts';
import type { RunningApi } from '../../local/runtime/api-emulator.ts';
import { localTableName } from '../../topology/manifest.ts';
import { startTestApi } from '../support/api.ts';
import { testDynamoDbClient } from '../support/env.ts';

/**
 * order-api as an attacker meets it: the real handler behind the API emulator, on the real tables
 * (moto), with SKUs of its own in the inventory table. Only the producer is a recording one: what
 * happens after OrderReceived is the pipeline tests' business.
 */
const low = testDynamoDbClient();
const client = DynamoDBDocumentClient.from(low, { marshallOptions: { removeUndefinedValues: true } });
const tables = {
  orders: localTableName('orders'),
  inventory: localTableName('inventory'),
  notifications: localTableName('notifications'),
  idempotency: localTableName('idempotency'),
};
const tag = randomBytes(4).toString('hex').toUpperCase();
const sku = {
  headphones: `SKU-ADV-${tag}-HEADPHONES`,
  mug: `SKU-ADV-${tag}-MUG`,
  yacht: `SKU-ADV-${tag}-YACHT`,
};
const producer = new RecordingProducer();
let api: RunningApi;

beforeAll(async () => {
  for (const [entry, unitPrice] of [
    [sku.headphones, 129],
    [sku.mug, 12.5],
    [sku.yacht, 999_999.99],
  ] as const) {
    await client.send(
      new PutCommand({
        TableName: tables.inventory,
        Item: {
          sku: entry,
          name: `adversarial ${entry}`,
          unitPrice,
          weightGrams: 100,
          available: 10,
          reserved: 0,
        },
      }),
    );
  }
  const store = new DynamoDBPersistenceLayer({
    tableName: tables.idempotency,
    keyAttr: 'id',
    expiryAttr: 'expiration',
    awsSdkV3Client: low,
  });
  const handle = createOrderApi(
    {
      orders: dynamoOrders(client, tables.orders),
      catalog: dynamoCatalog(client, tables.inventory),
      notifications: dynamoNotifications(client, tables.notifications),
      produce: producer.produce,
      persistenceStore: store,
    },
    { logger: silentLogger(), metrics: testMetrics() },
  );
  api = await startTestApi(handle, { memoryMb: 512, timeoutSeconds: 10 });
});

afterAll(async () => {
  await api?.close();
  client.destroy();
});

const address = { name: 'Ada', line1: '1 Main St', city: 'Seattle', postalCode: '98101', country: 'US' };
const newOrderId = () => `adv-${randomBytes(6).toString('hex')}`;

async function post(body: string | Buffer, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}/orders`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** A POST /orders body of `items` to Ada's address, from customer 'c' unless `fields` say otherwise. */
const orderJson = (items: Record<string, unknown>[], fields: Record<string, unknown> = {}) =>
  JSON.stringify({ customerId: 'c', items, shippingAddress: address, ...fields });

/** Places an order of one mug (202) and answers its id. */
async function placeMug(): Promise<string> {
  const orderId = newOrderId();
  expect((await post(orderJson([{ sku: sku.mug, quantity: 1 }], { orderId }))).status).toBe(202);
  return orderId;
}

const stored = async (orderId: string) =>
  (await client.send(new GetCommand({ TableName: tables.orders, Key: { orderId }, ConsistentRead: true })))
    .Item;

const ordersCount = async () => {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tables.orders,
        Select: 'COUNT',
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
};

/** One raw request on its own connection; resolves with the status line's code. */
function rawStatus(bytes: Buffer | string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(api.port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      if (status && text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(Number(status));
      }
    });
    socket.on('error', reject);
  });
}

describe('order-api on the real tables: prices come from the inventory table', () => {
  it('refuses 5 headphones at 0.00 (catalog 129.00): 400 naming the price, nothing stored', async () => {
    const orderId = newOrderId();
    const response = await post(
      orderJson([{ sku: sku.headphones, name: 'Wireless headphones', quantity: 5, unitPrice: 0 }], {
        orderId,
        customerId: 'mallory',
        total: 0,
      }),
    );
    expect(response.status).toBe(400);
    expect(response.json.errors).toContainEqual({
      path: 'items[0].unitPrice',
      message: expect.stringContaining('129.00'),
    });
    expect(await stored(orderId)).toBeUndefined();
  });

  it('prices an order without prices from the table and computes its total in cents', async () => {
    const orderId = newOrderId();
    const response = await post(
      orderJson(
        [
          { sku: sku.headphones, quantity: 2 },
          { sku: sku.mug, quantity: 3 },
        ],
        { orderId, customerId: 'alice' },
      ),
    );
    expect(response.status).toBe(202);
    expect(await stored(orderId)).toMatchObject({
      status: 'RECEIVED',
      total: 295.5,
      items: [
        { sku: sku.headphones, name: `adversarial ${sku.headphones}`, quantity: 2, unitPrice: 129 },
        { sku: sku.mug, name: `adversarial ${sku.mug}`, quantity: 3, unitPrice: 12.5 },
      ],
    });
    const event = producer.on('OrderReceived').find((e) => e.data.order.orderId === orderId);
    expect(event?.data.order.total).toBe(295.5);
  });

  it('refuses unknown SKUs and totals over the event maximum, storing nothing', async () => {
    const unknown = newOrderId();
    const missing = await post(
      orderJson([{ sku: `SKU-ADV-${tag}-NOPE`, quantity: 1 }], { orderId: unknown }),
    );
    expect(missing.status).toBe(400);
    expect(missing.json.errors).toContainEqual({ path: 'items[0].sku', message: expect.any(String) });
    const huge = newOrderId();
    const over = await post(orderJson([{ sku: sku.yacht, quantity: 2 }], { orderId: huge }));
    expect(over.status).toBe(400);
    expect(over.json.errors).toContainEqual({
      path: 'items',
      message: expect.stringContaining('1000000.00'),
    });
    expect(await stored(unknown)).toBeUndefined();
    expect(await stored(huge)).toBeUndefined();
  });
});

describe('order-api on the real tables: hostile requests are a 4xx and write nothing', () => {
  const valid = (extra = '') =>
    `{"customerId":"c","items":[{"sku":"${sku.mug}","quantity":1}],"shippingAddress":${JSON.stringify(address)}${extra}}`;
  const request = (target: string, headers: string, body: Buffer | string = '') =>
    Buffer.concat([
      Buffer.from(
        `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`,
        'latin1',
      ),
      Buffer.from(body),
    ]);

  it.each([
    ['a body nested 20 000 deep', request('/orders', '', `${'['.repeat(20_000)}${']'.repeat(20_000)}`), 400],
    ['a lone surrogate in a string', request('/orders', '', valid(',"customerId":"\\ud800"')), 400],
    ['a __proto__ key in the body', request('/orders', '', valid(',"__proto__":{"admin":true}')), 400],
    ['a constructor key in the body', request('/orders', '', valid(',"constructor":1')), 400],
    ['a __proto__ header', request('/orders', '__proto__: x\r\n', valid()), 400],
    ['a constructor query parameter', request('/orders?constructor=1', '', valid()), 400],
    ['a __proto__ query parameter', request('/orders?__proto__=1', '', valid()), 400],
    ['a quantity of 1e400', request('/orders', '', valid().replace('"quantity":1', '"quantity":1e400')), 400],
    ['a negative quantity', request('/orders', '', valid().replace('"quantity":1', '"quantity":-3')), 400],
    ['bytes that are not UTF-8', request('/orders', '', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])), 400],
    ['an order id in the system namespace', request('/orders', '', valid(',"orderId":"ord-squat"')), 400],
    [
      'a latin-1 body',
      request('/orders', '', valid())
        .toString('latin1')
        .replace('application/json', 'application/json; charset=latin1'),
      415,
    ],
  ])('%s → %i', async (_, bytes, status) => {
    const before = await ordersCount();
    expect(await rawStatus(bytes)).toBe(status);
    expect(await ordersCount()).toBe(before);
  });
});

describe('GET /orders/{id} on the real tables', () => {
  it('shows the delivered notifications of the notifications table in the history, in time order', async () => {
    const orderId = await placeMug();
    const placedAt = (await stored(orderId))?.placedAt as string;
    const later = (seconds: number) => new Date(Date.parse(placedAt) + seconds * 1000).toISOString();
    for (const [notificationId, kind, at] of [
      ['n-2', 'order-packed', later(5)],
      ['n-1', 'order-confirmed', later(2)],
    ] as const) {
      await client.send(
        new PutCommand({
          TableName: tables.notifications,
          Item: { orderId, notificationId, kind, deliveredAt: at, channel: 'email', customerId: 'c' },
        }),
      );
    }
    const response = await fetch(`${api.url}/orders/${orderId}`);
    expect(response.status).toBe(200);
    const view = (await response.json()) as { history: { status: string; at: string; detail?: string }[] };
    expect(view.history).toEqual([
      { status: 'RECEIVED', at: placedAt },
      { status: 'NOTIFIED', at: later(2), detail: 'notified:order-confirmed' },
      { status: 'NOTIFIED', at: later(5), detail: 'notified:order-packed' },
    ]);
  });
});

describe('order-api on the real tables: an Idempotency-Key names one request', () => {
  const cancel = async (orderId: string, key: string) => {
    const response = await fetch(`${api.url}/orders/${orderId}/cancel`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify({ reason: 'changed my mind' }),
    });
    return {
      status: response.status,
      replayed: response.headers.get('idempotent-replayed'),
      json: (await response.json()) as Record<string, unknown>,
    };
  };

  it('refuses a cancel key reused on another order (409), leaving that order as it was; a key reused on POST /orders too', async () => {
    const [a, b] = [await placeMug(), await placeMug()];
    const key = `k-${randomBytes(6).toString('hex')}`;
    expect((await cancel(a, key)).status).toBe(202);
    const other = await cancel(b, key);
    expect(other).toMatchObject({ status: 409, replayed: null });
    expect(other.json.message).toMatch(/already used for another request/);
    expect(await stored(b)).toMatchObject({ status: 'RECEIVED' });
    expect(await stored(a)).toMatchObject({ status: 'CANCELLED' });
    expect(await cancel(a, key)).toMatchObject({ status: 202, replayed: 'true', json: { orderId: a } });
    const before = await ordersCount();
    const body = orderJson([{ sku: sku.mug, quantity: 1 }]);
    expect((await post(body, { 'Idempotency-Key': key })).status).toBe(409);
    expect(await ordersCount()).toBe(before);
  });
});

describe('order-api on the real tables: operator data that does not fit is refused, not an outage', () => {
  const put = (entry: string, item: Record<string, unknown>) =>
    client.send(
      new PutCommand({
        TableName: tables.inventory,
        Item: { sku: entry, weightGrams: 100, available: 10, reserved: 0, ...item },
      }),
    );

  it.each([
    ['a price of 12.345', { name: 'n', unitPrice: 12.345 }],
    ['a price of "12.50"', { name: 'n', unitPrice: '12.50' }],
    ['a price of -1', { name: 'n', unitPrice: -1 }],
    ['no name', { unitPrice: 5 }],
  ])(
    'answers 422 for a SKU whose entry has %s, beside a good SKU, storing nothing; the fixed entry sells at once',
    async (_, item) => {
      const broken = `SKU-ADV-${tag}-BROKEN-${randomBytes(3).toString('hex').toUpperCase()}`;
      await put(broken, item);
      const orderId = newOrderId();
      const body = orderJson(
        [
          { sku: sku.mug, quantity: 1 },
          { sku: broken, quantity: 1 },
        ],
        { orderId },
      );
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const refused = await post(body);
        expect(refused.status).toBe(422);
        expect(refused.json.errors).toEqual([
          { path: 'items[1].sku', message: expect.stringContaining(`${broken} cannot be sold now`) },
        ]);
      }
      expect(await stored(orderId)).toBeUndefined();
      await put(broken, { name: 'fixed', unitPrice: 5 });
      expect((await post(body)).status).toBe(202);
    },
  );

  it('accepts the new price during the cache period, checked against a fresh read; a wrong one names the new price', async () => {
    const entry = `SKU-ADV-${tag}-REPRICED`;
    await put(entry, { name: 'repriced', unitPrice: 10 });
    const order = (unitPrice: number) => orderJson([{ sku: entry, quantity: 1, unitPrice }]);
    expect((await post(order(10))).status).toBe(202);
    await put(entry, { name: 'repriced', unitPrice: 11 });
    expect((await post(order(11))).status).toBe(202);
    const wrong = await post(order(9));
    expect(wrong.status).toBe(400);
    expect(wrong.json.errors).toEqual([
      { path: 'items[0].unitPrice', message: 'is not the current catalog price 11.00; omit it or send that' },
    ]);
  });
});

describe('GET /orders/{id} of an order the outbox sweeper gave up on', () => {
  it('shows ON_HOLD, not RECEIVED forever; the customer can still cancel it', async () => {
    const orderId = await placeMug();
    // What the sweeper writes when it abandons an order (and takes it out of the outbox).
    await client.send(
      new UpdateCommand({
        TableName: tables.orders,
        Key: { orderId },
        UpdateExpression: 'SET outboxAbandonedAt = :at, outboxAbandonReason = :reason REMOVE outboxShard',
        ExpressionAttributeValues: { ':at': new Date().toISOString(), ':reason': 're-produced 5 times' },
      }),
    );
    const held = await fetch(`${api.url}/orders/${orderId}`);
    const view = (await held.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ status: 'ON_HOLD', holdReason: expect.stringContaining('operator') });
    expect(JSON.stringify(view)).not.toContain('re-produced');
    const cancelled = await fetch(`${api.url}/orders/${orderId}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(202);
    const after = (await (await fetch(`${api.url}/orders/${orderId}`)).json()) as Record<string, unknown>;
    expect(after.status).toBe('CANCELLED');
  });
});
