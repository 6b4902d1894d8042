import { describe, expect, it } from 'vitest';
import { decode, newEvent } from '../../events/codec.ts';
import type { Notification, NotificationKind, Parcel } from '../../events/schemas/events.ts';
import { eventsFor } from '../../events/testing.ts';
import { rejectedOutcome } from '../inventory/logic.ts';
import { cancelledOutcome } from '../inventory-release/logic.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { registerInvocation } from '../shared/idempotency.ts';
import { entitlement, genuineNotification, notificationId } from '../shared/notifications.ts';
import { orderEventId } from '../shared/orders/events.ts';
import { orderOf, type StoredOrder } from '../shared/orders/model.ts';
import {
  MemoryOrders,
  MemoryPersistenceLayer,
  orderReceived,
  ordersInEveryState,
  RecordingLogger,
} from '../shared/testing.ts';
import { shippedOutcome } from '../shipper/logic.ts';
import { packedOutcome } from '../warehouse/logic.ts';
import {
  DELIVERY_MIN_REMAINING_MS,
  DeadlineTooCloseError,
  deliveryIdempotencyConfig,
  idempotentDelivery,
  logSend,
  type OutgoingMessage,
} from './delivery.ts';
import {
  claimsOtherContent,
  deliveryKpis,
  type NotificationItem,
  notificationItem,
  notifiedEntry,
} from './logic.ts';
import type { NotificationsPort } from './notifications-store.ts';
import { notificationStep } from './step.ts';

const states = ordersInEveryState();

/** A Notification record with the genuine id of its order and kind, and whatever content a forger chose. */
const notification = (
  kind: NotificationKind,
  data: Partial<Notification['data']> = {},
  occurredAt = new Date('2026-11-24T10:00:03.000Z'),
) =>
  newEvent('Notification', {
    eventId: notificationId(data.orderId ?? 'ord-1', kind),
    correlationId: data.orderId ?? 'ord-1',
    causationId: 'evt-packed',
    source: 'shipper',
    occurredAt,
    data: {
      orderId: 'ord-1',
      customerId: 'cust-1',
      kind,
      channel: 'email',
      subject: 'Order ord-1',
      message: 'text',
      details: { placedAt: '2026-11-24T10:00:00.000Z' },
      ...data,
    },
  });
const now = new Date('2026-11-24T10:00:04.000Z');
const context = { logger: new RecordingLogger(), now };

/** The genuine notification the stored order is owed. */
function genuineOf(stored: StoredOrder, kind: NotificationKind) {
  const owed = entitlement(stored, kind);
  if (!owed.ok) throw new Error(owed.why);
  return genuineNotification(stored, owed.facts);
}

class MemoryNotifications implements NotificationsPort {
  readonly items = new Map<string, NotificationItem>();
  failures = 0;
  async record(item: NotificationItem) {
    if (this.failures-- > 0) throw new Error('DynamoDB unavailable');
    const key = `${item.orderId}|${item.notificationId}`;
    if (this.items.has(key)) return 'already-recorded' as const;
    this.items.set(key, item);
    return 'recorded' as const;
  }
}

/** What the consumer does with an outcome: the invocation succeeds once its remaining writes are done. */
async function processed(
  step: ReturnType<typeof notificationStep>,
  event: Notification,
  logger = new RecordingLogger(),
) {
  const outcome = await step.process(event, { logger, now });
  await outcome.settling;
  return outcome;
}

/** The step with its ports: the orders table holds `stored`; the channel counts what reached the customer. */
function setup(...stored: StoredOrder[]) {
  const orders = new MemoryOrders();
  for (const order of stored) orders.items.set(order.orderId, order);
  const notifications = new MemoryNotifications();
  const sent: OutgoingMessage[] = [];
  const idempotency = new MemoryPersistenceLayer();
  const delivery = idempotentDelivery(async (message) => {
    sent.push(message);
  }, idempotency);
  const step = notificationStep({ orders, notifications, delivery });
  return { step, orders, notifications, sent, idempotency, delivery };
}

