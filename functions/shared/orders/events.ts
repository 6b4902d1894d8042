import { deterministicEventId, type EncodedRecord, encode, newEvent } from '../../../events/codec.ts';
import type { Order } from '../../../events/schemas/order.ts';

/**
 * The id of an order's OrderReceived. It derives from the order id alone, so order-api, a retry of it
 * and the outbox sweeper all produce the same event, and a consumer can tell the genuine event from a
 * forged one (another id for the same order).
 */
export const orderReceivedId = (orderId: string): string =>
  deterministicEventId(`order-api|${orderId}`, 'OrderReceived');

/**
 * The OrderReceived record of an accepted order. Throws `EventDecodeError` when the order does not fit
 * the event schema: order-api builds it before writing the order, so such an order is refused (400),
 * never written.
 */
export function orderReceivedRecord(order: Order, causationId: string, occurredAt: Date): EncodedRecord {
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
