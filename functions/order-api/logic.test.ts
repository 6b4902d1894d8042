import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  isJsonContentType,
  MAX_BODY_BYTES,
  normalizeHeaders,
  orderIdFor,
  parseOrderRequest,
  route,
} from './logic.ts';

const address = { name: 'Ada', line1: '1 Main St', city: 'Seattle', postal_code: '98101', country: 'US' };
const validBody = {
  order_id: 'ord-123',
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
const bodyOf = (result: ReturnType<typeof post>) =>
  result.ok ? undefined : JSON.parse(result.response.body);

describe('POST /orders request parsing', () => {
  it("accepts the seed's snake_case body, keyed by its order id", () => {
    const result = post(validBody);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request).toMatchObject({
      orderId: 'ord-123',
      customerId: 'John',
      currency: 'USD',
      total: 25,
    });
    expect(result.idempotencyKey).toBe('order:ord-123');
  });

  it('prefers the Idempotency-Key header', () => {
    const result = post(validBody, { ...json, 'idempotency-key': 'k-1' });
    expect(result.ok && result.idempotencyKey).toBe('key:k-1');
  });

  it("rejects the seed's example with empty items, with one reason per field", () => {
    const result = post({ order_id: '123', customer_id: 'John', items: [], total: 100 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.response.statusCode).toBe(400);
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
      expect(!result.ok && result.response.statusCode).toBe(415);
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
    expect(!plain.ok && plain.response.statusCode).toBe(413);
    const encoded = Buffer.from(big).toString('base64');
    const result = post(encoded, json, true);
    expect(!result.ok && result.response.statusCode).toBe(413);
  });

  it('decodes a base64 body', () => {
    expect(post(Buffer.from(JSON.stringify(validBody)).toString('base64'), json, true).ok).toBe(true);
  });

  it('answers 400 to malformed JSON and to an empty body', () => {
    const malformed = post('{"customer_id": ');
    expect(!malformed.ok && malformed.response.statusCode).toBe(400);
    expect(bodyOf(malformed).message).toBe('The request body is not valid JSON');
    const empty = parseOrderRequest({ body: null, isBase64Encoded: false }, json);
    expect(!empty.ok && empty.response.statusCode).toBe(400);
  });

  it('refuses an unusable Idempotency-Key', () => {
    const result = post(validBody, { ...json, 'idempotency-key': 'has spaces' });
    expect(bodyOf(result).errors).toContainEqual({
      path: 'headers.Idempotency-Key',
      message: expect.any(String),
    });
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

describe('routing', () => {
  it('routes the three endpoints', () => {
    expect(route('GET', '/health')).toEqual({ kind: 'health' });
    expect(route('POST', '/orders')).toEqual({ kind: 'create-order' });
    expect(route('POST', '/orders/')).toEqual({ kind: 'create-order' });
    expect(route('GET', '/orders/ord%2D1')).toEqual({ kind: 'get-order', orderId: 'ord-1' });
  });

  it('tells an unknown route (404) from a wrong method (405, with the allowed ones)', () => {
    expect(route('GET', '/nope')).toEqual({ kind: 'not-found' });
    expect(route('GET', '/orders/a/b')).toEqual({ kind: 'not-found' });
    expect(route('DELETE', '/orders/ord-1')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
    expect(route('GET', '/orders')).toEqual({ kind: 'method-not-allowed', allow: ['POST'] });
  });

  it('reads headers case-insensitively', () => {
    expect(
      normalizeHeaders({
        headers: { 'Content-Type': 'application/json' },
        multiValueHeaders: { 'Idempotency-Key': ['k'] },
      }),
    ).toEqual({ 'content-type': 'application/json', 'idempotency-key': 'k' });
  });
});
