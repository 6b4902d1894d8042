import { describe, expect, it } from 'vitest';
import { newEvent } from '../../events/codec.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { notificationId } from '../shared/notifications.ts';
import { orderEventId } from '../shared/orders/events.ts';
import type { StoredOrder } from '../shared/orders/model.ts';
import { MemoryOrders, RecordingLogger, sampleOrder, storedOrder } from '../shared/testing.ts';
import type { ReservationLine } from './logic.ts';
import { releaseStep } from './release.ts';
import { type ReleasePort, releaseOrderUpdate, releaseTransaction } from './release-stock.ts';

const now = new Date('2026-11-24T10:00:09.000Z');
const context = { logger: new RecordingLogger(), now };
const cancelled = (orderId: string, id = orderEventId(orderId, 'OrderCancelled')) =>
  newEvent('OrderCancelled', {
    eventId: id,
    correlationId: orderId,
    causationId: 'req-cancel',
    source: 'order-api',
    data: { orderId, cancelledAt: '2026-11-24T10:00:08.000Z' },
  });

/** Stock and the order's release flag, all or nothing, exactly once: what the transaction's conditions do. */
class MemoryRelease implements ReleasePort {
  readonly given: ReservationLine[][] = [];
  conflicts = 0;
  constructor(readonly orders: MemoryOrders) {}
  async release(orderId: string, lines: readonly ReservationLine[], reserved: boolean) {
    if (this.conflicts-- > 0) return { kind: 'conflict' as const };
    const order = this.orders.items.get(orderId) as StoredOrder;
    if (order.stockReleased !== undefined) return { kind: 'already-released' as const };
    if (reserved) this.given.push([...lines]);
    this.orders.items.set(orderId, { ...order, stockReleased: true });
    return { kind: 'released' as const };
  }
}

function setup(from: StoredOrder['status'] | 'not-cancelled', orderId = 'r-1') {
  const orders = new MemoryOrders();
  const base = storedOrder(sampleOrder({ orderId }));
  orders.items.set(
    orderId,
    from === 'not-cancelled'
      ? { ...base, status: 'SHIPPED' }
      : {
          ...base,
          status: 'CANCELLED',
          cancelledFrom: from,
          cancellationReason: 'Changed my mind',
          history: [...base.history, { status: 'CANCELLED', at: '2026-11-24T10:00:08.000Z' }],
        },
  );
  const stock = new MemoryRelease(orders);
  return { orders, stock, step: releaseStep({ orders, stock }) };
}

describe('inventory release (a cancelled order gives its stock back)', () => {
  it.each(['CONFIRMED', 'PACKED'] as const)(
    'gives back exactly the lines reserved for an order cancelled when %s, once, and tells the customer',
    async (from) => {
      const { stock, step } = setup(from);
      const first = await step.process(cancelled('r-1'), context);
      const again = await step.process(cancelled('r-1'), context);
      // sampleOrder: 2 × SKU-TSHIRT-M and 1 × SKU-MUG, merged and sorted like the reservation.
      expect(stock.given).toEqual([
        [
          { sku: 'SKU-MUG', quantity: 1 },
          { sku: 'SKU-TSHIRT-M', quantity: 2 },
        ],
      ]);
      expect(first.replayed).toBe(false);
      expect(again.replayed).toBe(true);
      expect(first.kpis.map((k) => [k.name, k.value])).toContainEqual(['StockReleased', 3]);
      const notice = JSON.parse(first.events[0]?.value.toString() ?? '{}');
      expect(notice.eventId).toBe(notificationId('r-1', 'order-cancelled'));
      expect(notice.data).toMatchObject({ kind: 'order-cancelled', details: { reason: 'Changed my mind' } });
      expect(again.events[0]?.headers['event-id']).toBe(notice.eventId);
    },
  );

  it('gives back nothing for an order cancelled before inventory reserved it', async () => {
    const { orders, stock, step } = setup('RECEIVED');
    const outcome = await step.process(cancelled('r-1'), context);
    expect(stock.given).toEqual([]);
    expect(outcome.summary).toBe('cancelled, nothing was reserved');
    expect((await orders.get('r-1'))?.stockReleased).toBe(true);
  });

  it('tries again after a conflict with a concurrent transaction', async () => {
    const { stock, step } = setup('CONFIRMED');
    stock.conflicts = 2;
    await step.process(cancelled('r-1'), context);
    expect(stock.given).toHaveLength(1);
  });

  it('refuses a forged cancellation, one for an unknown order and one for an order that is not cancelled', async () => {
    const { stock, step } = setup('not-cancelled');
    await expect(
      step.process(cancelled('r-1', '6b1f4a0e-1d0b-4c1e-9c55-1f0d3a2b7c11'), context),
    ).rejects.toBeInstanceOf(InvalidTransitionError);
    await expect(step.process(cancelled('r-1'), context)).rejects.toThrow(/SHIPPED, not cancelled/);
    await expect(step.process(cancelled('nobody'), context)).rejects.toThrow(/unknown/);
    expect(stock.given).toEqual([]);
  });
});

describe('release transaction', () => {
  it('adds each line back, never taking reserved below zero, and releases the order once, only if it was reserved', () => {
    const input = releaseTransaction('inventory', 'orders', 'r-1', [{ sku: 'SKU-MUG', quantity: 2 }]);
    expect(input.TransactItems?.[0]?.Update).toMatchObject({
      Key: { sku: 'SKU-MUG' },
      UpdateExpression: 'SET #available = #available + :quantity, #reserved = #reserved - :quantity',
      ConditionExpression: '#reserved >= :quantity',
    });
    expect(input.TransactItems?.[1]?.Update?.ConditionExpression).toBe(
      '#status = :cancelled AND attribute_not_exists(#released) AND (#cancelledFrom = :from0 OR #cancelledFrom = :from1)',
    );
    const unreserved = releaseOrderUpdate('orders', 'r-1', false);
    expect(unreserved.ExpressionAttributeValues).toMatchObject({ ':from0': 'RECEIVED' });
    expect(unreserved.UpdateExpression).toBe('SET #released = :released REMOVE #shard, #next');
  });
});
