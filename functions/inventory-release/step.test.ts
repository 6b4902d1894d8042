import { describe, expect, it } from 'vitest';
import { newEvent } from '../../events/codec.ts';
import type { ReservationLine } from '../inventory/logic.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { notificationId } from '../shared/notifications.ts';
import { orderEventId } from '../shared/orders/events.ts';
import type { StoredOrder, UnreleasedLine } from '../shared/orders/model.ts';
import { MemoryOrders, RecordingLogger, sampleOrder, storedOrder } from '../shared/testing.ts';
import { releasePlan } from './logic.ts';
import { releaseStep } from './step.ts';
import {
  judgeRelease,
  type ReleasePort,
  type ReleaseResult,
  releaseOrderUpdate,
  releaseTransaction,
} from './stock-store.ts';

const now = new Date('2026-11-24T10:00:09.000Z');
const context = { logger: new RecordingLogger(), now };
const freshContext = () => ({ logger: new RecordingLogger(), now });
const cancelled = (orderId: string, id = orderEventId(orderId, 'OrderCancelled')) =>
  newEvent('OrderCancelled', {
    eventId: id,
    correlationId: orderId,
    causationId: 'req-cancel',
    source: 'order-api',
    data: { orderId, cancelledAt: '2026-11-24T10:00:08.000Z' },
  });

/**
 * Stock and the order's release flag, all or nothing, exactly once: what the transaction's conditions do
 * (a line is refused when its item is gone or counts fewer units as reserved).
 */
class MemoryRelease implements ReleasePort {
  readonly given: ReservationLine[][] = [];
  readonly unreleased = new Map<string, readonly UnreleasedLine[]>();
  readonly inventory = new Map<string, Record<string, unknown>>([
    ['SKU-MUG', { sku: 'SKU-MUG', available: 10, reserved: 5 }],
    ['SKU-TSHIRT-M', { sku: 'SKU-TSHIRT-M', available: 10, reserved: 5 }],
  ]);
  conflicts = 0;
  constructor(readonly orders: MemoryOrders) {}
  async release(
    orderId: string,
    lines: readonly ReservationLine[],
    reserved: boolean,
    unreleased: readonly UnreleasedLine[] = [],
  ): Promise<ReleaseResult> {
    if (this.conflicts-- > 0) return { kind: 'conflict' };
    const order = this.orders.items.get(orderId) as StoredOrder;
    if (order.stockReleased !== undefined) return { kind: 'already-released' };
    const held = (line: ReservationLine) => {
      const count = this.inventory.get(line.sku)?.reserved;
      return typeof count === 'number' && count >= line.quantity;
    };
    if (reserved && !lines.every(held)) return { kind: 'stock-refused' };
    for (const line of reserved ? lines : []) {
      const item = this.inventory.get(line.sku) as { available: number; reserved: number };
      item.available += line.quantity;
      item.reserved -= line.quantity;
    }
    if (reserved && lines.length > 0) this.given.push([...lines]);
    if (unreleased.length > 0) this.unreleased.set(orderId, unreleased);
    this.orders.items.set(orderId, { ...order, stockReleased: true });
    return { kind: 'released' };
  }
  async items(skus: readonly string[]) {
    const found = new Map<string, Record<string, unknown>>();
    for (const sku of skus) {
      const item = this.inventory.get(sku);
      if (item) found.set(sku, structuredClone(item));
    }
    return found;
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

describe('a cancellation whose stock cannot all be given back still finishes', () => {
  it('gives back the lines it can, records the others on the order, alerts, and tells the customer', async () => {
    const { orders, stock, step } = setup('CONFIRMED');
    // The mug left the catalog (its inventory item deleted) after the reservation.
    stock.inventory.delete('SKU-MUG');
    const context = freshContext();
    const outcome = await step.process(cancelled('r-1'), context);
    expect(stock.given).toEqual([[{ sku: 'SKU-TSHIRT-M', quantity: 2 }]]);
    expect(stock.inventory.get('SKU-TSHIRT-M')).toMatchObject({ available: 12, reserved: 3 });
    const kept = [{ sku: 'SKU-MUG', quantity: 1, reason: 'SKU-MUG is no longer in the inventory' }];
    expect(stock.unreleased.get('r-1')).toEqual(kept);
    expect((await orders.get('r-1'))?.stockReleased).toBe(true);
    expect(outcome.replayed).toBe(false);
    expect(outcome.summary).toBe('cancelled, 2 unit(s) back in stock; 1 line(s) could not be given back');
    expect(outcome.kpis.map((k) => [k.name, k.value])).toContainEqual(['StockReleased', 2]);
    const notice = JSON.parse(outcome.events[0]?.value.toString() ?? '{}');
    expect(notice.data).toMatchObject({ kind: 'order-cancelled' });
    expect(context.logger.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'stock release: some lines could not be given back, an operator must reconcile',
        attributes: { orderId: 'r-1', unreleased: kept },
      },
    ]);
    // Done for good: a redelivery replays the notice and gives nothing.
    const again = await step.process(cancelled('r-1'), freshContext());
    expect(again.replayed).toBe(true);
    expect(stock.given).toHaveLength(1);
  });

  it('finishes when no line can be given back, and still tells the customer', async () => {
    const { orders, stock, step } = setup('PACKED');
    stock.inventory.clear();
    const outcome = await step.process(cancelled('r-1'), freshContext());
    expect(stock.given).toEqual([]);
    expect(stock.unreleased.get('r-1')?.map((line) => line.sku)).toEqual(['SKU-MUG', 'SKU-TSHIRT-M']);
    expect((await orders.get('r-1'))?.stockReleased).toBe(true);
    expect(outcome.events).toHaveLength(1);
    expect(outcome.kpis.map((k) => k.name)).not.toContain('StockReleased');
    expect(outcome.summary).toBe('cancelled, 0 unit(s) back in stock; 2 line(s) could not be given back');
  });

  it('never gives back more than an item still counts as reserved', async () => {
    const { stock, step } = setup('CONFIRMED');
    // The item was re-created (reserved reset to 0) after the reservation.
    stock.inventory.set('SKU-TSHIRT-M', { sku: 'SKU-TSHIRT-M', available: 100, reserved: 0 });
    await step.process(cancelled('r-1'), freshContext());
    expect(stock.inventory.get('SKU-TSHIRT-M')).toEqual({ sku: 'SKU-TSHIRT-M', available: 100, reserved: 0 });
    expect(stock.given).toEqual([[{ sku: 'SKU-MUG', quantity: 1 }]]);
  });
});

