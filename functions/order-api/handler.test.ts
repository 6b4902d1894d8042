import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { matchRoute, orderApiRoutes } from '../../local/runtime/api-emulator.ts';
import { orderEventId } from '../shared/orders/events.ts';
import type { StoredOrder } from '../shared/orders/model.ts';
import {
  fakeContext,
  MemoryOrders,
  MemoryPersistenceLayer,
  RecordingProducer,
  sampleOrder,
  silentLogger,
  storedMetrics,
  storedOrder,
  testMetrics,
} from '../shared/testing.ts';
import { createOrderApi } from './api.ts';
import type { OrderApiDeps } from './api-deps.ts';
import {
  CATALOG_ITEM_INVALID,
  type CatalogLookup,
  type CatalogPort,
  type CatalogPrice,
  catalogLookupOf,
} from './catalog.ts';
import { exampleOrder } from './example-order.ts';
import { orderIdFor } from './logic.ts';
import type { DeliveredNotification, NotificationsReadPort } from './notifications.ts';
import { scopedIdempotencyKey } from './requests.ts';
import { awsError, transientFailures } from './testing.ts';

const address = { name: 'Ada', line1: '1 Main St', city: 'Seattle', postal_code: '98101', country: 'US' };
const order = {
  customer_id: 'John',
  items: [{ sku: 'SKU-MUG', name: 'Coffee mug', quantity: 2, unit_price: 12.5 }],
  total: 25,
  shipping_address: address,
};
/** The README's example body: no total, the client's names and prices equal to the catalog's. */
const readmeBody = exampleOrder();

const catalogEntries: CatalogPrice[] = [
  { sku: 'SKU-MUG', name: 'Coffee mug', unitPrice: 12.5 },
  { sku: 'SKU-TSHIRT-M', name: 'T-shirt (M)', unitPrice: 19.99 },
  { sku: 'SKU-HEADPHONES', name: 'Wireless headphones', unitPrice: 129 },
  { sku: 'SKU-YACHT', name: 'A yacht', unitPrice: 999_999.99 },
];

/** The inventory table's items as an operator left them (any shape), read as the real port reads them. */
class MemoryCatalog implements CatalogPort {
  readonly bySku = new Map<string, Record<string, unknown>>(
    catalogEntries.map((entry) => [entry.sku, entry]),
  );
  /** What a warm cache still holds: served unless the read is fresh. */
  readonly cached = new Map<string, Record<string, unknown>>();
  failures = 0;
  freshReads = 0;
  async prices(skus: readonly string[], options: { fresh?: boolean } = {}) {
    if (this.failures > 0) {
      this.failures -= 1;
      throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
    }
    if (options.fresh) this.freshReads += 1;
    const result = new Map<string, CatalogLookup>();
    for (const sku of skus) {
      const item = (!options.fresh && this.cached.get(sku)) || this.bySku.get(sku);
      if (item) result.set(sku, catalogLookupOf(sku, item));
    }
    return result;
  }
}

class MemoryNotifications implements NotificationsReadPort {
  readonly byOrder = new Map<string, DeliveredNotification[]>();
  async delivered(orderId: string) {
    return this.byOrder.get(orderId) ?? [];
  }
}

/** An API Gateway REST (v1) proxy event, as the local API emulator and API Gateway send it. */
function request(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  extra: Partial<APIGatewayProxyEvent> = {},
): APIGatewayProxyEvent {
  // The resource and path parameters API Gateway (here: its local emulator's matcher) gives the event.
  const url = new URL(path, 'http://api.local');
  let matched: ReturnType<typeof matchRoute>;
  try {
    matched = matchRoute(orderApiRoutes, method, url.pathname);
  } catch {
    // Not decodable: matched with its segments as sent (the function must still refuse them).
    matched = matchRoute(orderApiRoutes, method, url.pathname.replace(/%/g, '%25'));
  }
  return {
    httpMethod: method,
    path,
    resource: matched?.route.resource ?? path,
    pathParameters: matched?.pathParameters ?? null,
    headers: { 'Content-Type': 'application/json', ...headers },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: { requestId: `api-${Math.random()}` } as APIGatewayProxyEvent['requestContext'],
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    ...extra,
  };
}

const as = (userArn: string): Partial<APIGatewayProxyEvent> => ({
  requestContext: {
    requestId: `api-${Math.random()}`,
    identity: { userArn },
  } as unknown as APIGatewayProxyEvent['requestContext'],
});

function setup(overrides: Partial<OrderApiDeps> = {}) {
  const orders = new MemoryOrders();
  const catalog = new MemoryCatalog();
  const notifications = new MemoryNotifications();
  const producer = new RecordingProducer();
  const persistenceStore = new MemoryPersistenceLayer();
  const metrics = testMetrics();
  const logger = silentLogger();
  const api = createOrderApi(
    {
      orders,
      catalog,
      notifications,
      produce: producer.produce,
      persistenceStore,
      now: () => new Date('2026-11-24T10:00:00.000Z'),
      ...overrides,
    },
    { logger, metrics },
  );
  const call = async (event: APIGatewayProxyEvent) => {
    const response = await api(event, fakeContext('order-api'));
    return { ...response, json: JSON.parse(response.body) };
  };
  /** Nothing written anywhere, nothing produced. */
  const untouched = () => {
    expect(orders.items.size).toBe(0);
    expect(persistenceStore.records.size).toBe(0);
    expect(producer.sent).toHaveLength(0);
  };
  return { call, orders, catalog, notifications, producer, persistenceStore, metrics, logger, untouched };
}

