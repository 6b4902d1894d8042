import type { OrderReceived } from '../../events/schemas/events.ts';
import { tableName } from '../shared/config.ts';
import { type ConsumerStep, kafkaConsumerHandler, type StepOutcome } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import type { StoredOrder, Transition } from '../shared/orders/model.ts';
import { dynamoOrders, type OrdersPort } from '../shared/orders/repository.ts';
import { serialized } from '../shared/serialize.ts';
import { confirmedOutcome, rejectedOutcome, rejectionReason, reservationPlan } from './logic.ts';
import { dynamoStock, type StockPort } from './stock.ts';

export interface InventoryPorts {
  orders: OrdersPort;
  stock: StockPort;
}

/** Stock that comes back between a refused reservation and the re-read is retried this many times. */
const RESERVATION_ATTEMPTS = 3;

/**
 * Reserves the stock of every line of an order, or rejects the whole order. Whatever an earlier,
 * crashed attempt decided is found in the orders table and re-announced as it was.
 */
export function inventoryStep(ports: InventoryPorts): ConsumerStep<'OrderReceived'> {
  const { orders, stock } = ports;
  // One reservation at a time per execution environment: concurrent transactions on a hot SKU would
  // only conflict (TransactionConflict, a batch retry), and locally moto rolls a failed transaction
  // back by restoring whole-table snapshots, which would undo a concurrent reservation.
  const reservations = serialized();

  /** The outcome an earlier attempt reached, re-produced from the stored order. */
  function decidedEarlier(event: OrderReceived, current: StoredOrder | undefined, now: Date): StepOutcome {
    if (!current || current.status === 'RECEIVED') {
      // Refused, yet still RECEIVED: a concurrent change raced us. Transient: the batch is retried.
      throw new Error(`order ${event.data.order.orderId} changed during its reservation`);
    }
    if (current.status === 'REJECTED') {
      return rejectedOutcome(event, current.rejectionReason ?? 'rejected', true, now);
    }
    return confirmedOutcome(event, current.confirmedAt ?? current.updatedAt ?? now.toISOString(), true, now);
  }

  async function reject(event: OrderReceived, reason: string, now: Date): Promise<StepOutcome> {
    const { order } = event.data;
    const at = now.toISOString();
    const result = await orders.transition({
      orderId: order.orderId,
      from: ['RECEIVED'],
      to: 'REJECTED',
      at,
      detail: reason,
      set: { rejectedAt: at, rejectionReason: reason },
      order,
    });
    return result.applied
      ? rejectedOutcome(event, reason, false, now)
      : decidedEarlier(event, result.current, now);
  }

  return {
    name: 'inventory',
    topic: 'OrderReceived',
    async process(event, { now }) {
      const { order } = event.data;
      const plan = reservationPlan(order.items);
      if (!plan.ok) return reject(event, plan.reason, now);
      const at = now.toISOString();
      const confirm: Transition = {
        orderId: order.orderId,
        from: ['RECEIVED'],
        to: 'CONFIRMED',
        at,
        detail: `${plan.lines.length} SKU(s) reserved`,
        set: { confirmedAt: at },
        order,
      };
      const skus = plan.lines.map((line) => line.sku);
      return reservations(async () => {
        for (let attempt = 1; attempt <= RESERVATION_ATTEMPTS; attempt += 1) {
          // Read first: a short order is rejected without a transaction that is bound to fail.
          const reason = rejectionReason(plan.lines, await stock.available(skus));
          if (reason) return reject(event, reason, now);
          const result = await stock.reserve(plan.lines, confirm);
          if (result.kind === 'reserved') return confirmedOutcome(event, at, false, now);
          if (result.kind === 'order-moved-on')
            return decidedEarlier(event, await orders.get(order.orderId), now);
          // Short after all: another instance took the stock since the read. Read again.
        }
        throw new Error(
          `stock of order ${order.orderId} kept changing during ${RESERVATION_ATTEMPTS} attempts`,
        );
      });
    },
  };
}

const { logger, metrics } = observability('inventory');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => {
    const client = dynamoDbDocumentClient();
    const orders = dynamoOrders(client, tableName('orders'));
    const stock = dynamoStock(
      client,
      { inventory: tableName('inventory'), orders: tableName('orders') },
      orders,
    );
    return {
      step: inventoryStep({ orders, stock }),
      deps: { produce, persistenceStore: idempotencyStore() },
    };
  },
});

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
export { catalog, seedInventory } from './catalog.ts';
