import { describe, expect, it } from 'vitest';
import { newEvent } from '../../events/codec.ts';
import type { NotificationKind } from '../../events/schemas/events.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';
import { RecordingLogger } from '../shared/testing.ts';
import { notificationStep } from './handler.ts';
import { deliveryKpis, type NotificationItem, notificationItem, notifiedEntry } from './logic.ts';
import type { NotificationsPort } from './store.ts';

const notification = (kind: NotificationKind) =>
  newEvent('Notification', {
    correlationId: 'ord-1',
    causationId: 'evt-packed',
    source: 'shipper',
    discriminator: kind,
    occurredAt: new Date('2026-11-24T10:00:03.000Z'),
    data: {
      orderId: 'ord-1',
      customerId: 'cust-1',
      kind,
      channel: 'email',
      subject: 'Order ord-1',
      message: 'text',
      details: { placedAt: '2026-11-24T10:00:00.000Z' },
    },
  });
const now = new Date('2026-11-24T10:00:04.000Z');

class MemoryNotifications implements NotificationsPort {
  readonly items = new Map<string, NotificationItem>();
  readonly history: HistoryEntry[] = [];
  async record(item: NotificationItem, entry: HistoryEntry) {
    const key = `${item.orderId}|${item.notificationId}`;
    if (this.items.has(key)) return 'already-recorded' as const;
    this.items.set(key, item);
    this.history.push(entry);
    return 'recorded' as const;
  }
}

describe('notification delivery', () => {
  it('records one item per notification, keyed by order id and event id', () => {
    const event = notification('order-packed');
    expect(notificationItem(event, now)).toMatchObject({
      orderId: 'ord-1',
      notificationId: event.eventId,
      kind: 'order-packed',
      deliveredAt: now.toISOString(),
    });
    expect(notifiedEntry('order-packed', now)).toEqual({
      status: 'NOTIFIED',
      at: now.toISOString(),
      detail: 'notified:order-packed',
    });
  });

  it('measures the end-to-end latency once the order journey is over', () => {
    expect(deliveryKpis(notification('order-shipped'), now).map((k) => [k.name, k.value])).toEqual([
      ['NotificationsDelivered', 1],
      ['StepLatency', 1_000],
      ['EndToEndLatency', 4_000],
    ]);
    expect(deliveryKpis(notification('order-rejected'), now).map((k) => k.name)).toContain('EndToEndLatency');
    expect(deliveryKpis(notification('order-packed'), now).map((k) => k.name)).not.toContain(
      'EndToEndLatency',
    );
  });

  it('delivers once: a second delivery of the same notification is a replay without effect', async () => {
    const notifications = new MemoryNotifications();
    const step = notificationStep({ notifications });
    const event = notification('order-shipped');
    const logger = new RecordingLogger();
    const first = await step.process(event, { logger, now });
    const second = await step.process(event, { logger, now });
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(first.events).toEqual([]);
    expect(notifications.items.size).toBe(1);
    expect(notifications.history).toEqual([notifiedEntry('order-shipped', now)]);
    // Delivered once, logged with ids and kind, without the text (it may name the customer).
    expect(logger.lines.filter((l) => l.message === 'notification delivered')).toEqual([
      {
        level: 'info',
        message: 'notification delivered',
        attributes: {
          notificationId: event.eventId,
          kind: 'order-shipped',
          channel: 'email',
        },
      },
    ]);
  });
});
