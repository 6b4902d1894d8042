import { tableName } from '../shared/config.ts';
import { type ConsumerStep, kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { notificationId } from '../shared/notifications.ts';
import { observability } from '../shared/observability.ts';
import { assertGenuineEvent } from '../shared/orders/step.ts';
import { type DeliveryPort, deliveryIdempotencyConfig, idempotentDelivery } from './delivery.ts';
import { deliveredOutcome, notificationItem } from './logic.ts';
import { configuredSend } from './sns.ts';
import { dynamoNotifications, type NotificationsPort } from './store.ts';

/**
 * Delivers a customer notification exactly once and records it. Only the genuine notification of its
 * order and kind is acted on (its id derives from both), so an order gets at most one of each kind.
 */
export function notificationStep(ports: {
  notifications: NotificationsPort;
  delivery: DeliveryPort;
}): ConsumerStep<'Notification'> {
  return {
    name: 'notification',
    topic: 'Notification',
    async process(event, { now, logger }) {
      const { data } = event;
      assertGenuineEvent(event, data.orderId, notificationId(data.orderId, data.kind));
      const item = notificationItem(event, now);
      // Send first, record second: a failed record is retried and finds the send done, never undone.
      // Once this attempt's send succeeded, the outcome is known: the record and the completion of the
      // send's idempotency record finish while the invocation produces its KPIs (`settling`).
      let sent!: () => void;
      const sending = new Promise<'sent'>((resolve) => {
        sent = () => resolve('sent');
      });
      const delivering = ports.delivery.deliver(item, logger, sent);
      if ((await Promise.race([sending, delivering])) !== 'already-delivered') {
        const settling = Promise.all([delivering, ports.notifications.record(item)]);
        return { ...deliveredOutcome(event, false, now), settling };
      }
      // Sent by an earlier attempt, which counted it: this one only makes sure it is recorded.
      await ports.notifications.record(item);
      return deliveredOutcome(event, true, now);
    },
  };
}

const { logger, metrics } = observability('notification');
const deliveryConfig = deliveryIdempotencyConfig();

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({
    step: notificationStep({
      notifications: dynamoNotifications(dynamoDbDocumentClient(), tableName('notifications')),
      // The notifications topic (SNS on AWS, moto's locally); a missing topic ARN fails here, loudly.
      delivery: idempotentDelivery(configuredSend(), idempotencyStore(), deliveryConfig),
    }),
    deps: { produce },
  }),
}).before(({ context }) => deliveryConfig.registerLambdaContext(context));

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
