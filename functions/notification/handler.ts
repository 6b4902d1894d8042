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
      // Send first, record second: a failed record is retried and finds the send done, never undone. The
      // record starts once the send succeeded, beside the completion of the send's idempotency record.
      let recording: ReturnType<NotificationsPort['record']> | undefined;
      const delivered = await ports.delivery.deliver(item, logger, () => {
        recording = ports.notifications.record(item);
        // Awaited below; if completing the idempotency record fails first, the batch is retried anyway.
        recording.catch(() => undefined);
      });
      const recorded = await (recording ?? ports.notifications.record(item));
      return deliveredOutcome(
        event,
        delivered === 'already-delivered' && recorded === 'already-recorded',
        now,
      );
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
