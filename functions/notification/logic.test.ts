import { describe, expect, it } from 'vitest';
import { newEvent } from '../../events/codec.ts';
import type { NotificationKind } from '../../events/schemas/events.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { notificationId } from '../shared/notifications.ts';
import { MemoryPersistenceLayer, RecordingLogger } from '../shared/testing.ts';
import { idempotentDelivery, logSend, type OutgoingMessage } from './delivery.ts';
import { notificationStep } from './handler.ts';
import { deliveryKpis, type NotificationItem, notificationItem, notifiedEntry } from './logic.ts';
import type { NotificationsPort } from './store.ts';

const notification = (kind: NotificationKind) =>
  newEvent('Notification', {
    eventId: notificationId('ord-1', kind),
    correlationId: 'ord-1',
    causationId: 'evt-packed',
    source: 'shipper',
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
const context = { logger: new RecordingLogger(), now };

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
async function processed(step: ReturnType<typeof notificationStep>, event: ReturnType<typeof notification>) {
  const outcome = await step.process(event, context);
  await outcome.settling;
  return outcome;
}

/** The channel: counts what reached the customer. */
function channel() {
  const sent: OutgoingMessage[] = [];
  const delivery = idempotentDelivery(async (message) => {
    sent.push(message);
  }, new MemoryPersistenceLayer());
  return { sent, delivery };
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
    const { sent, delivery } = channel();
    const step = notificationStep({ notifications, delivery });
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

  it('still delivers, once, when recording failed after the send (the retry records it, not counted again)', async () => {
    const notifications = new MemoryNotifications();
    const { sent, delivery } = channel();
    const step = notificationStep({ notifications, delivery });
    const event = notification('order-confirmed');
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
    const step = notificationStep({ notifications, delivery });
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
    const notifications = new MemoryNotifications();
    const { sent, delivery } = channel();
    const step = notificationStep({ notifications, delivery });
    // A genuine notification's id, on another kind: a second "shipped" for the order, in disguise.
    const forged = { ...notification('order-shipped'), eventId: notificationId('ord-1', 'order-packed') };
    await expect(processed(step, forged)).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(sent).toEqual([]);
    expect(notifications.items.size).toBe(0);
  });

  it('logs a delivery with ids and kind only, never the text', async () => {
    const logger = new RecordingLogger();
    await logSend(notificationItem(notification('order-packed'), now), logger);
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
