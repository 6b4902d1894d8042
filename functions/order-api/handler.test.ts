import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  fakeContext,
  MemoryOrders,
  MemoryPersistenceLayer,
  RecordingProducer,
  silentLogger,
  storedMetrics,
  testMetrics,
} from '../shared/testing.ts';
import { createOrderApi } from './handler.ts';

const address = { name: 'Ada', line1: '1 Main St', city: 'Seattle', postal_code: '98101', country: 'US' };
const order = {
  customer_id: 'John',
  items: [{ sku: 'SKU-MUG', name: 'Coffee mug', quantity: 2, unit_price: 12.5 }],
  total: 25,
  shipping_address: address,
};

/** An API Gateway REST (v1) proxy event, as the local API emulator and API Gateway send it. */
function request(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: '/{proxy+}',
    headers: { 'Content-Type': 'application/json', ...headers },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: { requestId: `api-${Math.random()}` } as APIGatewayProxyEvent['requestContext'],
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
}

function setup() {
  const orders = new MemoryOrders();
  const producer = new RecordingProducer();
  const persistenceStore = new MemoryPersistenceLayer();
  const metrics = testMetrics();
  const api = createOrderApi(
    { orders, produce: producer.produce, persistenceStore, now: () => new Date('2026-11-24T10:00:00.000Z') },
    { logger: silentLogger(), metrics },
  );
  const call = async (event: APIGatewayProxyEvent) => {
    const response = await api(event, fakeContext('order-api'));
    return { ...response, json: JSON.parse(response.body) };
  };
  return { call, orders, producer, metrics };
}

describe('POST /orders', () => {
  it('accepts an order: 202 with its id and status URL, the order stored RECEIVED, one OrderReceived produced', async () => {
    const { call, orders, producer, metrics } = setup();
    const response = await call(request('POST', '/orders', { ...order, order_id: 'ord-1' }));
    expect(response.statusCode).toBe(202);
    expect(response.json).toEqual({ orderId: 'ord-1', status: 'RECEIVED', statusUrl: '/orders/ord-1' });
    expect(response.headers?.location).toBe('/orders/ord-1');
    expect((await orders.get('ord-1'))?.status).toBe('RECEIVED');
    const [received] = producer.on('OrderReceived');
    expect(received?.data.order).toMatchObject({
      orderId: 'ord-1',
      customerId: 'John',
      total: 25,
      currency: 'USD',
    });
    expect(producer.on('KPIs').map((k) => k.data.name)).toEqual(['OrdersReceived', 'StepLatency']);
    expect(storedMetrics(metrics).OrdersReceived).toEqual([1]);
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
    const { call, producer } = setup();
    const body = { ...order, order_id: 'ord-7' };
    const first = await call(request('POST', '/orders', body));
    // camelCase spelling of the same order: the same content.
    const camel = {
      orderId: 'ord-7',
      customerId: 'John',
      items: [{ sku: 'SKU-MUG', name: 'Coffee mug', quantity: 2, unitPrice: 12.5 }],
      total: 25,
      shippingAddress: { ...address, postal_code: undefined, postalCode: '98101' },
    };
    const same = await call(request('POST', '/orders', camel));
    expect(same.statusCode).toBe(202);
    expect(same.json).toEqual(first.json);
    const conflict = await call(
      request('POST', '/orders', { ...body, total: 26, items: [{ ...order.items[0], unit_price: 13 }] }),
    );
    expect(conflict.statusCode).toBe(409);
    expect(producer.on('OrderReceived')).toHaveLength(1);
  });

  it('answers 409 when another key names an existing order id with other content', async () => {
    const { call } = setup();
    await call(request('POST', '/orders', { ...order, order_id: 'ord-8' }, { 'Idempotency-Key': 'a' }));
    const clash = await call(
      request(
        'POST',
        '/orders',
        { ...order, order_id: 'ord-8', customer_id: 'Jane' },
        { 'Idempotency-Key': 'b' },
      ),
    );
    expect(clash.statusCode).toBe(409);
    expect(clash.json.message).toBe('Order ord-8 already exists with different content');
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
    const { call, orders } = setup();
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
    expect(orders.items.size).toBe(0);
  });
});

describe('GET /orders/{id}, /health and unknown routes', () => {
  it('shows an order with its history, and 404 for an unknown one', async () => {
    const { call } = setup();
    await call(request('POST', '/orders', { ...order, order_id: 'ord-1' }));
    const found = await call(request('GET', '/orders/ord-1'));
    expect(found.statusCode).toBe(200);
    expect(found.json).toMatchObject({
      orderId: 'ord-1',
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

  it('answers health, 404 and 405', async () => {
    const { call } = setup();
    expect((await call(request('GET', '/health'))).statusCode).toBe(200);
    expect((await call(request('GET', '/nope'))).statusCode).toBe(404);
    const wrong = await call(request('PUT', '/orders'));
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers?.allow).toBe('POST');
  });
});
