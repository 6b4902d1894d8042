import { describe, expect, it } from 'vitest';
import { sampleOrder } from '../testing.ts';
import {
  hasReached,
  newStoredOrder,
  type OrderStatus,
  orderDigest,
  orderOf,
  orderView,
  outboxShardOf,
  StoredOrder,
  transitionUpdate,
} from './model.ts';

describe('order status model', () => {
  it.each<[OrderStatus, OrderStatus, boolean]>([
    ['CONFIRMED', 'CONFIRMED', true],
    ['PACKED', 'CONFIRMED', true],
    ['SHIPPED', 'PACKED', true],
    ['RECEIVED', 'CONFIRMED', false],
    ['CONFIRMED', 'PACKED', false],
    ['REJECTED', 'REJECTED', true],
    ['REJECTED', 'CONFIRMED', false],
    ['REJECTED', 'PACKED', false],
    ['SHIPPED', 'REJECTED', false],
  ])('an order %s has reached %s: %s', (current, target, expected) => {
    expect(hasReached(current, target)).toBe(expected);
  });
});

describe('transition update', () => {
  it('changes the status only of an existing order, from the expected one, with the same content', () => {
    const update = transitionUpdate('orders', {
      orderId: 'ord-1',
      from: ['CONFIRMED'],
      to: 'PACKED',
      at: '2026-11-24T10:00:02.000Z',
      detail: 'parcel PCL-1',
      set: { packedAt: '2026-11-24T10:00:02.000Z' },
      digest: 'd1',
    });
    expect(update.Key).toEqual({ orderId: 'ord-1' });
    // Never `attribute_not_exists`: no transition creates an order.
    expect(update.ConditionExpression).toBe(
      'attribute_exists(#orderId) AND #status = :from0 AND #digest = :digest',
    );
    expect(update.ExpressionAttributeValues[':digest']).toBe('d1');
    expect(update.UpdateExpression).toBe(
      'SET #status = :to, #history = list_append(if_not_exists(#history, :noHistory), :entry), #set0 = :set0',
    );
    expect(update.ExpressionAttributeNames['#set0']).toBe('packedAt');
    expect(update.ExpressionAttributeValues[':entry']).toEqual([
      { status: 'PACKED', at: '2026-11-24T10:00:02.000Z', detail: 'parcel PCL-1' },
    ]);
  });

  it('removes attributes and requires further stored values when asked', () => {
    const update = transitionUpdate('orders', {
      orderId: 'ord-1',
      from: ['RECEIVED', 'CONFIRMED'],
      to: 'REJECTED',
      at: 't',
      remove: ['outboxShard'],
      digest: 'd',
      match: { 'parcel.weightGrams': 875 },
    });
    expect(update.UpdateExpression).toMatch(/ REMOVE #remove0$/);
    expect(update.ExpressionAttributeNames['#remove0']).toBe('outboxShard');
    expect(update.ConditionExpression).toBe(
      'attribute_exists(#orderId) AND (#status = :from0 OR #status = :from1) AND #digest = :digest AND #match0_0.#match0_1 = :match0',
    );
    expect(update.ExpressionAttributeValues[':match0']).toBe(875);
  });

  it('refuses a transition from nowhere', () => {
    expect(() =>
      transitionUpdate('orders', { orderId: 'o', from: [], to: 'PACKED', at: 't', digest: 'd' }),
    ).toThrow();
  });
});

describe('order digest', () => {
  it('is the same for the same order and differs for any change of content', () => {
    const order = sampleOrder();
    expect(orderDigest(structuredClone(order))).toBe(orderDigest(order));
    const changes = [
      { ...order, customerId: 'cust-2' },
      { ...order, total: 1 },
      { ...order, items: [{ ...order.items[0], quantity: 3 }, order.items[1]] },
      { ...order, items: [{ ...order.items[0], unitPrice: 0 }, order.items[1]] },
      { ...order, items: [...order.items].reverse() },
      { ...order, shippingAddress: { ...order.shippingAddress, line2: 'Apt 1' } },
      { ...order, placedAt: '2026-11-24T10:00:00.001Z' },
    ];
    for (const changed of changes) expect(orderDigest(changed as typeof order)).not.toBe(orderDigest(order));
  });

  it('puts every new order in the outbox, on a stable shard', () => {
    const stored = newStoredOrder(sampleOrder(), { requestHash: 'h', requestId: 'r' });
    expect(stored.digest).toBe(orderDigest(sampleOrder()));
    expect(stored.outboxShard).toBe(outboxShardOf('ord-1'));
    const shards = new Set(Array.from({ length: 200 }, (_, i) => outboxShardOf(`ord-${i}`)));
    expect([...shards].sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
  });
});

describe('stored order', () => {
  it('starts RECEIVED with one history entry, and round-trips to the event order', () => {
    const stored = newStoredOrder(sampleOrder(), { requestHash: 'h', requestId: 'r' });
    expect(StoredOrder.parse(stored)).toEqual(stored);
    expect(stored.status).toBe('RECEIVED');
    expect(stored.history).toEqual([{ status: 'RECEIVED', at: sampleOrder().placedAt }]);
    expect(orderOf(stored)).toEqual(sampleOrder());
  });

  it('is shown without the address or the request bookkeeping', () => {
    const stored = {
      ...newStoredOrder(sampleOrder(), { requestHash: 'h', requestId: 'r' }),
      status: 'SHIPPED' as const,
      carrier: 'SwiftPost',
      trackingNumber: 'SP12345678903',
    };
    const view = orderView(stored);
    expect(view).toMatchObject({
      orderId: 'ord-1',
      status: 'SHIPPED',
      total: 52.48,
      trackingNumber: 'SP12345678903',
    });
    expect(view).not.toHaveProperty('shippingAddress');
    expect(view).not.toHaveProperty('requestHash');
    expect(view).not.toHaveProperty('rejectionReason');
  });

  it('shows the history in time order, whatever order the steps appended it in', () => {
    const stored = newStoredOrder(sampleOrder(), { requestHash: 'h', requestId: 'r' });
    stored.history.push(
      { status: 'SHIPPED', at: '2026-11-24T10:00:05.000Z' },
      { status: 'NOTIFIED', at: '2026-11-24T10:00:04.000Z', detail: 'notified:order-packed' },
    );
    expect(orderView(stored).history.map((h) => h.at)).toEqual([
      sampleOrder().placedAt,
      '2026-11-24T10:00:04.000Z',
      '2026-11-24T10:00:05.000Z',
    ]);
  });
});
