import { tableName } from '../shared/config.ts';
import { idempotencyStore, registerInvocation } from '../shared/idempotency.ts';
import { stepHandler } from '../shared/step-handler.ts';
import { deliveryIdempotencyConfig, idempotentDelivery } from './delivery.ts';
import { dynamoNotifications } from './notifications-store.ts';
import { configuredSend } from './sns.ts';
import { notificationStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`, the SNS publish `sns.ts` under `delivery.ts`.
const deliveryConfig = deliveryIdempotencyConfig();

export const handler = stepHandler('notification', ({ client, orders }) =>
  notificationStep({
    orders,
    notifications: dynamoNotifications(client, tableName('notifications')),
    // The notifications topic (SNS on AWS, moto's locally); a missing topic ARN fails here, loudly.
    delivery: idempotentDelivery(configuredSend(), idempotencyStore(), deliveryConfig),
  }),
).before(({ context }) => registerInvocation(deliveryConfig, context));
