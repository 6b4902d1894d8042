import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { EncodedRecord } from '../../events/codec.ts';
import { catalogLookupOf } from './catalog.ts';
import {
  inspectBody,
  isJsonContentType,
  MAX_BODY_BYTES,
  normalizeHeaders,
  screenRequest,
} from './http-edge.ts';
import {
  canonicalJson,
  eventSizeIssues,
  historyWithNotifications,
  MAX_ORDER_EVENT_BYTES,
  orderIdFor,
  priceOrder,
} from './logic.ts';
import { callerOf, parseOrderRequest, scopedIdempotencyKey } from './requests.ts';

const address = { name: 'Ada', line1: '1 Main St', city: 'Seattle', postal_code: '98101', country: 'US' };
const validBody = {
  order_id: 'mine-123',
  customer_id: 'John',
  items: [{ sku: 'SKU-MUG', name: 'Coffee mug', quantity: 2, unit_price: 12.5 }],
  total: 25,
  shipping_address: address,
};
const json = { 'content-type': 'application/json' };
const post = (body: unknown, headers: Record<string, string> = json, isBase64Encoded = false) =>
  parseOrderRequest(
    { body: typeof body === 'string' ? body : JSON.stringify(body), isBase64Encoded },
    headers,
  );
const bodyOf = (result: ReturnType<typeof post>) => (result.ok ? undefined : JSON.parse(result.error.body));

describe('POST /orders request parsing', () => {
  it("accepts the seed's snake_case body, keyed by its order id", () => {
    const result = post(validBody);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request).toMatchObject({
      orderId: 'mine-123',
      customerId: 'John',
      currency: 'USD',
      total: 25,
    });
    expect(result.idempotencyKey).toBe('order:mine-123');
  });

  it("prefers the Idempotency-Key header, scoped by the caller's identity", () => {
    const anonymous = post(validBody, { ...json, 'idempotency-key': 'k-1' });
    expect(anonymous.ok && anonymous.idempotencyKey).toBe('key:["anonymous","k-1"]');
    const signed = parseOrderRequest(
      { body: JSON.stringify(validBody), isBase64Encoded: false },
      { ...json, 'idempotency-key': 'k-1' },
      'arn:aws:iam::1:user/a',
    );
    expect(signed.ok && signed.idempotencyKey).toBe(scopedIdempotencyKey('arn:aws:iam::1:user/a', 'k-1'));
  });

  it('keeps scoped keys apart even when identities and keys share separators', () => {
    expect(scopedIdempotencyKey('a:b', 'c')).not.toBe(scopedIdempotencyKey('a', 'b:c'));
  });

  it('accepts lines without name or unit price, and no total', () => {
    const result = post({ ...validBody, total: undefined, items: [{ sku: 'SKU-MUG', quantity: 2 }] });
    expect(result.ok && result.request.items).toEqual([{ sku: 'SKU-MUG', quantity: 2 }]);
  });

  it.each(['ord-1', 'ORD-1', 'Ord-x'])('refuses the client order id %s: the system namespace', (orderId) => {
    const result = post({ ...validBody, order_id: orderId });
    expect(bodyOf(result).errors).toContainEqual({
      path: 'orderId',
      message: 'must not start with "ord-": the system\'s own order ids use that prefix',
    });
  });

  it('refuses a charset other than UTF-8 (415), and accepts UTF-8 spelled either way', () => {
    const latin1 = post(validBody, { 'content-type': 'application/json; charset=ISO-8859-1' });
    expect(!latin1.ok && latin1.error.statusCode).toBe(415);
    expect(post(validBody, { 'content-type': 'application/json; charset="utf-8"' }).ok).toBe(true);
    expect(post(validBody, { 'content-type': 'application/json;charset=UTF8' }).ok).toBe(true);
  });

  it('refuses bytes that are not UTF-8 and text with lone surrogates, before parsing', () => {
    const bytes = post(Buffer.from([0x7b, 0xff, 0x7d]).toString('base64'), json, true);
    expect(bodyOf(bytes).message).toBe('The request body is not valid UTF-8');
    const text = post('{"customer_id":"\ud800"}');
    expect(bodyOf(text).message).toBe('The request body is not well-formed Unicode');
  });

  it("rejects the seed's example with empty items, with one reason per field", () => {
    const result = post({ order_id: '123', customer_id: 'John', items: [], total: 100 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.statusCode).toBe(400);
    const body = bodyOf(result);
    expect(body.message).toBe('The order is invalid');
    expect(body.errors).toContainEqual({ path: 'items', message: 'must contain at least one item' });
    expect(body.errors.some((e: { path: string }) => e.path === 'shippingAddress')).toBe(true);
  });

  it('gives the exact path of a bad line', () => {
    const result = post({ ...validBody, items: [{ ...validBody.items[0], quantity: 0 }] });
    expect(bodyOf(result).errors).toContainEqual({ path: 'items[0].quantity', message: expect.any(String) });
  });

  it('answers 415 to anything but JSON', () => {
    const refused: Record<string, string>[] = [
      { 'content-type': 'text/plain' },
      {},
      { 'content-type': 'application/x-www-form-urlencoded' },
    ];
    for (const headers of refused) {
      const result = post(validBody, headers);
      expect(!result.ok && result.error.statusCode).toBe(415);
    }
  });

  it('accepts JSON media types with parameters or a +json suffix', () => {
    expect(isJsonContentType('application/json; charset=utf-8')).toBe(true);
    expect(isJsonContentType('Application/JSON')).toBe(true);
    expect(isJsonContentType('application/vnd.orders+json')).toBe(true);
    expect(isJsonContentType('text/json')).toBe(false);
  });

  it('answers 413 to a body over the limit, counting bytes, also when base64-encoded', () => {
    const big = JSON.stringify({ ...validBody, padding: 'x'.repeat(MAX_BODY_BYTES) });
    const plain = post(big);
    expect(!plain.ok && plain.error.statusCode).toBe(413);
    const encoded = Buffer.from(big).toString('base64');
    const result = post(encoded, json, true);
    expect(!result.ok && result.error.statusCode).toBe(413);
  });

  it('decodes a base64 body', () => {
    expect(post(Buffer.from(JSON.stringify(validBody)).toString('base64'), json, true).ok).toBe(true);
  });

  it('answers 400 to malformed JSON and to an empty body', () => {
    const malformed = post('{"customer_id": ');
    expect(!malformed.ok && malformed.error.statusCode).toBe(400);
    expect(bodyOf(malformed).message).toBe('The request body is not valid JSON');
    const empty = parseOrderRequest({ body: null, isBase64Encoded: false }, json);
    expect(!empty.ok && empty.error.statusCode).toBe(400);
  });

  it('refuses an unusable Idempotency-Key', () => {
    const result = post(validBody, { ...json, 'idempotency-key': 'has spaces' });
    expect(bodyOf(result).errors).toContainEqual({
      path: 'headers.Idempotency-Key',
      message: expect.any(String),
    });
  });
});

