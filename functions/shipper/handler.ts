import { tableName } from '../shared/config.ts';
import { type ConsumerStep, kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { hasReached } from '../shared/orders/model.ts';
import { dynamoOrders, type OrdersPort } from '../shared/orders/repository.ts';
import { bookShipment, shippedOutcome } from './logic.ts';

/** Books a carrier for a packed order: PACKED → SHIPPED, then the shipping notice. */
export function shipperStep(ports: { orders: OrdersPort }): ConsumerStep<'OrderPickedAndPacked'> {
  return {
    name: 'shipper',
    topic: 'OrderPickedAndPacked',
    async process(event, { now }) {
      const { order } = event.data;
      const booking = bookShipment(event);
      const shippedAt = now.toISOString();
      const result = await ports.orders.transition({
        orderId: order.orderId,
        from: ['PACKED'],
        to: 'SHIPPED',
        at: shippedAt,
        detail: `${booking.carrier} ${booking.trackingNumber}`,
        set: { ...booking, shippedAt },
        order,
      });
      if (result.applied) return shippedOutcome(event, booking, false, now);
      const current = result.current;
      if (current && hasReached(current.status, 'SHIPPED')) return shippedOutcome(event, booking, true, now);
      throw new InvalidTransitionError(
        `order ${order.orderId} is ${current?.status ?? 'missing'}, it cannot be shipped`,
      );
    },
  };
}

const { logger, metrics } = observability('shipper');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({
    step: shipperStep({ orders: dynamoOrders(dynamoDbDocumentClient(), tableName('orders')) }),
    deps: { produce, persistenceStore: idempotencyStore() },
  }),
});

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
