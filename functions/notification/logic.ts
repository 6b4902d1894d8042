import type { Notification, NotificationKind } from '../../events/schemas/events.ts';
import { count, type Kpi, latency } from '../shared/kpis.ts';
import type { GenuineNotification } from '../shared/notifications.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';
import type { StepOutcome } from '../shared/step-types.ts';

/** The notifications after which nothing more happens to an order: the end of its journey. */
export const FINAL_KINDS: ReadonlySet<NotificationKind> = new Set([
  'order-shipped',
  'order-rejected',
  'order-cancelled',
]);

/** An item of the notifications table: one per delivered notification, keyed by order id and event id. */
export interface NotificationItem {
  orderId: string;
  notificationId: string;
  kind: NotificationKind;
  channel: Notification['data']['channel'];
  customerId: string;
  subject: string;
  message: string;
  details: Record<string, string | number>;
  source: Notification['source'];
  causationId: string;
  deliveredAt: string;
}

/** The item of a delivered notification: the genuine one, built from the stored order, never the record. */
export function notificationItem(genuine: GenuineNotification, deliveredAt: Date): NotificationItem {
  return {
    orderId: genuine.orderId,
    notificationId: genuine.notificationId,
    kind: genuine.kind,
    channel: genuine.channel,
    customerId: genuine.customerId,
    subject: genuine.subject,
    message: genuine.message,
    details: genuine.details,
    source: genuine.source,
    causationId: genuine.causationId,
    deliveredAt: deliveredAt.toISOString(),
  };
}

/** Sorted keys: a record's details are the same facts whatever order their keys came in. */
const canonical = (details: Record<string, string | number>) =>
  JSON.stringify(Object.entries(details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Whether the record claims anything the stored order does not say: a forged or stale text. */
export function claimsOtherContent(event: Notification, genuine: GenuineNotification): boolean {
  const { data } = event;
  return (
    data.customerId !== genuine.customerId ||
    data.subject !== genuine.subject ||
    data.message !== genuine.message ||
    canonical(data.details) !== canonical(genuine.details)
  );
}

export const notifiedEntry = (kind: NotificationKind, at: Date): HistoryEntry => ({
  status: 'NOTIFIED',
  at: at.toISOString(),
  detail: `notified:${kind}`,
});

/**
 * Counts, latency of this step (from the record's time, untrusted: the KPIs drop what is no latency)
 * and, once the order's journey is over, its end-to-end latency from the stored order.
 */
export function deliveryKpis(event: Notification, genuine: GenuineNotification, now: Date): Kpi[] {
  const kpis = [count('NotificationsDelivered'), latency('StepLatency', event.occurredAt, now)];
  if (FINAL_KINDS.has(genuine.kind)) kpis.push(latency('EndToEndLatency', genuine.placedAt, now));
  return kpis;
}

export function deliveredOutcome(
  event: Notification,
  genuine: GenuineNotification,
  replayed: boolean,
  now: Date,
): StepOutcome {
  return {
    orderId: genuine.orderId,
    events: [],
    kpis: deliveryKpis(event, genuine, now),
    replayed,
    summary: `${genuine.kind} ${replayed ? 'was already delivered' : 'delivered'} by ${genuine.channel}`,
  };
}