describe('POST /orders', () => {
  it('accepts an order: 202 with its id and status URL, the order stored RECEIVED, one OrderReceived produced', async () => {
    const { call, orders, producer, metrics } = setup();
    const response = await call(request('POST', '/orders', { ...order, order_id: 'mine-1' }));
    expect(response.statusCode).toBe(202);
    expect(response.json).toEqual({ orderId: 'mine-1', status: 'RECEIVED', statusUrl: '/orders/mine-1' });
    expect(response.headers?.location).toBe('/orders/mine-1');
    expect((await orders.get('mine-1'))?.status).toBe('RECEIVED');
    const [received] = producer.on('OrderReceived');
    expect(received?.data.order).toMatchObject({
      orderId: 'mine-1',
      customerId: 'John',
      total: 25,
      currency: 'USD',
    });
    expect(producer.on('KPIs').map((k) => k.data.metrics.map((m) => m.name))).toEqual([
      ['OrdersReceived', 'StepLatency'],
    ]);
    // Measured on the KPIs topic only: the kpis function turns it into the CloudWatch metric.
    expect(storedMetrics(metrics)).toEqual({});
  });

  it('answers a retry with the same Idempotency-Key with the original answer, producing nothing more', async () => {
    const { call, producer } = setup();
    const first = await call(request('POST', '/orders', order, { 'Idempotency-Key': 'k-1' }));
    const retry = await call(request('POST', '/orders', order, { 'idempotency-key': 'k-1' }));
    expect(first.statusCode).toBe(202);
    expect(retry.statusCode).toBe(202);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers?.['idempotent-replayed']).toBe('true');
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it('answers 409 to the same Idempotency-Key with another order', async () => {
    const { call, producer } = setup();
    await call(request('POST', '/orders', order, { 'Idempotency-Key': 'k-1' }));
    const other = await call(
      request('POST', '/orders', { ...order, customer_id: 'Jane' }, { 'Idempotency-Key': 'k-1' }),
    );
    expect(other.statusCode).toBe(409);
    expect(other.json.message).toMatch(/Idempotency-Key/);
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it("uses the client's order id as the key: same order again is the same answer, other content a 409", async () => {
    const { call, producer, persistenceStore } = setup();
    const body = { ...order, order_id: 'mine-7' };
    const first = await call(request('POST', '/orders', body));
    // camelCase spelling of the same order: the same content.
    const camel = {
      orderId: 'mine-7',
      customerId: 'John',
      items: [{ sku: 'SKU-MUG', name: 'Coffee mug', quantity: 2, unitPrice: 12.5 }],
      total: 25,
      shippingAddress: { ...address, postal_code: undefined, postalCode: '98101' },
    };
    const same = await call(request('POST', '/orders', camel));
    expect(same.statusCode).toBe(202);
    expect(same.json).toEqual(first.json);
    const conflict = await call(
      request('POST', '/orders', { ...body, total: 37.5, items: [{ ...order.items[0], quantity: 3 }] }),
    );
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json.message).toBe('Order mine-7 already exists with different content');
    // The order's conditional write is the guard: the retry re-produces the same event (same id: the
    // first attempt may have died before producing), counted once.
    const ids = producer.on('OrderReceived').map((e) => e.eventId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1);
    expect(same.headers?.['idempotent-replayed']).toBe('true');
    // No Powertools record: the order item is the record of this key.
    expect(persistenceStore.records.size).toBe(0);
  });

  it('answers 409 when another key names an existing order id with other content', async () => {
    const { call } = setup();
    await call(request('POST', '/orders', { ...order, order_id: 'mine-8' }, { 'Idempotency-Key': 'a' }));
    const clash = await call(
      request(
        'POST',
        '/orders',
        { ...order, order_id: 'mine-8', customer_id: 'Jane' },
        { 'Idempotency-Key': 'b' },
      ),
    );
    expect(clash.statusCode).toBe(409);
    expect(clash.json.message).toBe('Order mine-8 already exists with different content');
  });

  it('recovers from a produce failure: 503, then the retry re-produces the same event id', async () => {
    const { call, producer, orders } = setup();
    producer.failures = 1;
    const failed = await call(request('POST', '/orders', order, { 'Idempotency-Key': 'k-9' }));
    expect(failed.statusCode).toBe(503);
    expect(orders.items.size).toBe(1);
    const retry = await call(request('POST', '/orders', order, { 'Idempotency-Key': 'k-9' }));
    expect(retry.statusCode).toBe(202);
    expect(retry.json.orderId).toBe([...orders.items.keys()][0]);
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it('gives two requests without any key two different orders', async () => {
    const { call } = setup();
    const a = await call(request('POST', '/orders', order));
    const b = await call(request('POST', '/orders', order));
    expect(a.json.orderId).not.toBe(b.json.orderId);
  });

  it('answers 400 with field reasons, 415 and 413 without storing anything', async () => {
    const { call, untouched } = setup();
    const seed = await call(
      request('POST', '/orders', { order_id: '123', customer_id: 'John', items: [], total: 100 }),
    );
    expect(seed.statusCode).toBe(400);
    expect(seed.json.errors).toContainEqual({ path: 'items', message: 'must contain at least one item' });
    const text = await call(request('POST', '/orders', 'hello', { 'Content-Type': 'text/plain' }));
    expect(text.statusCode).toBe(415);
    const big = await call(request('POST', '/orders', { ...order, note: 'x'.repeat(70_000) }));
    expect(big.statusCode).toBe(413);
    const malformed = await call(request('POST', '/orders', '{"customer_id":'));
    expect(malformed.statusCode).toBe(400);
    untouched();
  });
});

describe('POST /orders: prices and totals come from the catalog', () => {
  it("prices the README's body from the catalog and computes the total", async () => {
    const { call, producer } = setup();
    const withoutPrices = {
      ...readmeBody,
      items: readmeBody.items.map(({ sku, quantity }) => ({ sku, quantity })),
    };
    for (const body of [readmeBody, withoutPrices, { ...readmeBody, total: 52.48 }]) {
      expect((await call(request('POST', '/orders', body))).statusCode).toBe(202);
    }
    for (const event of producer.on('OrderReceived')) {
      expect(event.data.order.total).toBe(52.48);
      expect(event.data.order.items).toEqual([
        { sku: 'SKU-TSHIRT-M', name: 'T-shirt (M)', quantity: 2, unitPrice: 19.99 },
        { sku: 'SKU-MUG', name: 'Coffee mug', quantity: 1, unitPrice: 12.5 },
      ]);
    }
  });

  it('uses the catalog name over the client one', async () => {
    const { call, producer } = setup();
    const body = { ...readmeBody, items: [{ sku: 'SKU-MUG', name: 'Free mug', quantity: 1 }] };
    expect((await call(request('POST', '/orders', body))).statusCode).toBe(202);
    expect(producer.on('OrderReceived')[0]?.data.order.items[0]?.name).toBe('Coffee mug');
  });

  it.each([
    [
      '5 headphones at 0.00',
      [{ sku: 'SKU-HEADPHONES', quantity: 5, unitPrice: 0 }],
      undefined,
      { path: 'items[0].unitPrice', message: expect.stringContaining('129.00') },
    ],
    [
      'a discount of one cent',
      [{ sku: 'SKU-MUG', quantity: 1, unitPrice: 12.49 }],
      undefined,
      { path: 'items[0].unitPrice', message: expect.stringContaining('12.50') },
    ],
    [
      'an unknown SKU',
      [
        { sku: 'SKU-MUG', quantity: 1 },
        { sku: 'SKU-FREE-STUFF', quantity: 1 },
      ],
      undefined,
      { path: 'items[1].sku', message: 'SKU-FREE-STUFF is not in the catalog' },
    ],
    [
      'a total below the catalog prices (lines without prices)',
      [{ sku: 'SKU-HEADPHONES', quantity: 5 }],
      0,
      { path: 'total', message: 'does not match the current catalog prices: expected 645.00' },
    ],
    [
      'a total above the schema maximum, computed (no total sent)',
      [{ sku: 'SKU-YACHT', quantity: 2 }],
      undefined,
      { path: 'items', message: expect.stringMatching(/1999999\.98.*1000000\.00/) },
    ],
    [
      'a total above the schema maximum, and a total sent that matches it',
      [{ sku: 'SKU-YACHT', quantity: 1000, unitPrice: 999_999.99 }],
      undefined,
      { path: 'items', message: expect.stringContaining('more than the 1000000.00') },
    ],
  ])('refuses %s with 400 and writes nothing', async (_, items, total, issue) => {
    const { call, untouched } = setup();
    const response = await call(request('POST', '/orders', { ...readmeBody, items, total }));
    expect(response.statusCode).toBe(400);
    expect(response.json.errors).toContainEqual(issue);
    untouched();
  });

  it.each([
    ['a price with three decimals', { unitPrice: 12.345 }],
    ['a price as a string', { unitPrice: '12.50' }],
    ['a negative price', { unitPrice: -1 }],
    ['no name', { name: undefined }],
    ['an empty name', { name: '' }],
  ])(
    'refuses a SKU whose catalog entry has %s with 422 (beside a good SKU too), alerts, writes nothing; the fix sells at once',
    async (_, change) => {
      const { call, catalog, metrics, logger, untouched } = setup();
      const error = vi.spyOn(logger, 'error');
      catalog.bySku.set('SKU-BROKEN', { sku: 'SKU-BROKEN', name: 'Broken', unitPrice: 5, ...change });
      const body = {
        ...readmeBody,
        items: [
          { sku: 'SKU-MUG', quantity: 1 },
          { sku: 'SKU-BROKEN', quantity: 1 },
        ],
      };
      const key = { 'Idempotency-Key': 'k-broken' };
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const refused = await call(request('POST', '/orders', body, key));
        expect(refused.statusCode).toBe(422);
        expect(refused.json).toEqual({
          message: 'The order cannot be sold now',
          errors: [
            {
              path: 'items[1].sku',
              message:
                'SKU-BROKEN cannot be sold now: its catalog entry is invalid (the operator is alerted)',
            },
          ],
        });
        expect(refused.headers?.['retry-after']).toBeUndefined();
      }
      untouched();
      expect(storedMetrics(metrics)).toEqual({ [CATALOG_ITEM_INVALID]: [1, 1] });
      expect(error).toHaveBeenCalledWith(expect.stringContaining(CATALOG_ITEM_INVALID), {
        sku: 'SKU-BROKEN',
        problems: expect.arrayContaining([expect.any(String)]),
      });
      catalog.bySku.set('SKU-BROKEN', { sku: 'SKU-BROKEN', name: 'Broken', unitPrice: 5 });
      expect((await call(request('POST', '/orders', body, key))).statusCode).toBe(202);
    },
  );

  it('checks a price the cache disagrees with against a fresh read: the new price is accepted, a wrong one named', async () => {
    const { call, catalog, producer } = setup();
    // The catalog's price went from 12.50 to 13.00; a warm cache still says 12.50.
    catalog.cached.set('SKU-MUG', { sku: 'SKU-MUG', name: 'Coffee mug', unitPrice: 12.5 });
    catalog.bySku.set('SKU-MUG', { sku: 'SKU-MUG', name: 'Coffee mug', unitPrice: 13 });
    const line = (unitPrice: number) => ({
      ...readmeBody,
      items: [{ sku: 'SKU-MUG', quantity: 2, unitPrice }],
    });
    expect((await call(request('POST', '/orders', line(13)))).statusCode).toBe(202);
    expect(producer.on('OrderReceived')[0]?.data.order).toMatchObject({ total: 26 });
    // A price neither the cache nor the table has: refused, naming the current price, not the cached one.
    const wrong = await call(request('POST', '/orders', line(11)));
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json.errors).toEqual([
      { path: 'items[0].unitPrice', message: 'is not the current catalog price 13.00; omit it or send that' },
    ]);
    const total = await call(
      request('POST', '/orders', { ...readmeBody, items: [{ sku: 'SKU-MUG', quantity: 2 }], total: 26 }),
    );
    expect(total.statusCode).toBe(202);
    expect(catalog.freshReads).toBe(3);
    // Without a price to disagree with, the cache serves (a fresh read only where the client knows better).
    expect(
      (
        await call(
          request('POST', '/orders', { ...readmeBody, items: [{ sku: 'SKU-TSHIRT-M', quantity: 1 }] }),
        )
      ).statusCode,
    ).toBe(202);
    expect(catalog.freshReads).toBe(3);
  });

  it('refuses an order whose event is larger than the limit, writing nothing', async () => {
    const { call, untouched } = setup({ maxEventBytes: 600 });
    const response = await call(request('POST', '/orders', readmeBody));
    expect(response.statusCode).toBe(400);
    expect(response.json.errors[0].message).toMatch(/event would be \d+ bytes, over the 600 allowed/);
    untouched();
  });

  it('answers 503 when the catalog is unreachable, writing nothing; the retry succeeds', async () => {
    const { call, catalog, untouched } = setup();
    catalog.failures = 1;
    const failed = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }));
    expect(failed.statusCode).toBe(503);
    untouched();
    expect((await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }))).statusCode).toBe(
      202,
    );
  });
});