describe('body inspection (bounded, before the schema)', () => {
  it.each([
    ['deep arrays', JSON.parse(`${'['.repeat(9)}${']'.repeat(9)}`), '[0][0][0][0][0][0][0][0]', 'nested'],
    [
      'a deep object',
      { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } },
      'a.b.c.d.e.f.g.h',
      'nested',
    ],
    [
      'an infinite number',
      { items: [{ quantity: Number.POSITIVE_INFINITY }] },
      'items[0].quantity',
      'finite',
    ],
    ['NaN', { total: Number.NaN }, 'total', 'finite'],
    ['a lone high surrogate', { customerId: 'a\ud800' }, 'customerId', 'Unicode'],
    ['a lone low surrogate in an array', { items: ['\udc00'] }, 'items[0]', 'Unicode'],
    ['a lone surrogate in a key', JSON.parse('{"items":{"\\ud800":1}}'), 'items', 'key'],
    ['__proto__', JSON.parse('{"a":{"__proto__":{"polluted":true}}}'), 'a.__proto__', 'reserved'],
    ['constructor', { items: [{ constructor: { prototype: {} } }] }, 'items[0].constructor', 'reserved'],
    ['prototype', { prototype: 1 }, 'prototype', 'reserved'],
    ['two spellings of a key', { customer_id: 'a', customerId: 'b' }, 'customerId', 'twice'],
  ])('reports %s with its path', (_, body, path, reason) => {
    const issues = inspectBody(body);
    expect(issues).toContainEqual({ path, message: expect.stringContaining(reason) });
  });

  it('passes an ordinary order, and eight levels of nesting', () => {
    expect(inspectBody(validBody)).toEqual([]);
    expect(inspectBody(JSON.parse(`${'['.repeat(8)}${']'.repeat(8)}`))).toEqual([]);
    // Well-formed pairs are fine: an emoji is a surrogate pair.
    expect(inspectBody({ customerId: 'Ada 🚀' })).toEqual([]);
  });

  it('walks a body nested 30 000 deep without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(30_000)}${']'.repeat(30_000)}`);
    expect(inspectBody(deep)).toHaveLength(1);
  });
});

