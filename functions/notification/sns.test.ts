import type { PublishCommand } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { genuineNotification, type NotificationFacts } from '../shared/notifications.ts';
import { MemoryPersistenceLayer, RecordingLogger, sampleOrder, storedOrder } from '../shared/testing.ts';
import { idempotentDelivery, logSend } from './delivery.ts';
import { notificationItem } from './logic.ts';
import {
  configuredSend,
  publishInput,
  readNotificationChannel,
  snsClientConfig,
  snsSend,
  snsSubject,
} from './sns.ts';

const topicArn = 'arn:aws:sns:eu-west-1:123456789012:OrderPipeline-Notifications';
const order = sampleOrder();
const now = new Date('2026-11-24T10:00:04.000Z');

const message = (facts: NotificationFacts) =>
  notificationItem(genuineNotification(storedOrder(order), facts), now);

/** Records the Publish requests it is sent and answers like SNS. */
function fakeSns() {
  const published: PublishCommand['input'][] = [];
  return {
    published,
    send: async (command: PublishCommand) => {
      published.push(command.input);
      return { MessageId: `msg-${published.length}`, $metadata: {} };
    },
  };
}

describe('the SNS message of a notification', () => {
  it('carries subject and text, and the ids and kind as String attributes for filter policies', () => {
    const shipped = message({ kind: 'order-shipped', carrier: 'SwiftPost', trackingNumber: 'SP1' });
    expect(publishInput(topicArn, shipped)).toEqual({
      TopicArn: topicArn,
      Subject: 'Order ord-1 shipped',
      Message: 'Your order is on its way with SwiftPost. Tracking number: SP1.',
      MessageAttributes: {
        customerId: { DataType: 'String', StringValue: order.customerId },
        kind: { DataType: 'String', StringValue: 'order-shipped' },
        orderId: { DataType: 'String', StringValue: 'ord-1' },
        notificationId: { DataType: 'String', StringValue: shipped.notificationId },
      },
    });
  });

  it('never carries the shipping address, in any kind of message', () => {
    const all = [
      message({ kind: 'order-packed', parcel: { parcelId: 'PCL-1', weightGrams: 900, size: 'S' } }),
      message({ kind: 'order-shipped', carrier: 'SwiftPost', trackingNumber: 'SP1' }),
      message({ kind: 'order-rejected', reason: 'SKU-1 is out of stock' }),
    ];
    const { name, line1, city, postalCode } = order.shippingAddress;
    for (const outgoing of all) {
      const text = JSON.stringify(publishInput(topicArn, outgoing));
      for (const part of [name, line1, city, postalCode]) expect(text).not.toContain(part);
    }
  });

  it('keeps a subject SNS accepts: one line, no control characters, fewer than 100 characters', () => {
    expect(snsSubject('Order ord-1\r\n shipped\u0007')).toBe('Order ord-1 shipped');
    const long = snsSubject(`Order ${'x'.repeat(200)} shipped`);
    expect([...long]).toHaveLength(99);
    expect(long.endsWith('…')).toBe(true);
    expect(snsSubject(' \n ')).toBe('Order notification');
  });
});

describe('the SNS send', () => {
  it('publishes to the topic and logs ids and kind, never the customer or the text', async () => {
    const sns = fakeSns();
    const logger = new RecordingLogger();
    const shipped = message({ kind: 'order-shipped', carrier: 'SwiftPost', trackingNumber: 'SP1' });
    await snsSend(sns, topicArn)(shipped, logger);
    expect(sns.published.map((input) => input.TopicArn)).toEqual([topicArn]);
    expect(logger.lines).toEqual([
      {
        level: 'info',
        message: 'notification published',
        attributes: { notificationId: shipped.notificationId, kind: 'order-shipped', snsMessageId: 'msg-1' },
      },
    ]);
    const logged = JSON.stringify(logger.lines);
    expect(logged).not.toContain(order.customerId);
    expect(logged).not.toContain('SwiftPost');
  });

  it('is sent once per notification under the idempotency guard, however often it is delivered', async () => {
    const sns = fakeSns();
    const delivery = idempotentDelivery(snsSend(sns, topicArn), new MemoryPersistenceLayer());
    const logger = new RecordingLogger();
    const packed = message({
      kind: 'order-packed',
      parcel: { parcelId: 'PCL-1', weightGrams: 900, size: 'S' },
    });
    const shipped = message({ kind: 'order-shipped', carrier: 'SwiftPost', trackingNumber: 'SP1' });
    expect(await delivery.deliver(packed, logger)).toBe('delivered');
    expect(await delivery.deliver(packed, logger)).toBe('already-delivered');
    expect(await delivery.deliver(shipped, logger)).toBe('delivered');
    expect(sns.published.map((input) => input.MessageAttributes?.kind?.StringValue)).toEqual([
      'order-packed',
      'order-shipped',
    ]);
  });

  it('leaves a failed publish retryable: the next delivery sends it', async () => {
    const sns = fakeSns();
    let failures = 1;
    const flaky = {
      send: async (command: PublishCommand) => {
        if (failures-- > 0) throw Object.assign(new Error('throttled'), { name: 'ThrottledException' });
        return sns.send(command);
      },
    };
    const delivery = idempotentDelivery(snsSend(flaky, topicArn), new MemoryPersistenceLayer());
    const shipped = message({ kind: 'order-shipped', carrier: 'SwiftPost', trackingNumber: 'SP1' });
    await expect(delivery.deliver(shipped, new RecordingLogger())).rejects.toThrow('throttled');
    expect(await delivery.deliver(shipped, new RecordingLogger())).toBe('delivered');
    expect(sns.published).toHaveLength(1);
  });
});

describe('the configured channel', () => {
  it('is the topic by default, and then its ARN is required', () => {
    expect(readNotificationChannel({ NOTIFICATIONS_TOPIC_ARN: topicArn })).toEqual({ kind: 'sns', topicArn });
    expect(
      readNotificationChannel({ NOTIFICATION_CHANNEL: 'sns', NOTIFICATIONS_TOPIC_ARN: ` ${topicArn} ` }),
    ).toEqual({ kind: 'sns', topicArn });
    expect(() => readNotificationChannel({})).toThrow(/NOTIFICATIONS_TOPIC_ARN is not set/);
    expect(() => configuredSend({ AWS_REGION: 'eu-west-1' })).toThrow(
      expect.objectContaining({ name: 'ConfigError' }),
    );
    expect(() =>
      readNotificationChannel({ NOTIFICATIONS_TOPIC_ARN: 'order-pipeline-notifications' }),
    ).toThrow(/not an SNS topic ARN/);
    expect(() => readNotificationChannel({ NOTIFICATION_CHANNEL: 'email' })).toThrow(/must be sns or log/);
  });

  it('logs instead only when told so explicitly', () => {
    expect(readNotificationChannel({ NOTIFICATION_CHANNEL: 'log' })).toEqual({ kind: 'log' });
    expect(configuredSend({ NOTIFICATION_CHANNEL: 'log' })).toBe(logSend);
  });

  it('talks to the local endpoint only when SNS_ENDPOINT names one', () => {
    expect(snsClientConfig({})).toEqual({});
    expect(snsClientConfig({ SNS_ENDPOINT: 'http://127.0.0.1:5000', AWS_REGION: 'eu-west-1' })).toEqual({
      endpoint: 'http://127.0.0.1:5000',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    expect(() => snsClientConfig({ SNS_ENDPOINT: 'not a url' })).toThrow(/SNS_ENDPOINT is not a URL/);
  });
});
