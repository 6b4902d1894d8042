import { describe, expect, it } from 'vitest';
import { decode, deterministicEventId, encode, Headers, OrderRequest, topicNames } from './index.ts';
import { eventsFor } from './testing.ts';

/** One valid event per topic, built through the same helper producers use. */
const validEvents = eventsFor('ord-1');

describe('event codec', () => {
  it.each(topicNames)('round-trips a valid %s event with its id headers', (topic) => {
    const event = validEvents[topic];
    const record = encode(topic, event);
    expect(record.key).toBe('ord-1');
    expect(record.headers[Headers.eventId]).toBe(event.eventId);
    expect(record.headers[Headers.eventType]).toBe(event.eventType);
    expect(record.headers[Headers.correlationId]).toBe('ord-1');
    expect(record.headers[Headers.causationId]).toBe('req-ord-1');
    const decoded = decode(topic, record.value);
    expect(decoded).toEqual({ ok: true, event });
  });

  it('reports bytes that are not JSON', () => {
    const result = decode('OrderReceived', Buffer.from('{not json'));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.kind).toBe('not-json');
  });

  it('reports an empty value', () => {
    const result = decode('OrderReceived', null);
    expect(!result.ok && result.error.kind).toBe('empty');
  });

  it('rejects an event of another type on a topic, naming both', () => {
    const result = decode('OrderConfirmed', encode('OrderReceived', validEvents.OrderReceived).value);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.kind).toBe('wrong-event-type');
      expect(result.error.message).toContain('"OrderConfirmed"');
      expect(result.error.message).toContain('"OrderReceived"');
    }
  });

  it('gives the exact path of every schema violation', () => {
    const bad = structuredClone(validEvents.OrderReceived) as unknown as {
      eventId: string;
      data: { order: { items: { quantity: number }[]; currency: string } };
    };
    bad.eventId = 'not-a-uuid';
    bad.data.order.items[0]!.quantity = 0;
    bad.data.order.currency = 'dollars';
    const result = decode('OrderReceived', JSON.stringify(bad));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.kind).toBe('schema');
    expect(result.error.issues.map((i) => i.path).sort()).toEqual([
      'data.order.currency',
      'data.order.items[0].quantity',
      'eventId',
    ]);
    expect(result.error.message).toContain('data.order.items[0].quantity');
  });

  it('refuses to encode an invalid event', () => {
    const bad = { ...validEvents.KPIs, correlationId: '' };
    expect(() => encode('KPIs', bad)).toThrow(/correlationId/);
  });

  it('derives the same event id from the same cause, and different ids otherwise', () => {
    const a = deterministicEventId('evt-1', 'OrderConfirmed');
    expect(deterministicEventId('evt-1', 'OrderConfirmed')).toBe(a);
    expect(deterministicEventId('evt-2', 'OrderConfirmed')).not.toBe(a);
    expect(deterministicEventId('evt-1', 'Notification')).not.toBe(a);
    expect(deterministicEventId('evt-1', 'OrderConfirmed', 'x')).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('POST /orders body', () => {
  const address = { name: 'Ada', line1: '1 Main St', city: 'Seattle', postal_code: '98101', country: 'US' };

  it("parses the seed's snake_case body, then rejects its empty items with a reason", () => {
    const result = OrderRequest.safeParse({ order_id: '123', customer_id: 'John', items: [], total: 100 });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(paths).toContain('items: must contain at least one item');
    expect(paths?.some((p) => p.startsWith('shippingAddress'))).toBe(true);
  });

  it('accepts snake_case and camelCase alike and defaults the currency', () => {
    const snake = OrderRequest.parse({
      order_id: '123',
      customer_id: 'John',
      items: [{ sku: 'SKU-MUG', name: 'Mug', quantity: 2, unit_price: 50 }],
      total: 100,
      shipping_address: address,
    });
    expect(snake).toMatchObject({ orderId: '123', customerId: 'John', currency: 'USD', total: 100 });
    expect(snake.items[0]?.unitPrice).toBe(50);
    expect(snake.shippingAddress.postalCode).toBe('98101');
  });

  /** An order request of one line per `[quantity, unitPrice]`, all of the same SKU, with `total` if given. */
  const mugLinesRequest = (lines: [number, number][], total?: number) =>
    OrderRequest.safeParse({
      customerId: 'c',
      items: lines.map(([quantity, unitPrice]) => ({ sku: 'SKU-MUG', name: 'Mug', quantity, unitPrice })),
      ...(total === undefined ? {} : { total }),
      shippingAddress: address,
    });

  it('rejects a total that does not match the lines, and duplicate SKUs', () => {
    const result = mugLinesRequest(
      [
        [1, 0.1],
        [2, 0.2],
      ],
      0.6,
    );
    expect(result.success).toBe(false);
    const messages = result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toContain('total: does not match the items: expected 0.50');
    expect(messages).toContain('items.1.sku: appears twice; merge the lines');
  });

  it('rejects duplicate SKUs when no total is given too', () => {
    const result = mugLinesRequest([
      [1, 1],
      [1, 1],
    ]);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['items.1.sku']);
  });

  it('rejects unknown fields and more than two decimals', () => {
    const result = OrderRequest.safeParse({
      customerId: 'c',
      items: [{ sku: 'SKU-MUG', name: 'Mug', quantity: 1, unitPrice: 1.999 }],
      shippingAddress: address,
      coupon: 'FREE',
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('items.0.unitPrice');
    expect(paths).toContain('');
  });
});
