import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Notification } from '../../events/schemas/events.ts';
import type { StepLogger } from '../shared/step-types.ts';

/** What goes to the customer. */
export interface OutgoingMessage {
  notificationId: string;
  orderId: string;
  customerId: string;
  kind: Notification['data']['kind'];
  channel: Notification['data']['channel'];
  subject: string;
  message: string;
}

export type DeliveryResult = 'delivered' | 'already-delivered';

export interface DeliveryPort {
  /**
   * Sends `message` unless it was sent before. `onSent` runs as soon as this call's send succeeded, while
   * the idempotency record is being completed: what must follow a send can start without waiting for it.
   */
  deliver(message: OutgoingMessage, logger: StepLogger, onSent?: () => void): Promise<DeliveryResult>;
}

/** Sends one message through the channel; it cannot be a conditional write, so it is guarded below. */
export type Send = (message: OutgoingMessage, logger: StepLogger) => Promise<void>;

/**
 * Longer than the dead-letter topic keeps its records (336 h): a notification replayed from there, even
 * late, is still recognised and not sent twice.
 */
export const DELIVERY_IDEMPOTENCY_SECONDS = 15 * 24 * 60 * 60;

/**
 * The send, exactly once per notification id, under Powertools idempotency: the one effect of the
 * pipeline that is not a conditional write. A retry after a later failure (recording the notification,
 * say) finds the send completed and does not repeat it.
 */
export function idempotentDelivery(
  send: Send,
  persistenceStore: BasePersistenceLayer,
  config: IdempotencyConfig = deliveryIdempotencyConfig(),
): DeliveryPort {
  const deliverOnce = makeIdempotent(
    async (message: OutgoingMessage, logger: StepLogger, onSent?: () => void) => {
      await send(message, logger);
      onSent?.();
      return { sent: true, replayed: false };
    },
    { persistenceStore, config, keyPrefix: 'order-pipeline.notification.deliver' },
  );
  return {
    async deliver(message, logger, onSent) {
      refuseNearDeadline(config);
      const result = (await deliverOnce(message, logger, onSent)) as { replayed?: boolean };
      return result.replayed ? 'already-delivered' : 'delivered';
    },
  };
}

/**
 * A send is not started with less time left than this. Powertools stamps the in-progress record with the
 * invocation's deadline only while time remains (`getRemainingTimeInMillis() > 0`); a send begun at or past
 * it leaves a record in progress until the 15-day expiry, which refuses every retry of the notification
 * (seen in the chaos runs on an overloaded machine). A few seconds also leave room for the SDK's retries.
 * Notification-only: the send is the one effect no conditional write guards. The 1 ms floor of the
 * registered remaining time (`registerInvocation` in ../shared/idempotency.ts) covers the gap between this
 * check and the record's put.
 */
export const DELIVERY_MIN_REMAINING_MS = 5_000;

/** Too little of the invocation is left to start a send: transient, the mapping redoes the record. */
export class DeadlineTooCloseError extends Error {
  override readonly name = 'DeadlineTooCloseError';
}

function refuseNearDeadline(config: IdempotencyConfig): void {
  const remaining = config.lambdaContext?.getRemainingTimeInMillis();
  if (remaining !== undefined && remaining < DELIVERY_MIN_REMAINING_MS) {
    throw new DeadlineTooCloseError(
      `${remaining} ms left of the invocation, under the ${DELIVERY_MIN_REMAINING_MS} ms a send needs: not started`,
    );
  }
}

/**
 * The send's idempotency settings. The handler registers each invocation's Lambda context with them
 * (`registerInvocation`), so a send interrupted by a crash is in progress only until that invocation's
 * deadline, then retried.
 */
export function deliveryIdempotencyConfig(): IdempotencyConfig {
  return new IdempotencyConfig({
    eventKeyJmesPath: 'notificationId',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: DELIVERY_IDEMPOTENCY_SECONDS,
    // Tells a completed earlier send (answered from the store) from this one's.
    responseHook: (response) => ({ ...(response as object), replayed: true }),
  });
}

/**
 * The channel chosen with `NOTIFICATION_CHANNEL=log`: a log line stands for the message. Ids and kind
 * only: the text, and even a customer id, may name the customer.
 */
export const logSend: Send = async (message, logger) => {
  logger.info('notification delivered', {
    notificationId: message.notificationId,
    kind: message.kind,
    channel: message.channel,
  });
};
