import { setTimeout as sleep } from 'node:timers/promises';
import type { OrderCancelled } from '../../events/schemas/events.ts';
import { tableName } from '../shared/config.ts';
import { type ConsumerStep, kafkaConsumerHandler, type StepOutcome } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { produce } from '../shared/kafka/producer.ts';
import { count, latency } from '../shared/kpis.ts';
import { notificationRecord } from '../shared/notifications.ts';
import { observability } from '../shared/observability.ts';
import { orderEventId } from '../shared/orders/events.ts';
import { orderOf, RESERVED_STATUSES, type StoredOrder } from '../shared/orders/model.ts';
import { dynamoOrders, type OrdersPort } from '../shared/orders/repository.ts';
import { assertGenuineEvent } from '../shared/orders/step.ts';
import { reservationPlan } from './logic.ts';
import { dynamoRelease, type ReleasePort } from './release-stock.ts';

const RELEASE_ATTEMPTS = 6;

/** The customer's notice and the KPIs of a cancellation, from the stored order. */
export function cancelledOutcome(
  event: OrderCancelled,
  stored: StoredOrder,
  unitsReleased: number,
  replayed: boolean,
  now: Date,
): StepOutcome {
  const reason = stored.cancellationReason;
  // OrdersCancelled is order-api's (where the cancellation is applied): counted here too, it counted twice.
  const kpis = [latency('StepLatency', event.occurredAt, now)];
  if (unitsReleased > 0) kpis.push(count('StockReleased', unitsReleased));
  return {
    orderId: stored.orderId,
    events: [
      notificationRecord(
        'inventory-release',
        event.eventId,
        orderOf(stored),
        { kind: 'order-cancelled', ...(reason ? { reason } : {}) },
        now,
      ),
    ],
    kpis,
    replayed,
    summary:
      unitsReleased > 0
        ? `cancelled, ${unitsReleased} unit(s) back in stock`
        : 'cancelled, nothing was reserved',
  };
}

/**
 * The compensating step of inventory: gives back exactly the units it reserved for a cancelled order,
 * exactly once, and tells the customer. What was reserved is read from the order as stored — the status
 * the cancellation found (`cancelledFrom`) says whether a reservation had happened, the stored lines say
 * what it held — never from the event.
 */
export function releaseStep(ports: {
  orders: OrdersPort;
  stock: ReleasePort;
}): ConsumerStep<'OrderCancelled'> {
  return {
    name: 'inventory-release',
    topic: 'OrderCancelled',
    async process(event, { now }) {
      const { orderId } = event.data;
      assertGenuineEvent(event, orderId, orderEventId(orderId, 'OrderCancelled'));
      const stored = await ports.orders.get(orderId);
      if (!stored)
        throw new InvalidTransitionError(`order ${orderId} is unknown; only order-api creates orders`);
      if (stored.status !== 'CANCELLED' || !stored.cancelledFrom) {
        throw new InvalidTransitionError(`order ${orderId} is ${stored.status}, not cancelled`);
      }
      const reserved = RESERVED_STATUSES.includes(stored.cancelledFrom);
      const plan = reservationPlan(stored.items);
      const lines = reserved && plan.ok ? plan.lines : [];
      const units = lines.reduce((sum, line) => sum + line.quantity, 0);
      if (stored.stockReleased !== undefined) return cancelledOutcome(event, stored, units, true, now);
      for (let attempt = 1; attempt <= RELEASE_ATTEMPTS; attempt += 1) {
        const result = await ports.stock.release(orderId, lines, reserved);
        if (result.kind === 'released') return cancelledOutcome(event, stored, units, false, now);
        if (result.kind === 'already-released') return cancelledOutcome(event, stored, units, true, now);
        await sleep(Math.random() * 20 * 2 ** attempt);
      }
      throw new Error(
        `stock release of order ${orderId} kept conflicting during ${RELEASE_ATTEMPTS} attempts`,
      );
    },
  };
}

const { logger, metrics } = observability('inventory-release');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => {
    const client = dynamoDbDocumentClient();
    return {
      step: releaseStep({
        orders: dynamoOrders(client, tableName('orders')),
        stock: dynamoRelease(client, { inventory: tableName('inventory'), orders: tableName('orders') }),
      }),
      deps: { produce },
    };
  },
});

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
