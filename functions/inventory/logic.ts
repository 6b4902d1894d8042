import { encode, newEvent } from '../../events/codec.ts';
import type { OrderReceived } from '../../events/schemas/events.ts';
import type { LineItem, Order } from '../../events/schemas/order.ts';
import { count, latency } from '../shared/kpis.ts';
import { notificationRecord } from '../shared/notifications.ts';
import { orderEventId } from '../shared/orders/events.ts';
import type { StepOutcome } from '../shared/step-types.ts';

export interface ReservationLine {
  sku: string;
  quantity: number;
}

/** A DynamoDB transaction holds at most 100 actions: one per SKU, plus the order's status update. */
export const MAX_RESERVATION_LINES = 99;

export type ReservationPlan = { ok: true; lines: ReservationLine[] } | { ok: false; reason: string };

/**
 * The stock to reserve: one line per SKU (lines of the same SKU are merged, a transaction may touch an
 * item only once), in SKU order so that concurrent transactions touch items in the same order.
 */
export function reservationPlan(items: readonly LineItem[]): ReservationPlan {
  const quantities = new Map<string, number>();
  for (const item of items) quantities.set(item.sku, (quantities.get(item.sku) ?? 0) + item.quantity);
  if (quantities.size > MAX_RESERVATION_LINES) {
    return {
      ok: false,
      reason: `too many different products (${quantities.size}); at most ${MAX_RESERVATION_LINES} per order`,
    };
  }
  const lines = [...quantities].map(([sku, quantity]) => ({ sku, quantity }));
  lines.sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
  return { ok: true, lines };
}

/**
 * Why the order cannot be reserved, given the stock now available per SKU (a SKU missing from `available`
 * is not in the inventory). Undefined when every line can be reserved after all (stock came back between
 * the refused transaction and this read): the caller tries the transaction again.
 */
export function rejectionReason(
  lines: readonly ReservationLine[],
  available: ReadonlyMap<string, number>,
): string | undefined {
  const problems = lines.flatMap((line) => {
    const stock = available.get(line.sku);
    if (stock === undefined) return [`${line.sku} is not a product we sell`];
    if (stock < line.quantity) {
      return [
        stock <= 0
          ? `${line.sku} is out of stock`
          : `${line.sku}: ${line.quantity} requested, only ${stock} available`,
      ];
    }
    return [];
  });
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/**
 * OrderConfirmed, built from the stored order (whose digest the event's
 * copy matched), with ids derived from the order: a retried attempt re-produces them identically.
 */
export function confirmedOutcome(
  event: OrderReceived,
  order: Order,
  reservedAt: string,
  replayed: boolean,
  now: Date,
): StepOutcome {
  const confirmed = newEvent('OrderConfirmed', {
    eventId: orderEventId(order.orderId, 'OrderConfirmed'),
    correlationId: order.orderId,
    causationId: event.eventId,
    source: 'inventory',
    occurredAt: now,
    data: { order, reservedAt },
  });
  return {
    orderId: order.orderId,
    // No customer message here: the warehouse's follows within moments and says what this one would.
    events: [encode('OrderConfirmed', confirmed)],
    kpis: [count('OrdersConfirmed'), latency('StepLatency', event.occurredAt, now)],
    replayed,
    summary: `confirmed, ${order.items.length} line(s) reserved`,
  };
}

/** The customer's rejection notice, from the stored order and reason; nothing was reserved. */
export function rejectedOutcome(
  event: OrderReceived,
  order: Order,
  reason: string,
  replayed: boolean,
  now: Date,
): StepOutcome {
  return {
    orderId: order.orderId,
    events: [notificationRecord('inventory', event.eventId, order, { kind: 'order-rejected', reason }, now)],
    kpis: [count('OrdersRejected'), latency('StepLatency', event.occurredAt, now)],
    replayed,
    summary: `rejected: ${reason}`,
  };
}
