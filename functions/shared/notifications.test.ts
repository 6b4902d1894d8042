import { describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import type { NotificationKind } from '../../events/schemas/events.ts';
import {
  entitlement,
  genuineNotification,
  NOTIFIED_BY,
  notificationContent,
  notificationId,
  notificationRecord,
} from './notifications.ts';
import { orderEventId } from './orders/events.ts';
import { ordersInEveryState, sampleOrder } from './testing.ts';

const order = sampleOrder();

describe('notification texts', () => {
  it('confirms with the item count and total, and the parcel', () => {
    expect(
      notificationContent(order, {
        kind: 'order-packed',
        parcel: { parcelId: 'PCL-ABC', weightGrams: 1_200, size: 'M' },
      }),
    ).toEqual({
      subject: 'Order ord-1 confirmed and packed',
      message:
        'We have reserved your 3 items (total 52.48 USD) and packed them in parcel PCL-ABC (1200 g, size M).',
      details: {
        placedAt: order.placedAt,
        total: 52.48,
        currency: 'USD',
        parcelId: 'PCL-ABC',
        weightGrams: 1_200,
        size: 'M',
      },
    });
  });

  it('explains a rejection with its reason', () => {
    const content = notificationContent(order, {
      kind: 'order-rejected',
      reason: 'SKU-VINYL-LTD is out of stock',
    });
    expect(content.message).toContain('(SKU-VINYL-LTD is out of stock)');
    expect(content.details).toMatchObject({ reason: 'SKU-VINYL-LTD is out of stock' });
  });

  it('tells the parcel and the tracking number', () => {
    const packed = notificationContent(order, {
      kind: 'order-packed',
      parcel: { parcelId: 'PCL-ABC', weightGrams: 1_200, size: 'M' },
    });
    expect(packed.message).toContain('packed them in parcel PCL-ABC (1200 g, size M).');
    const shipped = notificationContent(order, {
      kind: 'order-shipped',
      carrier: 'SwiftPost',
      trackingNumber: 'SP1',
    });
    expect(shipped.message).toBe('Your order is on its way with SwiftPost. Tracking number: SP1.');
    expect(shipped.details).toEqual({
      placedAt: order.placedAt,
      carrier: 'SwiftPost',
      trackingNumber: 'SP1',
    });
  });

  it('never includes the shipping address', () => {
    const all = [
      notificationContent(order, {
        kind: 'order-packed',
        parcel: { parcelId: 'P', weightGrams: 1, size: 'S' },
      }),
      notificationContent(order, { kind: 'order-rejected', reason: 'x' }),
      notificationContent(order, { kind: 'order-shipped', carrier: 'c', trackingNumber: 't' }),
    ];
    for (const content of all) expect(JSON.stringify(content)).not.toContain(order.shippingAddress.line1);
  });

  it('builds a valid Notification record whose id derives from the order and the kind, not the cause', () => {
    const now = new Date('2026-11-24T10:00:01.000Z');
    const rejected = { kind: 'order-rejected', reason: 'r' } as const;
    const record = notificationRecord('inventory', 'evt-1', order, rejected, now);
    const decoded = decode('Notification', record.value);
    expect(decoded.ok && decoded.event.data).toMatchObject({
      orderId: 'ord-1',
      customerId: 'cust-1',
      channel: 'email',
    });
    // Another cause (a forged or redelivered event) cannot mint a second notification of the kind.
    const again = notificationRecord('inventory', 'evt-2', order, rejected, new Date());
    const other = notificationRecord(
      'shipper',
      'evt-1',
      order,
      { kind: 'order-shipped', carrier: 'c', trackingNumber: 't' },
      now,
    );
    expect(again.headers['event-id']).toBe(record.headers['event-id']);
    expect(record.headers['event-id']).toBe(notificationId('ord-1', 'order-rejected'));
    expect(other.headers['event-id']).not.toBe(record.headers['event-id']);
  });
});

describe('what a stored order is owed', () => {
  const states = ordersInEveryState();
  /** The kinds each state is owed; every other kind is refused. */
  const owed: Record<keyof typeof states, NotificationKind[]> = {
    RECEIVED: [],
    CONFIRMED: [],
    PACKED: ['order-packed'],
    SHIPPED: ['order-packed', 'order-shipped'],
    REJECTED: ['order-rejected'],
    'CANCELLED from RECEIVED': ['order-cancelled'],
    'CANCELLED from CONFIRMED': ['order-cancelled'],
    'CANCELLED from PACKED': ['order-packed', 'order-cancelled'],
  };
  const kinds = [
    'order-rejected',
    'order-confirmed',
    'order-packed',
    'order-shipped',
    'order-cancelled',
  ] as const;

  it.each(Object.keys(owed) as (keyof typeof states)[])('an order %s is owed exactly its kinds', (state) => {
    const entitled = kinds.filter((kind) => entitlement(states[state], kind).ok);
    expect(entitled).toEqual(owed[state]);
  });

  it('refuses every kind for an order that does not exist, and says why with ids and statuses only', () => {
    for (const kind of kinds) expect(entitlement(undefined, kind)).toEqual({ ok: false, why: 'is unknown' });
    expect(entitlement(states.REJECTED, 'order-shipped')).toEqual({
      ok: false,
      why: 'is REJECTED; it is owed no order-shipped',
    });
  });

  it('refuses a state that lacks the facts the notice tells (a shipped order without its tracking number)', () => {
    const { trackingNumber: _, ...untracked } = states.SHIPPED;
    expect(entitlement(untracked, 'order-shipped').ok).toBe(false);
    const { parcel: __, ...unpacked } = states.SHIPPED;
    expect(entitlement(unpacked, 'order-packed').ok).toBe(false);
  });

  it('builds the message from the stored order: its customer, its facts, ids, source and cause from order and kind', () => {
    const shipped = states.SHIPPED;
    const owedShipped = entitlement(shipped, 'order-shipped');
    if (!owedShipped.ok) throw new Error(owedShipped.why);
    expect(genuineNotification(shipped, owedShipped.facts)).toEqual({
      notificationId: notificationId('ord-1', 'order-shipped'),
      orderId: 'ord-1',
      customerId: 'cust-1',
      kind: 'order-shipped',
      channel: 'email',
      subject: 'Order ord-1 shipped',
      message: 'Your order is on its way with SwiftPost. Tracking number: SP00000000001.',
      details: { placedAt: shipped.placedAt, carrier: 'SwiftPost', trackingNumber: 'SP00000000001' },
      source: NOTIFIED_BY['order-shipped'].source,
      causationId: orderEventId('ord-1', 'OrderPickedAndPacked'),
      placedAt: shipped.placedAt,
    });
    const rejected = entitlement(states.REJECTED, 'order-rejected');
    if (!rejected.ok) throw new Error(rejected.why);
    expect(genuineNotification(states.REJECTED, rejected.facts).message).toContain(
      '(SKU-MUG is out of stock)',
    );
  });
});