describe('request screening (headers, query strings, path)', () => {
  const event = (extra: string): Parameters<typeof screenRequest>[0] => ({
    path: '/orders',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    ...JSON.parse(extra),
  });

  it.each([
    ['{"headers":{"__proto__":"x"}}', 'headers.__proto__'],
    ['{"headers":{"CONSTRUCTOR":"x"}}', 'headers.CONSTRUCTOR'],
    ['{"multiValueHeaders":{"x-a":["ok","\\ud800"]}}', 'headers.x-a'],
    ['{"headers":{"x-\\ud800":"a"}}', 'headers'],
    ['{"queryStringParameters":{"prototype":"1"}}', 'query.prototype'],
    ['{"multiValueQueryStringParameters":{"__proto__":["1"]}}', 'query.__proto__'],
    ['{"queryStringParameters":{"q":"\\udfff"}}', 'query.q'],
    ['{"path":"/orders/\\ud800"}', 'path'],
  ])('refuses %s at %s', (extra, path) => {
    const refused = screenRequest(event(extra));
    expect(refused?.statusCode).toBe(400);
    expect(JSON.parse(refused?.body ?? '{}').errors).toContainEqual({ path, message: expect.any(String) });
  });

  it('lets ordinary requests through (a query key that merely contains a reserved word too)', () => {
    expect(
      screenRequest(
        event(
          '{"headers":{"Content-Type":"application/json"},"queryStringParameters":{"x_constructor":"1"}}',
        ),
      ),
    ).toBeUndefined();
  });

  it("names the caller by IAM principal, then caller, then Cognito identity, else 'anonymous'", () => {
    const ctx = (identity: object) =>
      ({ requestContext: { identity } }) as unknown as Pick<APIGatewayProxyEvent, 'requestContext'>;
    expect(callerOf(ctx({ userArn: 'arn:u', caller: 'c', cognitoIdentityId: 'g' }))).toBe('arn:u');
    expect(callerOf(ctx({ userArn: null, caller: 'c', cognitoIdentityId: 'g' }))).toBe('c');
    expect(callerOf(ctx({ userArn: '', caller: null, cognitoIdentityId: 'g' }))).toBe('g');
    expect(callerOf(ctx({}))).toBe('anonymous');
    expect(callerOf({} as Pick<APIGatewayProxyEvent, 'requestContext'>)).toBe('anonymous');
  });
});

