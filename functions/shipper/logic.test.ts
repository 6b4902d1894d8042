import { describe, expect, it } from 'vitest';
import { newEvent } from '../../events/codec.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { orderEventId } from '../shared/orders/events.ts';
import { MemoryOrders, RecordingLogger, sampleOrder, storedOrder } from '../shared/testing.ts';
import { chooseCarrier, isValidTrackingNumber, luhnCheckDigit, trackingNumberFor } from './logic.ts';
import { shipperStep } from './step.ts';

describe('carrier choice', () => {
  it.each([
    ['US', 2_000, 'SwiftPost'],
    ['US', 2_001, 'ParcelWay'],
    ['DE', 300, 'GlobeExpress'],
    ['CA', 30_000, 'GlobeExpress'],
  ] as const)('ships to %s at %i g with %s', (country, grams, carrier) => {
    expect(chooseCarrier(country, grams)).toBe(carrier);
  });
});

describe('tracking numbers', () => {
  it('computes Luhn check digits', () => {
    expect(luhnCheckDigit('7992739871')).toBe(3);
    expect(luhnCheckDigit('0000000000')).toBe(0);
  });

  it('are deterministic per carrier and order, prefixed by the carrier, and check-digit valid', () => {
    const number = trackingNumberFor('SwiftPost', 'ord-1');
    expect(number).toBe(trackingNumberFor('SwiftPost', 'ord-1'));
    expect(number).toMatch(/^SP\d{11}$/);
    expect(isValidTrackingNumber(number)).toBe(true);
    expect(trackingNumberFor('SwiftPost', 'ord-2')).not.toBe(number);
    expect(trackingNumberFor('GlobeExpress', 'ord-1')).toMatch(/^GX\d{11}$/);
  });

  it('detects a mistyped tracking number', () => {
    const number = trackingNumberFor('ParcelWay', 'ord-1');
    const last = Number(number.at(-1));
    expect(isValidTrackingNumber(`${number.slice(0, -1)}${(last + 1) % 10}`)).toBe(false);
    expect(isValidTrackingNumber(`ZZ${number.slice(2)}`)).toBe(false);
  });
});

describe('shipper step', () => {
  const order = sampleOrder({ placedAt: '2026-11-24T10:00:00.000Z' });
  const parcel = { parcelId: 'PCL-1', weightGrams: 875, size: 'S' } as const;
  const event = newEvent('OrderPickedAndPacked', {
    eventId: orderEventId('ord-1', 'OrderPickedAndPacked'),
    correlationId: 'ord-1',
    causationId: 'evt-confirmed',
    source: 'warehouse',
    occurredAt: new Date('2026-11-24T10:00:02.000Z'),
    data: {
      order,
      parcel,
      packedAt: '2026-11-24T10:00:02.000Z',
    },
  });
  const now = new Date('2026-11-24T10:00:03.000Z');
  const context = { logger: new RecordingLogger(), now };

  it('books a carrier, stores the tracking number and tells the customer, measuring the whole journey', async () => {
    const orders = new MemoryOrders();
    orders.items.set('ord-1', { ...storedOrder(order), status: 'PACKED', parcel });
    const outcome = await shipperStep({ orders }).process(event, context);
    const stored = await orders.get('ord-1');
    expect(stored).toMatchObject({
      status: 'SHIPPED',
      carrier: 'SwiftPost',
      trackingNumber: trackingNumberFor('SwiftPost', 'ord-1'),
    });
    const notice = JSON.parse(outcome.events[0]?.value.toString() ?? '{}');
    expect(notice.data).toMatchObject({
      kind: 'order-shipped',
      details: { carrier: 'SwiftPost', trackingNumber: stored?.trackingNumber },
    });
    expect(outcome.kpis).toEqual([
      { name: 'OrdersShipped', value: 1, unit: 'Count' },
      { name: 'StepLatency', value: 1_000, unit: 'Milliseconds' },
      { name: 'EndToEndLatency', value: 3_000, unit: 'Milliseconds' },
    ]);
  });

  it('re-produces the same notice for an order already shipped', async () => {
    const orders = new MemoryOrders();
    orders.items.set('ord-1', { ...storedOrder(order), status: 'PACKED', parcel });
    const step = shipperStep({ orders });
    const first = await step.process(event, context);
    const retry = await step.process(event, context);
    expect(retry.replayed).toBe(true);
    expect(retry.events[0]?.headers['event-id']).toBe(first.events[0]?.headers['event-id']);
    expect((await orders.get('ord-1'))?.history.filter((h) => h.status === 'SHIPPED')).toHaveLength(1);
  });

  it('refuses, for good, to ship an order that was never packed', async () => {
    const orders = new MemoryOrders();
    orders.items.set('ord-1', { ...storedOrder(order), status: 'CONFIRMED' });
    await expect(shipperStep({ orders }).process(event, context)).rejects.toBeInstanceOf(
      InvalidTransitionError,
    );
  });
});
