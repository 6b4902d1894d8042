import { type EncodedRecord, encode, newEvent } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { Notification, NotificationKind, Parcel } from '../../events/schemas/events.ts';
import type { Order } from '../../events/schemas/order.ts';
import { orderEventId } from './orders/events.ts';
import { orderOf, reachedAt, type StoredOrder } from './orders/model.ts';

/** The id of an order's notification of one kind: at most one of each kind per order, ever. */
export const notificationId = (orderId: string, kind: NotificationKind): string =>
  orderEventId(orderId, 'Notification', kind);

/** The facts a customer is told about, per kind of notification. */
export type NotificationFacts =
  | { kind: 'order-rejected'; reason: string }
  | { kind: 'order-packed'; parcel: Parcel }
  | { kind: 'order-shipped'; carrier: string; trackingNumber: string }
  | { kind: 'order-cancelled'; reason?: string };

export const formatMoney = (amount: number, currency: string): string => `${amount.toFixed(2)} ${currency}`;

const itemCount = (order: Order): number => order.items.reduce((sum, item) => sum + item.quantity, 0);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Subject, text and details of a notification. Texts name the order and the facts, never the address.
 * `details.placedAt` lets the notification step measure the end-to-end latency of the order.
 */
export function notificationContent(
  order: Order,
  facts: NotificationFacts,
): Pick<Notification['data'], 'subject' | 'message' | 'details'> {
  const base = { placedAt: order.placedAt };
  switch (facts.kind) {
    case 'order-rejected':
      return {
        subject: `Order ${order.orderId} could not be accepted`,
        message: `We are sorry: we could not reserve your order (${facts.reason}). You have not been charged.`,
        details: { ...base, reason: facts.reason },
      };
    case 'order-packed':
      return {
        subject: `Order ${order.orderId} confirmed and packed`,
        // The first message of a confirmed order: it says what was reserved, then how it is packed.
        message: `We have reserved your ${plural(itemCount(order), 'item')} (total ${formatMoney(order.total, order.currency)}) and packed them in parcel ${facts.parcel.parcelId} (${facts.parcel.weightGrams} g, size ${facts.parcel.size}).`,
        details: {
          ...base,
          total: order.total,
          currency: order.currency,
          parcelId: facts.parcel.parcelId,
          weightGrams: facts.parcel.weightGrams,
          size: facts.parcel.size,
        },
      };
    case 'order-shipped':
      return {
        subject: `Order ${order.orderId} shipped`,
        message: `Your order is on its way with ${facts.carrier}. Tracking number: ${facts.trackingNumber}.`,
        details: { ...base, carrier: facts.carrier, trackingNumber: facts.trackingNumber },
      };
    case 'order-cancelled':
      return {
        subject: `Order ${order.orderId} cancelled`,
        message: `Your order is cancelled${facts.reason ? ` (${facts.reason})` : ''}. You have not been charged.`,
        details: { ...base, ...(facts.reason ? { reason: facts.reason } : {}) },
      };
  }
}

/**
 * The Notification record a step produces in reaction to `causationId`. Its id derives from the order and
 * the kind, so a retried or redelivered step re-produces the same notification and it is delivered once.
 */
export function notificationRecord(
  source: StepName,
  causationId: string,
  order: Order,
  facts: NotificationFacts,
  now: Date,
): EncodedRecord {
  const kind: NotificationKind = facts.kind;
  return encode(
    'Notification',
    newEvent('Notification', {
      correlationId: order.orderId,
      causationId,
      source,
      eventId: notificationId(order.orderId, kind),
      occurredAt: now,
      data: {
        orderId: order.orderId,
        customerId: order.customerId,
        kind,
        channel: 'email',
        ...notificationContent(order, facts),
      },
    }),
  );
}

/** The kinds a step sends (order-confirmed is not: the warehouse's order-packed says it), each with its
 * step and the order's event it reacts to: a notification's source and cause follow from its kind. */
export const NOTIFIED_BY = {
  'order-rejected': { source: 'inventory', cause: 'OrderReceived' },
  'order-packed': { source: 'warehouse', cause: 'OrderConfirmed' },
  'order-shipped': { source: 'shipper', cause: 'OrderPickedAndPacked' },
  'order-cancelled': { source: 'inventory-release', cause: 'OrderCancelled' },
} as const satisfies Partial<Record<NotificationKind, { source: StepName; cause: string }>>;

/** What the stored order entitles its customer to be told with one kind, or why it does not. */
export type Entitlement =
  | { ok: true; order: StoredOrder; facts: NotificationFacts }
  | { ok: false; why: string };

/**
 * The facts of the `kind` notification that `stored` is entitled to, read from the stored order alone:
 * rejected once REJECTED, packed once it was PACKED (also when shipped or cancelled since), shipped once
 * SHIPPED, cancelled once CANCELLED. The owning step stores the state before it produces the record, so
 * a record that finds its order short of that state is not the owning step's. Ids and statuses only in
 * `why`: it goes to a dead letter.
 */
export function entitlement(stored: StoredOrder | undefined, kind: NotificationKind): Entitlement {
  if (!stored) return { ok: false, why: 'is unknown' };
  const refused: Entitlement = { ok: false, why: `is ${stored.status}; it is owed no ${kind}` };
  switch (kind) {
    case 'order-rejected':
      if (stored.status !== 'REJECTED') return refused;
      return { ok: true, order: stored, facts: { kind, reason: stored.rejectionReason ?? 'rejected' } };
    case 'order-packed':
      if (!reachedAt(stored, 'PACKED') || !stored.parcel) return refused;
      return { ok: true, order: stored, facts: { kind, parcel: stored.parcel } };
    case 'order-shipped':
      if (stored.status !== 'SHIPPED' || !stored.carrier || !stored.trackingNumber) return refused;
      return {
        ok: true,
        order: stored,
        facts: { kind, carrier: stored.carrier, trackingNumber: stored.trackingNumber },
      };
    case 'order-cancelled': {
      if (stored.status !== 'CANCELLED') return refused;
      const reason = stored.cancellationReason;
      return { ok: true, order: stored, facts: { kind, ...(reason ? { reason } : {}) } };
    }
    case 'order-confirmed':
      return { ok: false, why: 'is owed no order-confirmed: no step sends it' };
  }
}

/** A notification as the system stored it: what is sent and recorded, whatever a record claims. */
export interface GenuineNotification extends Pick<Notification['data'], 'subject' | 'message' | 'details'> {
  notificationId: string;
  orderId: string;
  customerId: string;
  kind: NotificationKind;
  channel: Notification['data']['channel'];
  source: StepName;
  causationId: string;
  placedAt: string;
}

/**
 * The genuine notification of an order and kind, built from the stored order (its customer, texts and
 * facts) as the owning step built it; ids, source and cause derive from the order id and the kind.
 */
export function genuineNotification(stored: StoredOrder, facts: NotificationFacts): GenuineNotification {
  const { source, cause } = NOTIFIED_BY[facts.kind];
  const order = orderOf(stored);
  return {
    notificationId: notificationId(order.orderId, facts.kind),
    orderId: order.orderId,
    customerId: order.customerId,
    kind: facts.kind,
    channel: 'email',
    ...notificationContent(order, facts),
    source,
    causationId: orderEventId(order.orderId, cause),
    placedAt: order.placedAt,
  };
}