/** Hostile bodies, each with the status it must get; none may write or produce anything. */
const nest = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const raw = (fields: string) =>
  `{"customerId":"c","items":[{"sku":"SKU-MUG","quantity":1}],"shippingAddress":{"name":"n","line1":"l","city":"c","postalCode":"p","country":"US"}${fields}}`;
interface HostileBody {
  name: string;
  body: string | null;
  status: number;
  headers?: Record<string, string>;
  base64?: boolean;
}
const row = (
  name: string,
  body: string | null,
  status: number,
  headers?: Record<string, string>,
  base64?: boolean,
): HostileBody => ({ name, body, status, headers, base64 });
const hostileBodies: HostileBody[] = [
  row('an array nested 30 000 deep', nest(30_000), 400),
  row('an object nested 10 000 deep', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, 400),
  row('a deep value inside a valid order', raw(`,"note":${nest(50)}`), 400),
  row('an escaped lone surrogate in a string', raw(',"customerId":"\\ud800"'), 400),
  row('a raw lone surrogate in the body text', raw(',"customerId":"\ud800x"'), 400),
  row('a lone surrogate in a key', raw(',"\\udc00":1'), 400),
  row('a __proto__ key at the top', raw(',"__proto__":{"isAdmin":true}'), 400),
  row('a constructor key in a line', raw('').replace('"quantity":1', '"quantity":1,"constructor":{}'), 400),
  row(
    'a prototype key in the address',
    raw('').replace('"country":"US"', '"country":"US","prototype":1'),
    400,
  ),
  row('a quantity of 1e400 (Infinity)', raw('').replace('"quantity":1', '"quantity":1e400'), 400),
  row('a negative quantity', raw('').replace('"quantity":1', '"quantity":-1'), 400),
  row('a quantity of 1e21', raw('').replace('"quantity":1', '"quantity":1e21'), 400),
  row('a fractional quantity', raw('').replace('"quantity":1', '"quantity":1.5'), 400),
  row('a quantity of "NaN"', raw('').replace('"quantity":1', '"quantity":"NaN"'), 400),
  row('a negative unit price', raw('').replace('"quantity":1', '"quantity":1,"unitPrice":-12.5'), 400),
  row('a total of 1e308', raw(',"total":1e308'), 400),
  row('a total of -0.01', raw(',"total":-0.01'), 400),
  row('two spellings of one key', raw(',"customer_id":"other"'), 400),
  row('an orderId in the system namespace', raw(',"orderId":"ord-3f2c"'), 400),
  row('an orderId in the system namespace, upper case', raw(',"order_id":"ORD-3f2c"'), 400),
  row('an orderId with a lone surrogate', raw(',"orderId":"a\\ud800"'), 400),
  row('a JSON string instead of an object', '"order"', 400),
  row('null', 'null', 400),
  row('an empty body', null, 400),
  row('JSON with a trailing comma', raw(',').replace(',}', ',,}'), 400),
  row('a latin-1 charset', raw(''), 415, { 'Content-Type': 'application/json; charset=iso-8859-1' }),
  row('no content type', raw(''), 415, { 'Content-Type': '' }),
  row(
    'non-UTF-8 bytes (base64)',
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64'),
    400,
    {},
    true,
  ),
  row('overlong UTF-8 (base64)', Buffer.from([0x22, 0xc0, 0xaf, 0x22]).toString('base64'), 400, {}, true),
  row(
    'a UTF-8 encoded surrogate (base64)',
    Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]).toString('base64'),
    400,
    {},
    true,
  ),
  row('65 KiB of whitespace', `${' '.repeat(65 * 1024)}{}`, 413),
];