describe('pricing from the catalog', () => {
  const catalog = new Map(
    [
      { sku: 'SKU-MUG', name: 'Coffee mug', unitPrice: 12.5 },
      { sku: 'SKU-TSHIRT-M', name: 'T-shirt (M)', unitPrice: 19.99 },
      { sku: 'SKU-POSTER', name: 'Poster', unitPrice: 0.1 },
      { sku: 'SKU-YACHT', name: 'Yacht', unitPrice: 1_000_000 },
      { sku: 'SKU-BROKEN', name: 'Broken', unitPrice: 12.345 },
    ].map((item) => [item.sku, catalogLookupOf(item.sku, item)] as const),
  );

  it('uses the catalog names and prices and sums in cents (no float drift)', () => {
    const priced = priceOrder({ items: [{ sku: 'SKU-POSTER', quantity: 3 }], total: 0.3 }, catalog);
    expect(priced).toEqual({
      ok: true,
      items: [{ sku: 'SKU-POSTER', name: 'Poster', quantity: 3, unitPrice: 0.1 }],
      total: 0.3,
    });
    const two = priceOrder(
      {
        items: [
          { sku: 'SKU-TSHIRT-M', quantity: 2, unitPrice: 19.99, name: 'whatever' },
          { sku: 'SKU-MUG', quantity: 1 },
        ],
      },
      catalog,
    );
    expect(two.ok && two.total).toBe(52.48);
  });

  it('refuses an unknown SKU and a price that is not the catalog one, each at its line', () => {
    const priced = priceOrder(
      {
        items: [
          { sku: 'SKU-MUG', quantity: 1, unitPrice: 0 },
          { sku: 'SKU-NOPE', quantity: 1 },
        ],
      },
      catalog,
    );
    expect(!priced.ok && priced.errors).toEqual([
      { path: 'items[0].unitPrice', message: 'is not the current catalog price 12.50; omit it or send that' },
      { path: 'items[1].sku', message: 'SKU-NOPE is not in the catalog' },
    ]);
    expect(priced).toMatchObject({ status: 400, priceMismatch: true });
  });

  it('refuses a SKU whose catalog entry is invalid with 422, also beside good SKUs; with a client error, 400', () => {
    const broken = priceOrder(
      {
        items: [
          { sku: 'SKU-MUG', quantity: 1 },
          { sku: 'SKU-BROKEN', quantity: 1 },
        ],
      },
      catalog,
    );
    expect(broken).toEqual({
      ok: false,
      status: 422,
      priceMismatch: false,
      errors: [
        {
          path: 'items[1].sku',
          message: 'SKU-BROKEN cannot be sold now: its catalog entry is invalid (the operator is alerted)',
        },
      ],
    });
    const both = priceOrder(
      {
        items: [
          { sku: 'SKU-BROKEN', quantity: 1 },
          { sku: 'SKU-NOPE', quantity: 1 },
        ],
      },
      catalog,
    );
    expect(!both.ok && [both.status, both.errors.map((e) => e.path)]).toEqual([
      400,
      ['items[0].sku', 'items[1].sku'],
    ]);
  });

  it('refuses a total that is not the computed one, and one over the Money maximum', () => {
    const wrong = priceOrder({ items: [{ sku: 'SKU-MUG', quantity: 2 }], total: 24.99 }, catalog);
    expect(!wrong.ok && wrong.errors).toEqual([
      { path: 'total', message: 'does not match the current catalog prices: expected 25.00' },
    ]);
    expect(wrong).toMatchObject({ priceMismatch: true });
    expect(priceOrder({ items: [{ sku: 'SKU-YACHT', quantity: 1 }] }, catalog).ok).toBe(true);
    const over = priceOrder(
      {
        items: [
          { sku: 'SKU-YACHT', quantity: 1 },
          { sku: 'SKU-POSTER', quantity: 1 },
        ],
      },
      catalog,
    );
    expect(!over.ok && over.errors).toEqual([
      { path: 'items', message: 'add up to 1000000.10, more than the 1000000.00 an order may total' },
    ]);
  });

  it('refuses an encoded event over the size limit', () => {
    const record = (bytes: number) => ({ value: Buffer.alloc(bytes) }) as EncodedRecord;
    expect(eventSizeIssues(record(MAX_ORDER_EVENT_BYTES))).toEqual([]);
    expect(eventSizeIssues(record(MAX_ORDER_EVENT_BYTES + 1))).toHaveLength(1);
  });
});

describe('history with notifications', () => {
  it('adds one NOTIFIED entry per notification, sorts by time, and skips those already in the order', () => {
    const history = historyWithNotifications(
      [
        { status: 'RECEIVED', at: '2026-01-01T00:00:00.000Z' },
        { status: 'NOTIFIED', at: '2026-01-01T00:00:02.000Z', detail: 'notified:order-confirmed' },
        { status: 'CONFIRMED', at: '2026-01-01T00:00:01.000Z' },
      ],
      [
        { kind: 'order-shipped', deliveredAt: '2026-01-01T00:00:09.000Z' },
        { kind: 'order-confirmed', deliveredAt: '2026-01-01T00:00:02.500Z' },
      ],
    );
    expect(history.map((e) => e.detail ?? e.status)).toEqual([
      'RECEIVED',
      'CONFIRMED',
      'notified:order-confirmed',
      'notified:order-shipped',
    ]);
  });
});

describe('order ids', () => {
  const request = { customerId: 'c', items: [], currency: 'USD', shippingAddress: {} } as never;

  it("keeps the client's id, derives one from the idempotency key, else makes a new one", () => {
    expect(orderIdFor({ ...(request as object), orderId: 'mine' } as never, 'key:k', () => 'new')).toBe(
      'mine',
    );
    const derived = orderIdFor(request, 'key:k', () => 'new');
    expect(derived).toMatch(/^ord-[0-9a-f-]{36}$/);
    expect(orderIdFor(request, 'key:k', () => 'new')).toBe(derived);
    expect(orderIdFor(request, 'key:other', () => 'new')).not.toBe(derived);
    expect(orderIdFor(request, undefined, () => 'new')).toBe('ord-new');
  });

  it('hashes requests by content, not key order', () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: 1 }] })).toBe(canonicalJson({ a: [{ x: 1, y: 2 }], b: 1 }));
    expect(canonicalJson({ a: 1, skip: undefined })).toBe('{"a":1}');
  });
});

describe('headers', () => {
  it('reads headers case-insensitively', () => {
    expect(
      normalizeHeaders({
        headers: { 'Content-Type': 'application/json' },
        multiValueHeaders: { 'Idempotency-Key': ['k'] },
      }),
    ).toEqual({ 'content-type': 'application/json', 'idempotency-key': 'k' });
  });
});
