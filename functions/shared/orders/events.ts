import { ZodError } from 'zod';
import {
  deterministicEventId,
  type EncodedRecord,
  EventDecodeError,
  encode,
  issuesOf,
  newEvent,
} from '../../../events/codec.ts';
import type { Order } from '../../../events/schemas/order.ts';
import { reachedAt, type StoredOrder } from './model.ts';

/**
 * The id of an order's event of one type (and kind, for notifications). It derives from the order id
 * alone, never from the event that caused it: each order has at most one event of each type and kind,
 * ever; a retried or redelivered step re-produces the same ids; and a consumer tells the genuine event
 * from a forged or stale one (another id for the same order) and refuses the latter.
 */
export const orderEventId = (orderId: string, eventType: string, kind = ''): string =>
  deterministicEventId(`order|${orderId}`, eventType, kind);

/** The id of an order's OrderReceived: order-api, its retries and the outbox sweeper produce the same. */
export const orderReceivedId = (orderId: string): string => orderEventId(orderId, 'OrderReceived');

/**
 * The OrderReceived record of an accepted order. Throws `EventDecodeError` when the order does not fit
 * the event schema: order-api builds it before writing the order, so such an order is refused (400),
 * never written.
 */
export function orderReceivedRecord(order: Order, causationId: string, occurredAt: Date): EncodedRecord {
  try {
    return buildOrderReceived(order, causationId, occurredAt);
  } catch (error) {
    // newEvent validates first and throws zod's error: one error type for every schema misfit.
    if (error instanceof ZodError) throw new EventDecodeError('schema', issuesOf(error));
    throw error;
  }
}

function buildOrderReceived(order: Order, causationId: string, occurredAt: Date): EncodedRecord {
  return encode(
    'OrderReceived',
    newEvent('OrderReceived', {
      eventId: orderReceivedId(order.orderId),
      correlationId: order.orderId,
      causationId,
      source: 'order-api',
      occurredAt,
      data: { order },
    }),
  );
}

/**
 * The OrderCancelled of a cancelled order, from the stored order: order-api after the cancellation,
 * a repeated cancel and the outbox sweeper all produce the same event (its id derives from the order).
 */
export function orderCancelledRecord(stored: StoredOrder, causationId: string): EncodedRecord {
  const cancelledAt = reachedAt(stored, 'CANCELLED');
  if (stored.status !== 'CANCELLED' || !cancelledAt) {
    throw new Error(`order ${stored.orderId} is ${stored.status}, not cancelled`);
  }
  return encode(
    'OrderCancelled',
    newEvent('OrderCancelled', {
      eventId: orderEventId(stored.orderId, 'OrderCancelled'),
      correlationId: stored.orderId,
      causationId: causationId.slice(0, 128),
      source: 'order-api',
      occurredAt: new Date(cancelledAt),
      data: {
        orderId: stored.orderId,
        ...(stored.cancellationReason ? { reason: stored.cancellationReason } : {}),
        cancelledAt,
      },
    }),
  );
}