describe('POST /orders: hostile bodies get a 4xx with a reason, never a 5xx, and nothing is written', () => {
  it.each(hostileBodies)('$name → $status', async ({ body, status, headers = {}, base64 = false }) => {
    const { call, untouched } = setup();
    const event = request('POST', '/orders', body ?? undefined, headers, { isBase64Encoded: base64 });
    const response = await call(event);
    expect(response.statusCode).toBe(status);
    expect(response.json.message).toEqual(expect.any(String));
    untouched();
  });

  it('says why the deep, unencodable and prototype-like bodies are refused', async () => {
    const { call } = setup();
    const reasons = async (body: string) =>
      JSON.stringify((await call(request('POST', '/orders', body))).json.errors);
    expect(await reasons(nest(30_000))).toContain('nested deeper than 8 levels');
    expect(await reasons(raw(',"customerId":"\\ud800"'))).toContain('"path":"customerId"');
    expect(await reasons(raw(',"__proto__":{}'))).toContain(
      '"path":"__proto__","message":"is a reserved name"',
    );
    expect(await reasons(raw(',"orderId":"ord-1"'))).toContain("the system's own order ids");
  });

  it('answers 400, not 503, when DynamoDB refuses the write as invalid, and logs it as a bug', async () => {
    const orders = new MemoryOrders();
    const create = vi.spyOn(orders, 'create').mockRejectedValueOnce(
      Object.assign(new Error('One or more parameter values were invalid'), {
        name: 'ValidationException',
      }),
    );
    const { call, producer, persistenceStore, logger } = setup({ orders });
    const bug = vi.spyOn(logger, 'error');
    const response = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-v' }));
    expect(response.statusCode).toBe(400);
    expect(response.json.message).toBe('The order contains a value that cannot be stored');
    expect(bug).toHaveBeenCalledWith(expect.stringContaining('BUG'), expect.anything());
    expect(producer.sent).toHaveLength(0);
    // The refusal is not remembered as the key's answer: the same key may be used again.
    expect(persistenceStore.records.size).toBe(0);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('answers 503 for a real outage of the orders table (throttling), and the retry succeeds', async () => {
    const orders = new MemoryOrders();
    vi.spyOn(orders, 'create').mockRejectedValueOnce(
      Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' }),
    );
    const { call } = setup({ orders });
    const failed = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-t' }));
    expect(failed.statusCode).toBe(503);
    const retry = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-t' }));
    expect(retry.statusCode).toBe(202);
  });
});

describe('headers, query strings and paths', () => {
  // As JSON text: `{ __proto__: x }` in a literal would set a prototype, where API Gateway's JSON has a key.
  const hostile: [string, string][] = [
    ['a __proto__ header', '{"headers":{"Content-Type":"application/json","__proto__":"x"}}'],
    ['a Constructor header', '{"headers":{"Content-Type":"application/json","Constructor":"x"}}'],
    ['a prototype multi-value header', '{"multiValueHeaders":{"prototype":["x"]}}'],
    [
      'a header value with a lone surrogate',
      '{"headers":{"Content-Type":"application/json","X-A":"\\ud800"}}',
    ],
    [
      'a header name with a lone surrogate',
      '{"headers":{"Content-Type":"application/json","X-\\udfff":"a"}}',
    ],
    ['a __proto__ query parameter', '{"queryStringParameters":{"__proto__":"1"}}'],
    ['a constructor query parameter', '{"multiValueQueryStringParameters":{"constructor":["1","2"]}}'],
    ['a query value with a lone surrogate', '{"queryStringParameters":{"q":"a\\udc00"}}'],
  ];

  it.each(hostile)('refuses %s with 400 on every route, writing nothing', async (_, extra) => {
    const { call, untouched } = setup();
    const fixed = JSON.parse(extra) as Partial<APIGatewayProxyEvent>;
    for (const [method, path, body] of [
      ['POST', '/orders', readmeBody],
      ['GET', '/orders/abc'],
      ['GET', '/health'],
    ] as const) {
      const response = await call({ ...request(method, path, body), ...fixed });
      expect(response.statusCode, `${method} ${path}`).toBe(400);
      expect(response.json.message).toBe('The request is invalid');
    }
    untouched();
  });

  it('refuses a path with a lone surrogate, and an order id that is not one', async () => {
    const { call } = setup();
    expect((await call(request('GET', '/orders/a\ud800'))).statusCode).toBe(400);
    expect((await call(request('GET', '/orders/%ED%A0%80'))).statusCode).toBe(400);
    expect((await call(request('GET', '/orders/%E0%A4%A'))).statusCode).toBe(400);
    expect((await call(request('GET', '/orders/__proto__'))).statusCode).toBe(404);
  });
});

describe('order id namespaces', () => {
  it("refuses a client order id equal to the id someone else's Idempotency-Key derives to", async () => {
    const { call, orders } = setup();
    const victimsId = orderIdFor(
      {} as never,
      scopedIdempotencyKey('arn:aws:iam::1:user/victim', 'k-1'),
      () => '',
    );
    const squat = await call(request('POST', '/orders', { ...readmeBody, orderId: victimsId }));
    expect(squat.statusCode).toBe(400);
    expect(squat.json.errors).toContainEqual({ path: 'orderId', message: expect.stringContaining('ord-') });
    const victim = await call(
      request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-1' }, as('arn:aws:iam::1:user/victim')),
    );
    expect(victim.statusCode).toBe(202);
    expect(victim.json.orderId).toBe(victimsId);
    expect([...orders.items.keys()]).toEqual([victimsId]);
  });

  it("scopes Idempotency-Keys by caller: two callers' equal keys are two orders, never a 409", async () => {
    const { call, producer } = setup();
    const alice = await call(
      request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }, as('arn:alice')),
    );
    const bob = await call(
      request(
        'POST',
        '/orders',
        { ...readmeBody, customerId: 'bob' },
        { 'Idempotency-Key': 'k' },
        as('arn:bob'),
      ),
    );
    const aliceAgain = await call(
      request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }, as('arn:alice')),
    );
    const anonymous = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }));
    expect([alice.statusCode, bob.statusCode, aliceAgain.statusCode, anonymous.statusCode]).toEqual([
      202, 202, 202, 202,
    ]);
    expect(bob.json.orderId).not.toBe(alice.json.orderId);
    expect(aliceAgain.json.orderId).toBe(alice.json.orderId);
    expect(anonymous.json.orderId).not.toBe(alice.json.orderId);
    expect(producer.on('OrderReceived')).toHaveLength(3);
  });
});