describe('releasePlan (what a refused release can still give back)', () => {
  const lines = [
    { sku: 'A', quantity: 2 },
    { sku: 'B', quantity: 1 },
    { sku: 'C', quantity: 3 },
    { sku: 'D', quantity: 1 },
    { sku: 'E', quantity: 4 },
  ];
  it('gives back each line whose item still counts its units as reserved, and says why not for the others', () => {
    const items = new Map<string, Record<string, unknown>>([
      ['A', { sku: 'A', available: 0, reserved: 2 }],
      ['B', { sku: 'B', available: '7', reserved: 1 }],
      ['C', { sku: 'C', available: 5, reserved: 2 }],
      ['E', { sku: 'E', available: 5 }],
    ]);
    expect(releasePlan(lines, items)).toEqual({
      give: [{ sku: 'A', quantity: 2 }],
      keep: [
        { sku: 'B', quantity: 1, reason: 'the inventory item of B is malformed (available)' },
        { sku: 'C', quantity: 3, reason: 'C holds 2 reserved unit(s), fewer than the 3 to give back' },
        { sku: 'D', quantity: 1, reason: 'D is no longer in the inventory' },
        { sku: 'E', quantity: 4, reason: 'the inventory item of E is malformed (reserved)' },
      ],
    });
    expect(releasePlan([], items)).toEqual({ give: [], keep: [] });
  });
});

describe('judgeRelease (a refused release transaction)', () => {
  it.each([
    [['None', 'TransactionConflict', 'None'], 'conflict'],
    // Throttled items cancel the transaction too: nothing changed, the SDK does not retry it.
    [['None', 'ThrottlingError', 'None'], 'conflict'],
    [['ProvisionedThroughputExceeded', 'None'], 'conflict'],
    [['None', 'None', 'ConditionalCheckFailed'], 'already-released'],
    [['ConditionalCheckFailed', 'None', 'ConditionalCheckFailed'], 'already-released'],
    [['ConditionalCheckFailed', 'None', 'None'], 'stock-refused'],
    [['None', 'ValidationError', 'None'], 'stock-refused'],
  ])('%j is %s', (codes, kind) => {
    expect(judgeRelease(codes)).toEqual({ kind });
  });
  it('leaves anything else to the caller (transient: the batch is retried)', () => {
    expect(judgeRelease(['None', 'None', 'ValidationError'])).toBe('unknown');
  });
});

describe('release order update', () => {
  it('records the lines not given back beside the flag, and keeps a reserved order reserved without lines', () => {
    const kept = [{ sku: 'SKU-MUG', quantity: 1, reason: 'SKU-MUG is no longer in the inventory' }];
    const update = releaseOrderUpdate('orders', 'r-1', true, kept);
    expect(update.UpdateExpression).toBe(
      'SET #released = :released, #unreleased = :unreleased REMOVE #shard, #next',
    );
    expect(update.ExpressionAttributeNames['#unreleased']).toBe('unreleasedStock');
    expect(update.ExpressionAttributeValues).toMatchObject({
      ':unreleased': kept,
      ':from0': 'CONFIRMED',
      ':from1': 'PACKED',
    });
    const transaction = releaseTransaction('inventory', 'orders', 'r-1', [], kept);
    expect(transaction.TransactItems).toHaveLength(1);
  });
});
