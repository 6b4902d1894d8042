/** Sending orders: `POST /orders` on the API emulator, or a record on the baseline's first topic. */
import { Producer } from '@platformatic/kafka';
import { totalInCents } from '../../events/schemas/order.ts';
import { orderFromRequest } from '../../functions/order-api/logic.ts';
import { connectionOptions } from '../../functions/shared/kafka/connection.ts';
import { producerOptions, type RecordProducer } from '../../functions/shared/kafka/producer.ts';
import { orderReceivedRecord } from '../../functions/shared/orders/events.ts';
import { type ApiUrl, postUntilFinal } from './client-retry.ts';
import type { OrderBody } from './orders.ts';

/**
 * POSTs an order with an order id of the client's own, the way a careful client does: the id makes the
 * request idempotent (the order's conditional write guards it: same id and content, the original answer),
 * so a network error, a 5xx or a 429 is retried with the same body until `deadlineMs`, and a retry can
 * never create a second order. (An `Idempotency-Key` header would add Powertools' record to the order:
 * two more writes, the path of a client that lets the API choose the id.)
 * Resolves with the order id of the 202 answer; any 4xx is refused for good.
 */
export function postOrder(
  apiUrl: ApiUrl,
  order: OrderBody,
  options: { deadlineMs?: number; onRetry?: (reason: string) => void } = {},
): Promise<string> {
  const accepted = (status: number, text: string) =>
    status === 202 ? (JSON.parse(text) as { orderId: string }).orderId : undefined;
  return postUntilFinal(apiUrl, '/orders', order, accepted, { what: 'POST /orders', ...options });
}

/**
 * Produces baseline orders with the functions' producer settings, each as the OrderReceived record
 * order-api would write for it (what the baseline chain forwards, byte for byte as big); `send` resolves
 * once acknowledged.
 */
export function baselineSender(brokers: string[], topic: string) {
  const producer: RecordProducer = new Producer(
    producerOptions(connectionOptions({ brokers, auth: 'none', clientId: 'bench-baseline-source' })),
  );
  return {
    async send(order: OrderBody): Promise<string> {
      const priced = { items: order.items, total: totalInCents(order.items) / 100 };
      const placed = orderFromRequest({ ...order, currency: 'USD' }, priced, order.orderId, new Date());
      await producer.send({
        messages: [{ ...orderReceivedRecord(placed, order.orderId, new Date()), topic }],
      });
      return order.orderId;
    },
    close: () => producer.close(),
  };
}