describe('GET /orders/{id}, /health and unknown routes', () => {
  it('shows an order with its history, and 404 for an unknown one', async () => {
    const { call } = setup();
    await call(request('POST', '/orders', { ...order, order_id: 'mine-1' }));
    const found = await call(request('GET', '/orders/mine-1'));
    expect(found.statusCode).toBe(200);
    expect(found.json).toMatchObject({
      orderId: 'mine-1',
      status: 'RECEIVED',
      customerId: 'John',
      total: 25,
      items: [{ sku: 'SKU-MUG', quantity: 2 }],
      history: [{ status: 'RECEIVED', at: '2026-11-24T10:00:00.000Z' }],
    });
    expect(found.json).not.toHaveProperty('shippingAddress');
    expect((await call(request('GET', '/orders/ord-404'))).statusCode).toBe(404);
    expect((await call(request('GET', '/orders/not%20valid'))).statusCode).toBe(400);
  });

  it('adds a NOTIFIED entry per delivered notification, in time order, never twice', async () => {
    const { call, orders, notifications } = setup();
    await call(request('POST', '/orders', { ...order, order_id: 'mine-2' }));
    const stored = orders.items.get('mine-2')!;
    stored.status = 'PACKED';
    stored.history.push(
      { status: 'CONFIRMED', at: '2026-11-24T10:00:02.000Z' },
      // Written before NOTIFIED entries moved to the notifications table: not shown twice.
      { status: 'NOTIFIED', at: '2026-11-24T10:00:03.000Z', detail: 'notified:order-confirmed' },
      { status: 'PACKED', at: '2026-11-24T10:00:04.000Z' },
    );
    notifications.byOrder.set('mine-2', [
      { kind: 'order-packed', deliveredAt: '2026-11-24T10:00:05.000Z' },
      { kind: 'order-confirmed', deliveredAt: '2026-11-24T10:00:03.000Z' },
    ]);
    const view = await call(request('GET', '/orders/mine-2'));
    expect(view.json.history).toEqual([
      { status: 'RECEIVED', at: '2026-11-24T10:00:00.000Z' },
      { status: 'CONFIRMED', at: '2026-11-24T10:00:02.000Z' },
      { status: 'NOTIFIED', at: '2026-11-24T10:00:03.000Z', detail: 'notified:order-confirmed' },
      { status: 'PACKED', at: '2026-11-24T10:00:04.000Z' },
      { status: 'NOTIFIED', at: '2026-11-24T10:00:05.000Z', detail: 'notified:order-packed' },
    ]);
  });

  it('shows an order the outbox sweeper gave up on as ON_HOLD, not RECEIVED forever; cancelled or moved on, as it is', async () => {
    const { call, orders } = setup();
    orders.items.set('held-1', {
      ...storedOrder(sampleOrder({ orderId: 'held-1' })),
      outboxAbandonedAt: '2026-11-24T10:40:00.000Z',
    });
    const held = await call(request('GET', '/orders/held-1'));
    expect(held.json).toMatchObject({
      status: 'ON_HOLD',
      holdReason: expect.stringMatching(/operator.*cancelled/),
    });
    expect((await call(request('POST', '/orders/held-1/cancel'))).statusCode).toBe(202);
    const cancelled = await call(request('GET', '/orders/held-1'));
    expect(cancelled.json.status).toBe('CANCELLED');
    expect(cancelled.json).not.toHaveProperty('holdReason');
    // An operator's replay let inventory decide after all: the stored status is shown again.
    orders.items.set('held-2', {
      ...storedOrder(sampleOrder({ orderId: 'held-2' })),
      status: 'CONFIRMED',
      outboxAbandonedAt: '2026-11-24T10:40:00.000Z',
    });
    expect((await call(request('GET', '/orders/held-2'))).json.status).toBe('CONFIRMED');
  });

  it('answers health, and 404 for a route API Gateway would never send it', async () => {
    const { call } = setup();
    expect((await call(request('GET', '/health'))).statusCode).toBe(200);
    // API Gateway answers unknown routes and methods itself (403); the function still refuses them.
    expect((await call(request('GET', '/nope'))).statusCode).toBe(404);
    expect((await call(request('PUT', '/orders'))).statusCode).toBe(404);
  });
});

