import { describe, expect, it } from 'vitest';
import { isPermanent } from '../shared/errors.ts';
import { orderEventId } from '../shared/orders/events.ts';
import type { Transition } from '../shared/orders/model.ts';
import { MemoryOrders, orderReceived, RecordingLogger, sampleOrder, storedOrder } from '../shared/testing.ts';
import type { ReservationLine } from './logic.ts';
import { inventoryStep, RESERVATION_RETRY } from './step.ts';
import type { ReserveResult, StockPort } from './stock-store.ts';

/** Stock as a Map, reserving all or nothing, with the order transition applied through MemoryOrders. */
class MemoryStock implements StockPort {
  reservations = 0;
  constructor(
    readonly levels: Map<string, number>,
    readonly orders: MemoryOrders,
  ) {}

  async reserve(lines: readonly ReservationLine[], confirm: Transition): Promise<ReserveResult> {
    const current = await this.orders.get(confirm.orderId);
    // The order's condition, as the transaction's last item has it.
    if (!current || !confirm.from.includes(current.status) || current.digest !== confirm.digest) {
      return { kind: 'order-moved-on' };
    }
    if (lines.some((l) => (this.levels.get(l.sku) ?? -1) < l.quantity)) return { kind: 'short' };
    for (const l of lines) this.levels.set(l.sku, (this.levels.get(l.sku) ?? 0) - l.quantity);
    await this.orders.transition(confirm);
    this.reservations += 1;
    return { kind: 'reserved' };
  }

  async available(skus: readonly string[]) {
    return new Map(skus.filter((s) => this.levels.has(s)).map((s) => [s, this.levels.get(s) as number]));
  }
}

const now = new Date('2026-11-24T10:00:01.000Z');
const context = { logger: new RecordingLogger(), now };

function setup(levels: Record<string, number>, order = sampleOrder()) {
  const orders = new MemoryOrders();
  orders.items.set(order.orderId, storedOrder(order));
  const stock = new MemoryStock(new Map(Object.entries(levels)), orders);
  return { orders, stock, step: inventoryStep({ orders, stock }) };
}