describe('notification delivery', () => {
  it('records one item per notification, keyed by order id and event id', () => {
    expect(notificationItem(genuineOf(states.PACKED, 'order-packed'), now)).toMatchObject({
      orderId: 'ord-1',
      notificationId: notificationId('ord-1', 'order-packed'),
      kind: 'order-packed',
      deliveredAt: now.toISOString(),
    });
    expect(notifiedEntry('order-packed', now)).toEqual({
      status: 'NOTIFIED',
      at: now.toISOString(),
      detail: 'notified:order-packed',
    });
  });

  it("measures the end-to-end latency once the order journey is over, from the stored order's time", () => {
    const kpisOf = (stored: StoredOrder, kind: NotificationKind, details = {}) =>
      deliveryKpis(notification(kind, { details }), genuineOf(stored, kind), now);
    // A record's placedAt is not read: the stored order's is.
    expect(kpisOf(states.SHIPPED, 'order-shipped', { placedAt: '1626-01-01T00:00:00.000Z' })).toEqual([
      { name: 'NotificationsDelivered', value: 1, unit: 'Count' },
      { name: 'StepLatency', value: 1_000, unit: 'Milliseconds' },
      { name: 'EndToEndLatency', value: 4_000, unit: 'Milliseconds' },
    ]);
    expect(kpisOf(states.REJECTED, 'order-rejected').map((k) => k.name)).toContain('EndToEndLatency');
    expect(kpisOf(states.PACKED, 'order-packed').map((k) => k.name)).not.toContain('EndToEndLatency');
  });

  it('delivers once: a second delivery of the same notification is a replay without effect', async () => {
    const { step, notifications, sent } = setup(states.SHIPPED);
    const event = notification('order-shipped');
    const first = await processed(step, event);
    const second = await processed(step, event);
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(second.settling).toBeUndefined();
    expect(first.events).toEqual([]);
    expect(notifications.items.size).toBe(1);
    expect(sent.map((m) => m.notificationId)).toEqual([event.eventId]);
  });

  it('starts no send near the deadline (it would leave a record in progress for good), and sends once when retried in time', async () => {
    const sent: string[] = [];
    const idempotency = new MemoryPersistenceLayer();
    const config = deliveryIdempotencyConfig();
    const delivery = idempotentDelivery(
      async (message) => {
        sent.push(message.notificationId);
      },
      idempotency,
      config,
    );
    const message = {
      notificationId: notificationId('ord-1', 'order-shipped'),
      orderId: 'ord-1',
      customerId: 'cust-1',
      kind: 'order-shipped',
      channel: 'email',
      subject: 'Shipped',
      message: 'Your order shipped.',
    } as const satisfies OutgoingMessage;
    const invocationWith = (remainingMs: number) =>
      registerInvocation(config, { getRemainingTimeInMillis: () => remainingMs } as never);

    invocationWith(0);
    await expect(delivery.deliver(message, new RecordingLogger())).rejects.toBeInstanceOf(
      DeadlineTooCloseError,
    );
    invocationWith(DELIVERY_MIN_REMAINING_MS - 1);
    await expect(delivery.deliver(message, new RecordingLogger())).rejects.toBeInstanceOf(
      DeadlineTooCloseError,
    );
    expect(sent).toEqual([]);
    // Nothing was left in progress: the retry with time to spare sends, once.
    invocationWith(30_000);
    expect(await delivery.deliver(message, new RecordingLogger())).toBe('delivered');
    expect(await delivery.deliver(message, new RecordingLogger())).toBe('already-delivered');
    expect(sent).toEqual([message.notificationId]);
  });

  it('still delivers, once, when recording failed after the send (the retry records it, not counted again)', async () => {
    const { step, notifications, sent } = setup(states.PACKED);
    const event = notification('order-packed');
    notifications.failures = 1;
    // The send's outcome is known (and counted) at once; the failed record fails the invocation.
    const first = await step.process(event, context);
    expect(first.replayed).toBe(false);
    await expect(first.settling).rejects.toThrow(/unavailable/);
    expect(notifications.items.size).toBe(0);
    const retry = await processed(step, event);
    expect(sent).toHaveLength(1);
    expect(notifications.items.size).toBe(1);
    expect(retry.replayed).toBe(true);
  });

  it('answers once the send succeeded; the record and the idempotency completion finish after, never before the send', async () => {
    const notifications = new MemoryNotifications();
    const seen: string[] = [];
    let completing!: () => void;
    // The idempotency store's completion waits until it is let go.
    class SlowCompletion extends MemoryPersistenceLayer {
      protected override async _updateRecord(...args: Parameters<MemoryPersistenceLayer['_updateRecord']>) {
        seen.push(`completing (recorded: ${notifications.items.size})`);
        await new Promise<void>((resolve) => {
          completing = resolve;
        });
        return super._updateRecord(...args);
      }
    }
    const delivery = idempotentDelivery(async () => {
      seen.push(`sent (recorded: ${notifications.items.size})`);
    }, new SlowCompletion());
    const orders = new MemoryOrders();
    orders.items.set('ord-1', states.PACKED);
    const step = notificationStep({ orders, notifications, delivery });
    const outcome = await step.process(notification('order-packed'), context);
    expect(outcome.replayed).toBe(false);
    let settled = false;
    void outcome.settling?.then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Recorded after the send, beside the completion, which is still held.
    expect(seen).toEqual(['sent (recorded: 0)', expect.stringMatching(/^completing/)]);
    expect(notifications.items.size).toBe(1);
    expect(settled).toBe(false);
    completing();
    await outcome.settling;
    expect(settled).toBe(true);
    // Completed: a redelivery is a replay.
    expect((await processed(step, notification('order-packed'))).replayed).toBe(true);
  });

  it('refuses a notification whose id is not its order and kind', async () => {
    const { step, notifications, sent } = setup(states.SHIPPED);
    // A genuine notification's id, on another kind: a second "shipped" for the order, in disguise.
    const forged = { ...notification('order-shipped'), eventId: notificationId('ord-1', 'order-packed') };
    await expect(processed(step, forged)).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(sent).toEqual([]);
    expect(notifications.items.size).toBe(0);
  });

  it('logs a delivery with ids and kind only, never the text', async () => {
    const logger = new RecordingLogger();
    await logSend(notificationItem(genuineOf(states.PACKED, 'order-packed'), now), logger);
    expect(logger.lines).toEqual([
      {
        level: 'info',
        message: 'notification delivered',
        attributes: {
          notificationId: notificationId('ord-1', 'order-packed'),
          kind: 'order-packed',
          channel: 'email',
        },
      },
    ]);
  });
});

