import { describe, expect, it } from 'vitest';
import { newEvent } from '../../../events/codec.ts';
import type { StepName } from '../../../events/envelope.ts';
import type { EventOf } from '../../../events/topics.ts';
import { inventoryStep } from '../../inventory/step.ts';
import { shipperStep } from '../../shipper/step.ts';
import { warehouseStep } from '../../warehouse/step.ts';
import { InvalidTransitionError } from '../errors.ts';
import type { ConsumerStep } from '../step-types.ts';
import { MemoryOrders, RecordingLogger, sampleOrder, storedOrder } from '../testing.ts';
import { orderEventId } from './events.ts';
import type { OrderStatus, StoredOrder } from './model.ts';

/**
 * Every order step against every stored state and every kind of untrusted event: the genuine one, one
 * with a new id (forged, or a producer that is not the owning step), and one whose copy of the order
 * differs from the stored order (a stale or tampered copy). Only the genuine event of an order in the
 * state the step expects moves it; nothing ever creates an order.
 */
const order = sampleOrder();
const parcel = { parcelId: 'PCL-1', weightGrams: 875, size: 'S' } as const;
const now = new Date('2026-11-24T10:00:05.000Z');
const context = { logger: new RecordingLogger(), now };
const tampered = { ...order, items: [{ ...order.items[0], quantity: 3 }] } as typeof order;
const forgedId = '6b1f4a0e-1d0b-4c1e-9c55-1f0d3a2b7c11';

const stock = {
  reserve: async () => ({ kind: 'reserved' as const }),
  available: async () =>
    new Map([
      ['SKU-TSHIRT-M', 100],
      ['SKU-MUG', 100],
    ]),
};

type StepTopic = 'OrderReceived' | 'OrderConfirmed' | 'OrderPickedAndPacked';

/**
 * The event of `type` about order `o` from `source`: the genuine one (its order's id for that type), or
 * one under another `id`.
 */
const orderEvent =
  <T extends StepTopic>(type: T, source: StepName, data: (o: typeof order) => EventOf<T>['data']) =>
  (o: typeof order, id?: string) =>
    newEvent(type, {
      eventId: id ?? orderEventId(o.orderId, type),
      correlationId: o.orderId,
      causationId: 'x',
      source,
      data: data(o),
    });

type AnyStep =
  | ConsumerStep<'OrderReceived'>
  | ConsumerStep<'OrderConfirmed'>
  | ConsumerStep<'OrderPickedAndPacked'>;

const steps: Record<
  string,
  {
    expects: OrderStatus;
    makes: OrderStatus;
    build: (orders: MemoryOrders) => AnyStep;
    event: (o: typeof order, id?: string) => unknown;
  }
> = {
  inventory: {
    expects: 'RECEIVED',
    makes: 'CONFIRMED',
    build: (orders) => inventoryStep({ orders, stock: realisticStock(orders) }),
    event: orderEvent('OrderReceived', 'order-api', (o) => ({ order: o })),
  },
  warehouse: {
    expects: 'CONFIRMED',
    makes: 'PACKED',
    build: (orders) => warehouseStep({ orders }),
    event: orderEvent('OrderConfirmed', 'inventory', (o) => ({
      order: o,
      reservedAt: '2026-11-24T10:00:01.000Z',
    })),
  },
  shipper: {
    expects: 'PACKED',
    makes: 'SHIPPED',
    build: (orders) => shipperStep({ orders }),
    event: orderEvent('OrderPickedAndPacked', 'warehouse', (o) => ({
      order: o,
      parcel,
      packedAt: '2026-11-24T10:00:02.000Z',
    })),
  },
};

/** Inventory's transaction, as its condition on the order has it (status and digest). */
function realisticStock(orders: MemoryOrders) {
  return {
    ...stock,
    async reserve(_lines: unknown, confirm: Parameters<MemoryOrders['transition']>[0]) {
      const result = await orders.transition(confirm);
      return result.applied ? { kind: 'reserved' as const } : { kind: 'order-moved-on' as const };
    },
  };
}

const statuses: (OrderStatus | 'missing')[] = [
  'missing',
  'RECEIVED',
  'CONFIRMED',
  'REJECTED',
  'PACKED',
  'SHIPPED',
  'CANCELLED',
];
const rank: Record<OrderStatus, number> = {
  RECEIVED: 0,
  CONFIRMED: 1,
  PACKED: 2,
  SHIPPED: 3,
  REJECTED: -1,
  CANCELLED: -2,
};

function ordersIn(status: OrderStatus | 'missing'): MemoryOrders {
  const orders = new MemoryOrders();
  if (status !== 'missing') {
    const stored: StoredOrder = { ...storedOrder(order), status, ...(rank[status] >= 2 ? { parcel } : {}) };
    orders.items.set(order.orderId, stored);
  }
  return orders;
}

const run = (step: AnyStep, event: unknown) =>
  (step.process as (e: unknown, c: typeof context) => ReturnType<AnyStep['process']>)(event, context);

describe.each(Object.entries(steps))('%s against untrusted events', (_name, spec) => {
  it.each(statuses)('refuses a forged event id for an order that is %s, changing nothing', async (status) => {
    const orders = ordersIn(status);
    const before = structuredClone([...orders.items]);
    await expect(run(spec.build(orders), spec.event(order, forgedId))).rejects.toBeInstanceOf(
      InvalidTransitionError,
    );
    expect([...orders.items]).toEqual(before);
  });

  it.each(statuses)('refuses a tampered copy of an order that is %s, changing nothing', async (status) => {
    const orders = ordersIn(status);
    const before = structuredClone([...orders.items]);
    await expect(run(spec.build(orders), spec.event(tampered))).rejects.toBeInstanceOf(
      InvalidTransitionError,
    );
    expect([...orders.items]).toEqual(before);
  });

  it.each(statuses)(
    'acts on the genuine event only as the state allows, when the order is %s',
    async (status) => {
      const orders = ordersIn(status);
      const step = spec.build(orders);
      const event = spec.event(order);
      if (status === 'missing') {
        // Nothing creates an order but order-api.
        await expect(run(step, event)).rejects.toThrow(/unknown/);
        expect(orders.items.size).toBe(0);
        return;
      }
      const before = structuredClone(orders.items.get(order.orderId));
      if (status === spec.expects) {
        const outcome = await run(step, event);
        expect(outcome.replayed).toBe(false);
        expect((await orders.get(order.orderId))?.status).toBe(spec.makes);
        return;
      }
      if (status === spec.makes || (_name === 'inventory' && status === 'REJECTED')) {
        // This step's own earlier decision: re-announced from the stored order, nothing written.
        const outcome = await run(step, event);
        expect(outcome.replayed).toBe(true);
        expect(outcome.events.length).toBeGreaterThan(0);
        expect(orders.items.get(order.orderId)).toEqual(before);
        return;
      }
      if (status === 'CANCELLED' || (status !== 'REJECTED' && rank[status] > rank[spec.makes])) {
        // Already past this step, or cancelled (skipped by every step but the stock release): a stale
        // redelivery produces nothing, no new ids.
        // Already past this step: a stale redelivery produces nothing, no new ids.
        const outcome = await run(step, event);
        expect(outcome.events).toEqual([]);
        expect(orders.items.get(order.orderId)).toEqual(before);
        return;
      }
      await expect(run(step, event)).rejects.toBeInstanceOf(InvalidTransitionError);
      expect(orders.items.get(order.orderId)).toEqual(before);
    },
  );
});
