import { describe, expect, it } from 'vitest';
import { sampleOrder } from '../testing.ts';
import {
  hasReached,
  newStoredOrder,
  type OrderStatus,
  orderOf,
  orderView,
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
  it('changes the status only from the expected one, appending to the history', () => {
    const update = transitionUpdate('orders', {
      orderId: 'ord-1',
      from: ['CONFIRMED'],
      to: 'PACKED',
      at: '2026-11-24T10:00:02.000Z',
      detail: 'parcel PCL-1',
      set: { packedAt: '2026-11-24T10:00:02.000Z' },
    });
    expect(update.Key).toEqual({ orderId: 'ord-1' });
    expect(update.ConditionExpression).toBe('#status = :from0');
    expect(update.UpdateExpression).toBe(
      'SET #status = :to, #history = list_append(if_not_exists(#history, :noHistory), :entry), #updatedAt = :at, #set0 = :set0',
    );
    expect(update.ExpressionAttributeNames['#set0']).toBe('packedAt');
    expect(update.ExpressionAttributeValues[':entry']).toEqual([
      { status: 'PACKED', at: '2026-11-24T10:00:02.000Z', detail: 'parcel PCL-1' },
    ]);
  });

  it('creates a missing order from the event when the order is given, keeping stored fields otherwise', () => {
    const update = transitionUpdate('orders', {
      orderId: 'ord-1',
      from: ['RECEIVED'],
      to: 'CONFIRMED',
      at: 't',
      order: sampleOrder(),
    });
    expect(update.ConditionExpression).toBe('attribute_not_exists(#orderId) OR #status = :from0');
    expect(update.UpdateExpression).toContain('#customerId = if_not_exists(#customerId, :customerId)');
    expect(update.UpdateExpression).toContain('#placedAt = if_not_exists(#placedAt, :placedAt)');
    expect(update.ExpressionAttributeValues[':items']).toEqual(sampleOrder().items);
  });

  it('refuses a transition from nowhere', () => {
    expect(() => transitionUpdate('orders', { orderId: 'o', from: [], to: 'PACKED', at: 't' })).toThrow();
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
