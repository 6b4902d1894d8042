import { describe, expect, it } from 'vitest';
import { newEvent } from '../../events/codec.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { orderEventId } from '../shared/orders/events.ts';
import { MemoryOrders, RecordingLogger, sampleOrder, storedOrder } from '../shared/testing.ts';
import {
  PACKAGING_BASE_GRAMS,
  PACKAGING_PER_UNIT_GRAMS,
  packParcel,
  parcelIdFor,
  parcelSize,
} from './logic.ts';
import { warehouseStep } from './step.ts';

const weights: Record<string, number> = { 'SKU-TSHIRT-M': 180, 'SKU-MUG': 350 };
const order = sampleOrder();
const now = new Date('2026-11-24T10:00:02.000Z');

describe('picking and packing', () => {
  it('weighs the goods from the catalog plus packaging', () => {
    const parcel = packParcel(order, (sku) => weights[sku]);
    expect(parcel.weightGrams).toBe(2 * 180 + 350 + PACKAGING_BASE_GRAMS + 3 * PACKAGING_PER_UNIT_GRAMS);
    expect(parcel.size).toBe('S');
  });

  it('assumes a default weight for a SKU the catalog does not know', () => {
    const parcel = packParcel(
      sampleOrder({ items: [{ sku: 'SKU-X', name: 'x', quantity: 1, unitPrice: 1 }] }),
      () => undefined,
    );
    expect(parcel.weightGrams).toBe(500 + PACKAGING_BASE_GRAMS + PACKAGING_PER_UNIT_GRAMS);
  });

  it.each([
    [1_000, 'S'],
    [1_001, 'M'],
    [5_000, 'M'],
    [15_000, 'L'],
    [15_001, 'XL'],
  ] as const)('sizes a parcel of %i g as %s', (grams, size) => {
    expect(parcelSize(grams)).toBe(size);
  });

  it('gives the same order the same parcel id, and other orders other ids', () => {
    expect(parcelIdFor('ord-1')).toBe(parcelIdFor('ord-1'));
    expect(parcelIdFor('ord-1')).toMatch(/^PCL-[0-9A-F]{12}$/);
    expect(parcelIdFor('ord-2')).not.toBe(parcelIdFor('ord-1'));
  });
});

describe('warehouse step', () => {
  const event = newEvent('OrderConfirmed', {
    eventId: orderEventId('ord-1', 'OrderConfirmed'),
    correlationId: 'ord-1',
    causationId: 'evt-received',
    source: 'inventory',
    occurredAt: new Date('2026-11-24T10:00:01.000Z'),
    data: { order, reservedAt: '2026-11-24T10:00:01.000Z' },
  });
  const context = { logger: new RecordingLogger(), now };

  function confirmedOrders() {
    const orders = new MemoryOrders();
    orders.items.set('ord-1', { ...storedOrder(order), status: 'CONFIRMED' });
    return orders;
  }

  it('packs a confirmed order and announces the parcel', async () => {
    const orders = confirmedOrders();
    const outcome = await warehouseStep({ orders }).process(event, context);
    expect(outcome.events.map((e) => e.topic)).toEqual(['OrderPickedAndPacked', 'Notification']);
    const packed = JSON.parse(outcome.events[0]?.value.toString() ?? '{}');
    expect(packed.data.parcel).toEqual(packParcel(order, (sku) => weights[sku]));
    expect(outcome.kpis.map((k) => k.name)).toEqual(['OrdersPacked', 'StepLatency']);
    expect((await orders.get('ord-1'))?.status).toBe('PACKED');
  });

  it('re-announces the same parcel when the order was packed by an earlier attempt', async () => {
    const orders = confirmedOrders();
    const step = warehouseStep({ orders });
    const first = await step.process(event, context);
    const retry = await step.process(event, { ...context, now: new Date('2026-11-24T11:00:00.000Z') });
    expect(retry.replayed).toBe(true);
    const ids = (outcome: typeof first) => outcome.events.map((e) => e.headers['event-id']);
    expect(ids(retry)).toEqual(ids(first));
    const data = (outcome: typeof first) => JSON.parse(outcome.events[0]?.value.toString() ?? '{}').data;
    // The parcel and the time it was packed are the stored ones, not the retry's.
    expect(data(retry)).toEqual(data(first));
    expect(data(retry).packedAt).toBe(now.toISOString());
  });

  it('refuses, for good, to pack a rejected order', async () => {
    const orders = new MemoryOrders();
    orders.items.set('ord-1', { ...storedOrder(order), status: 'REJECTED' });
    await expect(warehouseStep({ orders }).process(event, context)).rejects.toBeInstanceOf(
      InvalidTransitionError,
    );
  });
});