describe('POST /orders/{id}/cancel', () => {
  const stored = (orderId: string, status: StoredOrder['status']): StoredOrder => ({
    ...storedOrder(sampleOrder({ orderId })),
    status,
  });
  const cancel = (orderId: string, body?: unknown, headers: Record<string, string> = {}) =>
    request('POST', `/orders/${orderId}/cancel`, body, headers);

  it.each(['RECEIVED', 'CONFIRMED', 'PACKED'] as const)(
    'cancels an order that is %s: 202 with its status URL, CANCELLED with the reason, one OrderCancelled',
    async (status) => {
      const { call, orders, producer } = setup();
      orders.items.set('c-1', stored('c-1', status));
      const response = await call(cancel('c-1', { reason: 'Ordered by mistake' }));
      expect(response.statusCode).toBe(202);
      expect(response.json).toEqual({ orderId: 'c-1', status: 'CANCELLED', statusUrl: '/orders/c-1' });
      expect(response.headers?.location).toBe('/orders/c-1');
      expect(await orders.get('c-1')).toMatchObject({
        status: 'CANCELLED',
        cancelledFrom: status,
        cancellationReason: 'Ordered by mistake',
      });
      const [event, ...more] = producer.on('OrderCancelled');
      expect(more).toEqual([]);
      expect(event).toMatchObject({
        eventId: orderEventId('c-1', 'OrderCancelled'),
        data: { orderId: 'c-1', reason: 'Ordered by mistake' },
      });
    },
  );

  it('answers a repeated cancel the same, with no second effect: the same event again, one history entry', async () => {
    const { call, orders, producer } = setup();
    orders.items.set('c-2', stored('c-2', 'CONFIRMED'));
    const first = await call(cancel('c-2'));
    const second = await call(cancel('c-2', { reason: 'again' }));
    expect(second.statusCode).toBe(202);
    expect(second.json).toEqual(first.json);
    const after = await orders.get('c-2');
    expect(after?.history.filter((h) => h.status === 'CANCELLED')).toHaveLength(1);
    expect(after?.cancelledFrom).toBe('CONFIRMED');
    const ids = producer.on('OrderCancelled').map((e) => e.eventId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1);
  });

  it.each(['SHIPPED', 'REJECTED'] as const)(
    'refuses to cancel an order that is %s: 409 with its status',
    async (status) => {
      const { call, orders, producer } = setup();
      orders.items.set('c-3', stored('c-3', status));
      const response = await call(cancel('c-3'));
      expect(response.statusCode).toBe(409);
      expect(response.json).toMatchObject({ status });
      expect((await orders.get('c-3'))?.status).toBe(status);
      expect(producer.sent).toEqual([]);
    },
  );

  it('answers 404 for an unknown order and 400 for an invalid id, writing nothing', async () => {
    const { call, untouched } = setup();
    expect((await call(cancel('nobody'))).statusCode).toBe(404);
    expect((await call(cancel('bad%20id'))).statusCode).toBe(400);
    untouched();
  });

  it.each([
    ['a body that is not JSON', '{"reason":', {}, 400],
    ['a JSON null (only an empty body means no reason)', 'null', {}, 400],
    ['an unknown field', { reason: 'x', refund: 1000 }, {}, 400],
    ['an empty reason', { reason: '   ' }, {}, 400],
    ['a reason too long', { reason: 'x'.repeat(501) }, {}, 400],
    ['a lone surrogate', '{"reason":"\\ud800"}', {}, 400],
    ['a prototype-like key', '{"__proto__":{"reason":"x"}}', {}, 400],
    ['another content type', 'reason=x', { 'Content-Type': 'text/plain' }, 415],
    ['a body over 4 KiB', { reason: 'x', pad: 'y'.repeat(5_000) }, {}, 413],
  ] as const)('refuses %s with a 4xx, changing nothing', async (_, body, headers, status) => {
    const { call, orders, producer } = setup();
    orders.items.set('c-4', stored('c-4', 'RECEIVED'));
    const response = await call(cancel('c-4', body, headers));
    expect(response.statusCode).toBe(status);
    expect(response.json.message).toEqual(expect.any(String));
    expect((await orders.get('c-4'))?.status).toBe('RECEIVED');
    expect(producer.sent).toEqual([]);
  });

  it('honours an Idempotency-Key: the same answer replayed, another reason under the same key refused', async () => {
    const { call, orders } = setup();
    orders.items.set('c-5', stored('c-5', 'RECEIVED'));
    const key = { 'Idempotency-Key': 'cancel-c-5' };
    const first = await call(cancel('c-5', { reason: 'a' }, key));
    const again = await call(cancel('c-5', { reason: 'a' }, key));
    expect(again.statusCode).toBe(202);
    expect(again.headers?.['idempotent-replayed']).toBe('true');
    expect(again.json).toEqual(first.json);
    expect((await call(cancel('c-5', { reason: 'b' }, key))).statusCode).toBe(409);
  });
});