describe('inventory step', () => {
  it('reserves every line and confirms the order', async () => {
    const { orders, stock, step } = setup({ 'SKU-TSHIRT-M': 5, 'SKU-MUG': 1 });
    const outcome = await step.process(orderReceived(), context);
    expect(outcome.replayed).toBe(false);
    // The customer hears from the warehouse next; inventory only writes to them to say no.
    expect(outcome.events.map((e) => e.topic)).toEqual(['OrderConfirmed']);
    expect(Object.fromEntries(stock.levels)).toEqual({ 'SKU-TSHIRT-M': 3, 'SKU-MUG': 0 });
    const stored = await orders.get('ord-1');
    expect(stored?.status).toBe('CONFIRMED');
    expect(stored?.history.at(-1)).toMatchObject({ status: 'CONFIRMED', at: now.toISOString() });
    // Decided: out of the outbox.
    expect(stored?.outboxShard).toBeUndefined();
    // Ids derive from the order, not from the event that caused them.
    expect(outcome.events.map((e) => e.headers['event-id'])).toEqual([
      orderEventId('ord-1', 'OrderConfirmed'),
    ]);
  });

  it('rejects the whole order when one line is short, reserving nothing', async () => {
    const { orders, stock, step } = setup({ 'SKU-TSHIRT-M': 5 });
    const outcome = await step.process(orderReceived(), context);
    expect(outcome.events.map((e) => e.topic)).toEqual(['Notification']);
    expect(outcome.summary).toBe('rejected: SKU-MUG is not a product we sell');
    expect(Object.fromEntries(stock.levels)).toEqual({ 'SKU-TSHIRT-M': 5 });
    const stored = await orders.get('ord-1');
    expect(stored).toMatchObject({ status: 'REJECTED', rejectionReason: 'SKU-MUG is not a product we sell' });
    expect(stored?.history.at(-1)).toEqual({
      status: 'REJECTED',
      at: now.toISOString(),
      detail: 'SKU-MUG is not a product we sell',
    });
  });

  it('re-produces the same confirmation when an earlier attempt already confirmed (crash before completion)', async () => {
    const { stock, step } = setup({ 'SKU-TSHIRT-M': 2, 'SKU-MUG': 1 });
    const event = orderReceived();
    const first = await step.process(event, context);
    // Stock is now exhausted: a naive retry would reject the order it has just confirmed.
    const retry = await step.process(event, { ...context, now: new Date('2026-11-24T10:05:00.000Z') });
    expect(retry.replayed).toBe(true);
    expect(retry.events.map((e) => e.headers['event-id'])).toEqual(
      first.events.map((e) => e.headers['event-id']),
    );
    expect(JSON.parse(retry.events[0]?.value.toString() ?? '{}').data.reservedAt).toBe(now.toISOString());
    expect(stock.reservations).toBe(1);
  });

  it('re-produces the same rejection when an earlier attempt already rejected, even if stock came back', async () => {
    const { stock, step } = setup({ 'SKU-TSHIRT-M': 1, 'SKU-MUG': 1 });
    const event = orderReceived();
    const first = await step.process(event, context);
    stock.levels.set('SKU-TSHIRT-M', 100);
    const retry = await step.process(event, context);
    expect(retry.replayed).toBe(true);
    expect(retry.summary).toBe(first.summary);
    expect(retry.events.map((e) => e.headers['event-id'])).toEqual(
      first.events.map((e) => e.headers['event-id']),
    );
    expect(stock.reservations).toBe(0);
  });

  it('tries again when the stock came back between the refusal and the re-read', async () => {
    const { orders, stock, step } = setup({ 'SKU-TSHIRT-M': 2, 'SKU-MUG': 1 });
    let refusals = 1;
    const reserve = stock.reserve.bind(stock);
    stock.reserve = async (lines, confirm) => (refusals-- > 0 ? { kind: 'short' } : reserve(lines, confirm));
    const outcome = await step.process(orderReceived(), context);
    expect(outcome.summary).toMatch(/^confirmed/);
    expect((await orders.get('ord-1'))?.status).toBe('CONFIRMED');
  });

  it('tries again when a concurrent reservation held an item (a transaction conflict), without a batch retry', async () => {
    const { orders, stock, step } = setup({ 'SKU-TSHIRT-M': 2, 'SKU-MUG': 1 });
    let conflicts = 2;
    const reserve = stock.reserve.bind(stock);
    stock.reserve = async (lines, confirm) =>
      conflicts-- > 0 ? { kind: 'conflict' } : reserve(lines, confirm);
    const outcome = await step.process(orderReceived(), context);
    expect(outcome.summary).toMatch(/^confirmed/);
    expect(stock.reservations).toBe(1);
    expect((await orders.get('ord-1'))?.status).toBe('CONFIRMED');
  });

  it("counts a reservation whose answer was lost as this attempt's own (a 500 after the write, the SDK's retry refused)", async () => {
    const { orders, stock, step } = setup({ 'SKU-TSHIRT-M': 2, 'SKU-MUG': 1 });
    const reserve = stock.reserve.bind(stock);
    // The transaction took effect; the SDK sent it again and the order's condition refused it.
    stock.reserve = async (lines, confirm) => {
      await reserve(lines, confirm);
      return { kind: 'order-moved-on' };
    };
    const outcome = await step.process(orderReceived(), context);
    expect(outcome.summary).toMatch(/^confirmed/);
    // Not a replay: this attempt applied it, so its KPIs count (and it is neither out of stock nor rejected).
    expect(outcome.replayed).toBe(false);
    expect(outcome.events.map((e) => e.topic)).toEqual(['OrderConfirmed']);
    expect(stock.reservations).toBe(1);
    expect((await orders.get('ord-1'))?.status).toBe('CONFIRMED');
  });

  it('gives up after a bounded number of contended attempts with a transient error (the partition is redone)', async () => {
    const { orders, stock, step } = setup({ 'SKU-TSHIRT-M': 2, 'SKU-MUG': 1 });
    let attempts = 0;
    stock.reserve = async () => {
      attempts += 1;
      return { kind: 'conflict' };
    };
    const failure = await step.process(orderReceived(), context).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/kept being contended during 6 attempts/);
    expect(isPermanent(failure)).toBe(false);
    expect(attempts).toBe(RESERVATION_RETRY.attempts);
    expect((await orders.get('ord-1'))?.status).toBe('RECEIVED');
  });

  it('rejects an order with too many different products without touching the stock', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({
      sku: `SKU-${i}`,
      name: 'x',
      quantity: 1,
      unitPrice: 1,
    }));
    const order = sampleOrder({ items, total: 100 });
    const { stock, step } = setup({}, order);
    const outcome = await step.process(orderReceived(order), context);
    expect(outcome.summary).toMatch(/too many different products/);
    expect(stock.reservations).toBe(0);
  });
});
