import { tableName } from '../shared/config.ts';
import { kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { idempotencyStore, registerInvocation } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { dynamoOrders } from '../shared/orders/repository.ts';
import { deliveryIdempotencyConfig, idempotentDelivery } from './delivery.ts';
import { dynamoNotifications } from './notifications-store.ts';
import { configuredSend } from './sns.ts';
import { notificationStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`, the SNS publish `sns.ts` under `delivery.ts`.
const { logger, metrics } = observability('notification');
const deliveryConfig = deliveryIdempotencyConfig();

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({
    step: notificationStep({
      orders: dynamoOrders(dynamoDbDocumentClient(), tableName('orders')),
      notifications: dynamoNotifications(dynamoDbDocumentClient(), tableName('notifications')),
      // The notifications topic (SNS on AWS, moto's locally); a missing topic ARN fails here, loudly.
      delivery: idempotentDelivery(configuredSend(), idempotencyStore(), deliveryConfig),
    }),
    deps: { produce },
  }),
}).before(({ context }) => registerInvocation(deliveryConfig, context));