describe('Idempotency-Keys name one request: caller, route, target and body', () => {
  const stored = (orderId: string): StoredOrder => storedOrder(sampleOrder({ orderId }));
  const cancel = (orderId: string, key: string, extra: Partial<APIGatewayProxyEvent> = {}) =>
    request('POST', `/orders/${orderId}/cancel`, { reason: 'r' }, { 'Idempotency-Key': key }, extra);
  const reused = { message: expect.stringMatching(/Idempotency-Key was already used for another request/) };

  it("refuses a cancel key reused on another order (409): the first order's answer is never replayed, the second not cancelled", async () => {
    const { call, orders, producer } = setup();
    orders.items.set('a-1', stored('a-1'));
    orders.items.set('b-1', stored('b-1'));
    expect((await call(cancel('a-1', 'K'))).statusCode).toBe(202);
    const other = await call(cancel('b-1', 'K'));
    expect(other.statusCode).toBe(409);
    expect(other.json).toEqual(reused);
    expect(other.headers?.['idempotent-replayed']).toBeUndefined();
    expect((await orders.get('b-1'))?.status).toBe('RECEIVED');
    expect(producer.on('OrderCancelled').map((e) => e.data.orderId)).toEqual(['a-1']);
    // The key still answers for its own request; a new key cancels the other order.
    expect((await call(cancel('a-1', 'K'))).headers?.['idempotent-replayed']).toBe('true');
    expect((await call(cancel('b-1', 'K2'))).statusCode).toBe(202);
  });

  it('refuses a key reused across routes, either way round, changing nothing', async () => {
    const { call, orders, producer } = setup();
    orders.items.set('a-2', stored('a-2'));
    expect((await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'P' }))).statusCode).toBe(
      202,
    );
    expect((await call(cancel('a-2', 'P'))).json).toEqual(reused);
    expect((await orders.get('a-2'))?.status).toBe('RECEIVED');
    expect((await call(cancel('a-2', 'C'))).statusCode).toBe(202);
    const post = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'C' }));
    expect([post.statusCode, post.json]).toEqual([409, reused]);
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it("keeps callers apart: another caller's equal key on another order is its own request", async () => {
    const { call, orders } = setup();
    orders.items.set('a-3', stored('a-3'));
    orders.items.set('b-3', stored('b-3'));
    expect((await call(cancel('a-3', 'K', as('arn:alice')))).statusCode).toBe(202);
    const bob = await call(cancel('b-3', 'K', as('arn:bob')));
    expect(bob.statusCode).toBe(202);
    expect(bob.json.orderId).toBe('b-3');
    expect((await orders.get('b-3'))?.status).toBe('CANCELLED');
  });
});

