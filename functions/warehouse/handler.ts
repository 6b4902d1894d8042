import { catalogBySku } from '../inventory/catalog.ts';
import { tableName } from '../shared/config.ts';
import { type ConsumerStep, kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { hasReached } from '../shared/orders/model.ts';
import { dynamoOrders, type OrdersPort } from '../shared/orders/repository.ts';
import { packedOutcome, packParcel } from './logic.ts';

/** Picks and packs a confirmed order: CONFIRMED → PACKED, then OrderPickedAndPacked. */
export function warehouseStep(ports: { orders: OrdersPort }): ConsumerStep<'OrderConfirmed'> {
  return {
    name: 'warehouse',
    topic: 'OrderConfirmed',
    async process(event, { now }) {
      const { order } = event.data;
      const parcel = packParcel(order, (sku) => catalogBySku.get(sku)?.weightGrams);
      const packedAt = now.toISOString();
      const result = await ports.orders.transition({
        orderId: order.orderId,
        from: ['CONFIRMED'],
        to: 'PACKED',
        at: packedAt,
        detail: `parcel ${parcel.parcelId}, ${parcel.weightGrams} g`,
        set: { parcel, packedAt },
        order,
      });
      if (result.applied) return packedOutcome(event, parcel, packedAt, false, now);
      const current = result.current;
      if (current && hasReached(current.status, 'PACKED')) {
        // Packed by an earlier attempt that crashed before recording it: announce the same parcel again.
        return packedOutcome(event, current.parcel ?? parcel, current.packedAt ?? packedAt, true, now);
      }
      throw new InvalidTransitionError(
        `order ${order.orderId} is ${current?.status ?? 'missing'}, it cannot be packed`,
      );
    },
  };
}

const { logger, metrics } = observability('warehouse');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({
    step: warehouseStep({ orders: dynamoOrders(dynamoDbDocumentClient(), tableName('orders')) }),
    deps: { produce, persistenceStore: idempotencyStore() },
  }),
});

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
