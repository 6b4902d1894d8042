import { createHash } from 'node:crypto';
import { encode, newEvent } from '../../events/codec.ts';
import type { OrderConfirmed, Parcel } from '../../events/schemas/events.ts';
import type { Order } from '../../events/schemas/order.ts';
import { count, latency } from '../shared/kpis.ts';
import { notificationRecord } from '../shared/notifications.ts';
import { orderEventId } from '../shared/orders/events.ts';
import type { StepOutcome } from '../shared/step-types.ts';

/** The weight assumed for a SKU the catalog does not know (it passed inventory, so it exists somewhere). */
export const UNKNOWN_ITEM_WEIGHT_GRAMS = 500;
/** A box, filler and a label. */
export const PACKAGING_BASE_GRAMS = 120;
/** Wrapping per unit packed. */
export const PACKAGING_PER_UNIT_GRAMS = 15;

/** Parcel sizes by total weight, as a carrier's price list would have them. */
export function parcelSize(weightGrams: number): Parcel['size'] {
  if (weightGrams <= 1_000) return 'S';
  if (weightGrams <= 5_000) return 'M';
  if (weightGrams <= 15_000) return 'L';
  return 'XL';
}

/** The same order always gets the same parcel id, so a retried packing re-announces the same parcel. */
export function parcelIdFor(orderId: string): string {
  return `PCL-${createHash('sha256').update(orderId).digest('hex').slice(0, 12).toUpperCase()}`;
}

/** Picks and packs: the parcel of an order, its weight from the catalog weights plus packaging. */
export function packParcel(order: Order, weightOf: (sku: string) => number | undefined): Parcel {
  let units = 0;
  let goods = 0;
  for (const item of order.items) {
    units += item.quantity;
    goods += (weightOf(item.sku) ?? UNKNOWN_ITEM_WEIGHT_GRAMS) * item.quantity;
  }
  const weightGrams = Math.round(goods + PACKAGING_BASE_GRAMS + PACKAGING_PER_UNIT_GRAMS * units);
  return { parcelId: parcelIdFor(order.orderId), weightGrams, size: parcelSize(weightGrams) };
}

/**
 * OrderPickedAndPacked and the customer's notice, from the stored order and parcel, with ids derived
 * from the order: a retried attempt re-produces them identically.
 */
export function packedOutcome(
  event: OrderConfirmed,
  order: Order,
  parcel: Parcel,
  packedAt: string,
  replayed: boolean,
  now: Date,
): StepOutcome {
  const packed = newEvent('OrderPickedAndPacked', {
    eventId: orderEventId(order.orderId, 'OrderPickedAndPacked'),
    correlationId: order.orderId,
    causationId: event.eventId,
    source: 'warehouse',
    occurredAt: now,
    data: { order, parcel, packedAt },
  });
  return {
    orderId: order.orderId,
    events: [
      encode('OrderPickedAndPacked', packed),
      notificationRecord('warehouse', event.eventId, order, { kind: 'order-packed', parcel }, now),
    ],
    kpis: [count('OrdersPacked'), latency('StepLatency', event.occurredAt, now)],
    replayed,
    summary: `packed in ${parcel.parcelId}, ${parcel.weightGrams} g, size ${parcel.size}`,
  };
}