describe('a notification record is untrusted', () => {
  const forgedText = {
    customerId: 'cust-victim',
    subject: 'Customs fee due',
    message: 'Pay the customs fee at http://pay.example.invalid',
    details: { url: 'http://pay.example.invalid' },
  };

  it("sends and records the stored order's text and customer, never the record's; the warning names neither", async () => {
    const { step, sent, notifications } = setup(states.REJECTED);
    const logger = new RecordingLogger();
    const outcome = await processed(step, notification('order-rejected', forgedText), logger);
    const genuine = genuineOf(states.REJECTED, 'order-rejected');
    expect(outcome.replayed).toBe(false);
    expect(sent).toEqual([notificationItem(genuine, now)]);
    expect(sent[0]).toMatchObject({ customerId: 'cust-1', subject: 'Order ord-1 could not be accepted' });
    expect([...notifications.items.values()]).toEqual([notificationItem(genuine, now)]);
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: "the record's content is not the stored order's; the stored order's is sent",
        attributes: { kind: 'order-rejected' },
      },
    ]);
    expect(JSON.stringify(logger.lines)).not.toMatch(/victim|example\.invalid/);
  });

  it.each([
    ['REJECTED', 'order-shipped'],
    ['REJECTED', 'order-cancelled'],
    ['RECEIVED', 'order-packed'],
    ['CONFIRMED', 'order-confirmed'],
    ['PACKED', 'order-shipped'],
    ['SHIPPED', 'order-cancelled'],
    ['CANCELLED from CONFIRMED', 'order-packed'],
    ['CANCELLED from RECEIVED', 'order-rejected'],
  ] as const)(
    'refuses, for an order %s, a %s record, and sends, records and burns nothing',
    async (state, kind) => {
      const { step, sent, notifications, idempotency } = setup(states[state]);
      await expect(processed(step, notification(kind, forgedText))).rejects.toBeInstanceOf(
        InvalidTransitionError,
      );
      expect(sent).toEqual([]);
      expect(notifications.items.size).toBe(0);
      expect(idempotency.records.size).toBe(0);
    },
  );

  it('refuses a record forged before its order exists, and the genuine one is still sent when it is due', async () => {
    const { step, orders, sent } = setup();
    const forged = notification('order-shipped', forgedText);
    await expect(processed(step, forged)).rejects.toThrow(/order ord-1 is unknown/);
    // Redelivered while the order is on its way: still refused, still nothing burnt.
    orders.items.set('ord-1', states.PACKED);
    await expect(processed(step, forged)).rejects.toThrow(/is PACKED; it is owed no order-shipped/);
    orders.items.set('ord-1', states.SHIPPED);
    const genuine = genuineOf(states.SHIPPED, 'order-shipped');
    const outcome = await processed(step, notification('order-shipped', { customerId: 'cust-1' }));
    expect(outcome.replayed).toBe(false);
    expect(sent).toEqual([notificationItem(genuine, now)]);
  });

  it("finds in the owning steps' own records exactly what the stored order gives", () => {
    // The owning steps act only on their order's genuine events (ids derived from the order).
    const genuineEvent = <T extends 'OrderConfirmed' | 'OrderPickedAndPacked' | 'OrderCancelled'>(
      type: T,
    ) => ({
      ...eventsFor('ord-1')[type],
      eventId: orderEventId('ord-1', type),
    });
    const received = orderReceived(orderOf(states.RECEIVED));
    const records = {
      'order-rejected': rejectedOutcome(
        received,
        orderOf(states.REJECTED),
        'SKU-MUG is out of stock',
        false,
        now,
      ),
      'order-packed': packedOutcome(
        genuineEvent('OrderConfirmed'),
        orderOf(states.PACKED),
        states.PACKED.parcel as Parcel,
        now.toISOString(),
        false,
        now,
      ),
      'order-shipped': shippedOutcome(
        genuineEvent('OrderPickedAndPacked'),
        orderOf(states.SHIPPED),
        { carrier: 'SwiftPost', trackingNumber: 'SP00000000001' },
        false,
        now,
      ),
      'order-cancelled': cancelledOutcome(
        genuineEvent('OrderCancelled'),
        states['CANCELLED from PACKED'],
        3,
        false,
        now,
      ),
    };
    const stored = {
      'order-rejected': states.REJECTED,
      'order-packed': states.PACKED,
      'order-shipped': states.SHIPPED,
      'order-cancelled': states['CANCELLED from PACKED'],
    };
    for (const [kind, outcome] of Object.entries(records) as [
      keyof typeof records,
      (typeof records)[keyof typeof records],
    ][]) {
      const record = outcome.events.find((r) => r.topic === 'Notification');
      const decoded = decode('Notification', record?.value);
      if (!decoded.ok) throw decoded.error;
      const genuine = genuineOf(stored[kind], kind);
      expect(claimsOtherContent(decoded.event, genuine), kind).toBe(false);
      expect([decoded.event.source, decoded.event.causationId], kind).toEqual([
        genuine.source,
        genuine.causationId,
      ]);
    }
  });
});
