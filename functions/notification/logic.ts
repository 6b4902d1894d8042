import type { Notification, NotificationKind } from '../../events/schemas/events.ts';
import type { StepOutcome } from '../shared/consumer.ts';
import { count, type Kpi, latency } from '../shared/kpis.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';

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

export function notificationItem(event: Notification, deliveredAt: Date): NotificationItem {
  const { data } = event;
  return {
    orderId: data.orderId,
    notificationId: event.eventId,
    kind: data.kind,
    channel: data.channel,
    customerId: data.customerId,
    subject: data.subject,
    message: data.message,
    details: data.details,
    source: event.source,
    causationId: event.causationId,
    deliveredAt: deliveredAt.toISOString(),
  };
}

export const notifiedEntry = (kind: NotificationKind, at: Date): HistoryEntry => ({
  status: 'NOTIFIED',
  at: at.toISOString(),
  detail: `notified:${kind}`,
});

/** Counts, latency of this step and, once the order's journey is over, its end-to-end latency. */
export function deliveryKpis(event: Notification, now: Date): Kpi[] {
  const kpis = [count('NotificationsDelivered'), latency('StepLatency', event.occurredAt, now)];
  const placedAt = event.data.details.placedAt;
  if (FINAL_KINDS.has(event.data.kind) && typeof placedAt === 'string') {
    kpis.push(latency('EndToEndLatency', placedAt, now));
  }
  return kpis;
}

export function deliveredOutcome(event: Notification, replayed: boolean, now: Date): StepOutcome {
  return {
    orderId: event.data.orderId,
    events: [],
    kpis: deliveryKpis(event, now),
    replayed,
    summary: `${event.data.kind} ${replayed ? 'was already delivered' : 'delivered'} by ${event.data.channel}`,
  };
}
