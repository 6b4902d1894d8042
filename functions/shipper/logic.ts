import { createHash } from 'node:crypto';
import type { OrderPickedAndPacked } from '../../events/schemas/events.ts';
import type { Order } from '../../events/schemas/order.ts';
import { count, latency } from '../shared/kpis.ts';
import { notificationRecord } from '../shared/notifications.ts';
import type { StepOutcome } from '../shared/step-types.ts';

/** The country the warehouse ships from. */
export const ORIGIN_COUNTRY = 'US';
/** Above this weight a domestic parcel goes with the heavy-parcel carrier. */
export const LIGHT_PARCEL_MAX_GRAMS = 2_000;

export const carriers = {
  SwiftPost: { prefix: 'SP', service: 'domestic, light parcels' },
  ParcelWay: { prefix: 'PW', service: 'domestic, heavy parcels' },
  GlobeExpress: { prefix: 'GX', service: 'international' },
} as const;
export type Carrier = keyof typeof carriers;

/** Books the carrier for a parcel: by destination first, then by weight. The same parcel always gets the same one. */
export function chooseCarrier(destinationCountry: string, weightGrams: number): Carrier {
  if (destinationCountry !== ORIGIN_COUNTRY) return 'GlobeExpress';
  return weightGrams <= LIGHT_PARCEL_MAX_GRAMS ? 'SwiftPost' : 'ParcelWay';
}

/** The Luhn check digit of a string of digits. */
export function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    // Doubling starts from the rightmost digit, the one next to the check digit.
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

/**
 * The tracking number of an order's parcel with a carrier: the carrier's prefix, ten digits derived from
 * the order id, and a Luhn check digit. Deterministic, so a retried booking yields the same number.
 */
export function trackingNumberFor(carrier: Carrier, orderId: string): string {
  const hash = createHash('sha256').update(`${carrier}|${orderId}`).digest('hex');
  const digits = (BigInt(`0x${hash.slice(0, 16)}`) % 10_000_000_000n).toString().padStart(10, '0');
  return `${carriers[carrier].prefix}${digits}${luhnCheckDigit(digits)}`;
}

export function isValidTrackingNumber(trackingNumber: string): boolean {
  const match = /^([A-Z]{2})(\d{10})(\d)$/.exec(trackingNumber);
  if (!match) return false;
  const [, prefix, digits, check] = match;
  return (
    Object.values(carriers).some((c) => c.prefix === prefix) &&
    luhnCheckDigit(digits as string) === Number(check)
  );
}

export interface Booking {
  carrier: Carrier;
  trackingNumber: string;
}

export function bookShipment(event: OrderPickedAndPacked): Booking {
  const { order, parcel } = event.data;
  const carrier = chooseCarrier(order.shippingAddress.country, parcel.weightGrams);
  return { carrier, trackingNumber: trackingNumberFor(carrier, order.orderId) };
}

/** The customer's shipping notice, with carrier and tracking number; the order's journey ends here. */
export function shippedOutcome(
  event: OrderPickedAndPacked,
  order: Order,
  booking: Booking,
  replayed: boolean,
  now: Date,
): StepOutcome {
  return {
    orderId: order.orderId,
    events: [notificationRecord('shipper', event.eventId, order, { kind: 'order-shipped', ...booking }, now)],
    kpis: [
      count('OrdersShipped'),
      latency('StepLatency', event.occurredAt, now),
      latency('EndToEndLatency', order.placedAt, now),
    ],
    replayed,
    summary: `shipped with ${booking.carrier}, tracking ${booking.trackingNumber}`,
  };
}
