import { tableName } from '../shared/config.ts';
import { type ConsumerStep, kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { deliveredOutcome, notificationItem, notifiedEntry } from './logic.ts';
import { dynamoNotifications, type NotificationsPort } from './store.ts';

/** Delivers a customer notification (a log line stands for the e-mail) and records it, exactly once. */
export function notificationStep(ports: { notifications: NotificationsPort }): ConsumerStep<'Notification'> {
  return {
    name: 'notification',
    topic: 'Notification',
    async process(event, { now, logger }) {
      const result = await ports.notifications.record(
        notificationItem(event, now),
        notifiedEntry(event.data.kind, now),
      );
      if (result === 'recorded') {
        // The delivery itself. Ids and kind only: the text, and even a customer id, may name the customer.
        logger.info('notification delivered', {
          notificationId: event.eventId,
          kind: event.data.kind,
          channel: event.data.channel,
        });
      }
      return deliveredOutcome(event, result === 'already-recorded', now);
    },
  };
}

const { logger, metrics } = observability('notification');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({
    step: notificationStep({
      notifications: dynamoNotifications(dynamoDbDocumentClient(), {
        notifications: tableName('notifications'),
        orders: tableName('orders'),
      }),
    }),
    deps: { produce, persistenceStore: idempotencyStore() },
  }),
});

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
