import type { Notification } from '../../events/schemas/events.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import {
  entitlement,
  type GenuineNotification,
  genuineNotification,
  notificationId,
} from '../shared/notifications.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import { assertGenuineEvent } from '../shared/orders/step.ts';
import type { ConsumerStep } from '../shared/step-types.ts';
import type { DeliveryPort } from './delivery.ts';
import { claimsOtherContent, deliveredOutcome, notificationItem } from './logic.ts';
import type { NotificationsPort } from './notifications-store.ts';

/**
 * The genuine notification a record asks for: its id must be its order's and kind's, and the stored
 * order must be owed that kind now (see `entitlement`). What is sent is built from the stored order; the
 * record's text, customer and details are never used. A refusal touches nothing (no idempotency record),
 * so the genuine record, which its step produces only once the order is there, is still sent.
 */
async function genuineOf(event: Notification, orders: OrderReader): Promise<GenuineNotification> {
  const { orderId, kind } = event.data;
  assertGenuineEvent(event, orderId, notificationId(orderId, kind));
  const owed = entitlement(await orders.get(orderId), kind);
  // Dead-lettered, not retried: a record ahead of its order is not the owning step's, and retrying it
  // would hold up its partition.
  if (!owed.ok) throw new InvalidTransitionError(`order ${orderId} ${owed.why}`);
  return genuineNotification(owed.order, owed.facts);
}

export type OrderReader = Pick<OrdersPort, 'get'>;

/** The stored order (read only), the notifications table, and the send under idempotency. */
interface NotificationPorts {
  orders: OrderReader;
  notifications: NotificationsPort;
  delivery: DeliveryPort;
}

/**
 * Delivers a customer notification exactly once and records it: at most one of each kind per order, only
 * when the stored order is owed it, and always the text the stored order gives.
 */
export function notificationStep({
  orders,
  notifications,
  delivery,
}: NotificationPorts): ConsumerStep<'Notification'> {
  return {
    name: 'notification',
    topic: 'Notification',
    async process(event, { now, logger }) {
      const genuine = await genuineOf(event, orders);
      if (claimsOtherContent(event, genuine)) {
        logger.warn("the record's content is not the stored order's; the stored order's is sent", {
          kind: genuine.kind,
        });
      }
      const item = notificationItem(genuine, now);
      // Send first, record second: a failed record is retried and finds the send done, never undone.
      // Once this attempt's send succeeded, the outcome is known: the record and the completion of the
      // send's idempotency record finish while the invocation produces its KPIs (`settling`).
      let sent!: () => void;
      const sending = new Promise<'sent'>((resolve) => {
        sent = () => resolve('sent');
      });
      const delivering = delivery.deliver(item, logger, sent);
      if ((await Promise.race([sending, delivering])) !== 'already-delivered') {
        const settling = Promise.all([delivering, notifications.record(item)]);
        return { ...deliveredOutcome(event, genuine, false, now), settling };
      }
      // Sent by an earlier attempt, which counted it: this one only makes sure it is recorded.
      await notifications.record(item);
      return deliveredOutcome(event, genuine, true, now);
    },
  };
}