describe('AWS errors: retried where the SDK does not, else 503 with Retry-After, never a second effect', () => {
  const body = (response: { json: unknown }) => response.json as Record<string, unknown>;

  it("answers a conflict past the repository's retries 503 conflict with Retry-After, keeping nothing; the retry is accepted", async () => {
    const orders = new MemoryOrders();
    vi.spyOn(orders, 'create').mockRejectedValueOnce(awsError('TransactionConflictException'));
    const { call, producer, persistenceStore } = setup({ orders });
    const failed = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-g' }));
    expect(failed.statusCode).toBe(503);
    expect(failed.headers?.['retry-after']).toBe('1');
    expect(body(failed)).toMatchObject({ reason: 'conflict', retryAfterSeconds: 1 });
    // Powertools deleted its in-progress record: the key is free for the retry.
    expect([orders.items.size, persistenceStore.records.size, producer.sent.length]).toEqual([0, 0, 0]);
    const retry = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-g' }));
    expect(retry.statusCode).toBe(202);
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it('answers throttling past the SDK retries 503 throttled, Retry-After 2', async () => {
    const catalog = new MemoryCatalog();
    catalog.failures = 1;
    const { call, untouched } = setup({ catalog });
    const failed = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-p' }));
    expect([failed.statusCode, failed.headers?.['retry-after'], body(failed).reason]).toEqual([
      503,
      '2',
      'throttled',
    ]);
    untouched();
  });

  it('counts an order written by a first attempt whose answer was lost (500 after) as this request, once', async () => {
    const orders = new MemoryOrders();
    const create = orders.create.bind(orders);
    // What the SDK's retry of a PutItem that took effect meets: its own order, refused by the condition.
    vi.spyOn(orders, 'create').mockImplementationOnce(async (order) => {
      await create(order);
      return create(order);
    });
    const { call, producer } = setup({ orders });
    const response = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-a' }));
    expect(response.statusCode).toBe(202);
    expect(response.headers?.['idempotent-replayed']).toBeUndefined();
    expect(producer.on('OrderReceived')).toHaveLength(1);
    expect(producer.on('KPIs').flatMap((k) => k.data.metrics.map((m) => m.name))).toEqual([
      'OrdersReceived',
      'StepLatency',
    ]);
    // A client's retry (another request id) replays it and counts nothing.
    const replay = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-a' }));
    expect([replay.statusCode, replay.json]).toEqual([202, response.json]);
    expect(producer.on('KPIs').flatMap((k) => k.data.metrics.map((m) => m.name))).toHaveLength(2);
  });

  it('answers a key whose first request is in progress (or lost its answer) 409 in-progress with Retry-After, and runs nothing', async () => {
    const { call, persistenceStore, producer, orders } = setup();
    const saveSuccess = vi.spyOn(persistenceStore, 'saveSuccess');
    // The answer is lost after the order was accepted: the record stays INPROGRESS.
    saveSuccess.mockRejectedValueOnce(awsError('InternalServerError', 500));
    const lost = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-i' }));
    expect([lost.statusCode, body(lost).reason]).toEqual([503, 'unavailable']);
    expect(orders.items.size).toBe(1);
    const retry = await call(request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k-i' }));
    expect(retry.statusCode).toBe(409);
    expect(retry.headers?.['retry-after']).toBe('1');
    expect(body(retry)).toMatchObject({ reason: 'in-progress', retryAfterSeconds: 1 });
    expect(producer.on('OrderReceived')).toHaveLength(1);
    expect(orders.items.size).toBe(1);
  });

  it('answers a cancellation that still conflicts 503 conflict, then cancels on the retry, once', async () => {
    const orders = new MemoryOrders();
    orders.items.set('x-1', { ...storedOrder(sampleOrder({ orderId: 'x-1' })), status: 'CONFIRMED' });
    vi.spyOn(orders, 'cancel').mockRejectedValueOnce(awsError('TransactionConflictException'));
    const { call, producer, metrics } = setup({ orders });
    const cancel = () => request('POST', '/orders/x-1/cancel');
    const failed = await call(cancel());
    expect([failed.statusCode, failed.headers?.['retry-after'], body(failed).reason]).toEqual([
      503,
      '1',
      'conflict',
    ]);
    expect((await orders.get('x-1'))?.status).toBe('CONFIRMED');
    expect((await call(cancel())).statusCode).toBe(202);
    expect(producer.on('OrderCancelled')).toHaveLength(1);
    expect(storedMetrics(metrics)).toEqual({});
  });

  it('counts a cancellation whose first attempt took effect (answer lost) as this request, once', async () => {
    const orders = new MemoryOrders();
    orders.items.set('x-2', { ...storedOrder(sampleOrder({ orderId: 'x-2' })), status: 'CONFIRMED' });
    const cancelOnce = orders.cancel.bind(orders);
    vi.spyOn(orders, 'cancel').mockImplementationOnce(async (c) => {
      await cancelOnce(c);
      return cancelOnce(c);
    });
    const { call, producer } = setup({ orders });
    expect((await call(request('POST', '/orders/x-2/cancel'))).statusCode).toBe(202);
    expect(producer.on('KPIs').flatMap((k) => k.data.metrics.map((m) => m.name))).toEqual([
      'OrdersCancelled',
    ]);
    expect((await orders.get('x-2'))?.history.filter((h) => h.status === 'CANCELLED')).toHaveLength(1);
  });

  it.each(transientFailures)(
    'answers %s from any dependency of any route 503 with Retry-After and its reason',
    async (_, error, reason) => {
      type Setup = ReturnType<typeof setup>;
      const cases: [string, (s: Setup) => void, APIGatewayProxyEvent][] = [
        [
          'orders.create',
          (s) => vi.spyOn(s.orders, 'create').mockRejectedValueOnce(error),
          request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }),
        ],
        [
          'catalog',
          (s) => vi.spyOn(s.catalog, 'prices').mockRejectedValueOnce(error),
          request('POST', '/orders', readmeBody),
        ],
        [
          'idempotency store',
          (s) => vi.spyOn(s.persistenceStore, 'saveInProgress').mockRejectedValueOnce(error),
          request('POST', '/orders', readmeBody, { 'Idempotency-Key': 'k' }),
        ],
        [
          'orders.cancel',
          (s) => vi.spyOn(s.orders, 'cancel').mockRejectedValueOnce(error),
          request('POST', '/orders/x-9/cancel'),
        ],
        [
          'orders.get',
          (s) => vi.spyOn(s.orders, 'get').mockRejectedValueOnce(error),
          request('GET', '/orders/x-9'),
        ],
        [
          'notifications',
          (s) => vi.spyOn(s.notifications, 'delivered').mockRejectedValueOnce(error),
          request('GET', '/orders/x-9'),
        ],
      ];
      for (const [where, fail, event] of cases) {
        const s = setup();
        s.orders.items.set('x-9', storedOrder(sampleOrder({ orderId: 'x-9' })));
        fail(s);
        const answer = await s.call(event);
        expect([answer.statusCode, answer.headers?.['retry-after'], body(answer).reason], where).toEqual([
          503,
          reason === 'throttled' ? '2' : '1',
          reason,
        ]);
      }
    },
  );

  it('answers a read that failed past the retries 503 unavailable, never 500', async () => {
    const orders = new MemoryOrders();
    vi.spyOn(orders, 'get').mockRejectedValueOnce(
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} }),
    );
    const { call } = setup({ orders });
    const failed = await call(request('GET', '/orders/x-3'));
    expect([failed.statusCode, failed.headers?.['retry-after'], body(failed).reason]).toEqual([
      503,
      '1',
      'unavailable',
    ]);
  });
});
