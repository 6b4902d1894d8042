import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type AnyEvent,
  decode,
  type EventOf,
  encode,
  Headers,
  newEvent,
  type Order,
  type TopicName,
  topicNames,
} from '../../events/index.ts';
import { consume, produce } from '../support/kafka.ts';

/** One valid event per topic for a fresh order id, so this run's records are told apart from others'. */
function eventsFor(orderId: string): { [T in TopicName]: EventOf<T> } {
  const order: Order = {
    orderId,
    customerId: 'cust-1',
    items: [{ sku: 'SKU-TSHIRT-M', name: 'T-shirt', quantity: 2, unitPrice: 19.99 }],
    total: 39.98,
    currency: 'USD',
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Seattle', postalCode: '98101', country: 'US' },
    placedAt: '2026-11-24T10:00:00.000Z',
  };
  const base = { correlationId: orderId, causationId: `req-${orderId}`, source: 'order-api' } as const;
  return {
    OrderReceived: newEvent('OrderReceived', { ...base, data: { order } }),
    OrderConfirmed: newEvent('OrderConfirmed', {
      ...base,
      source: 'inventory',
      data: { order, reservedAt: order.placedAt },
    }),
    OrderPickedAndPacked: newEvent('OrderPickedAndPacked', {
      ...base,
      source: 'warehouse',
      data: {
        order,
        parcel: { parcelId: 'p-1', weightGrams: 400, size: 'S' },
        packedAt: order.placedAt,
      },
    }),
    Notification: newEvent('Notification', {
      ...base,
      source: 'shipper',
      data: {
        orderId,
        customerId: 'cust-1',
        kind: 'order-shipped',
        channel: 'email',
        subject: 'Shipped',
        message: 'Your order is on its way',
        details: { trackingNumber: 'TRK1' },
      },
    }),
    DeadLetterQueue: newEvent('DeadLetterQueue', {
      ...base,
      source: 'inventory',
      data: {
        reason: 'poison',
        function: 'inventory',
        error: { name: 'EventDecodeError', message: 'not-json' },
        attempts: 1,
        record: {
          topic: 'OrderReceived',
          partition: 0,
          offset: '42',
          key: Buffer.from(orderId).toString('base64'),
          value: Buffer.from('not json').toString('base64'),
          headers: [],
        },
      },
    }),
    KPIs: newEvent('KPIs', {
      ...base,
      data: { name: 'OrdersReceived', value: 1, unit: 'Count', step: 'order-api', orderId },
    }),
  };
}

describe('Kafka (real broker)', () => {
  it.each(topicNames)('carries a %s event and its id headers through the broker unchanged', async (topic) => {
    const orderId = `ord-${randomUUID()}`;
    const event: AnyEvent = eventsFor(orderId)[topic];
    const record = encode(topic, event as EventOf<typeof topic>);

    await produce(record);
    const [consumed] = await consume(topic, { count: 1, where: (r) => r.key === orderId });

    expect(consumed!.key).toBe(orderId);
    expect(consumed!.headers).toEqual(record.headers);
    expect(consumed!.headers[Headers.eventId]).toBe(event.eventId);
    expect(decode(topic, consumed!.value)).toEqual({ ok: true, event });
  });

  it('resumes a consumer group from its committed offset after the first consumer left', async () => {
    const topic = 'KPIs';
    const orderId = `ord-${randomUUID()}`;
    const groupId = `test-resume-${randomUUID()}`;
    const kpi = (n: number) =>
      encode(
        topic,
        newEvent(topic, {
          correlationId: orderId,
          causationId: `cause-${n}`,
          source: 'order-api',
          data: { name: 'OrdersReceived', value: n, unit: 'Count', step: 'order-api', orderId },
        }),
      );
    const kpiValue = (bytes: Buffer) => {
      const decoded = decode(topic, bytes);
      if (!decoded.ok) throw decoded.error;
      return decoded.event.data.value;
    };
    // One key, so one partition: the order of these records is the order they were produced in.
    await produce([kpi(1), kpi(2), kpi(3)]);

    const first = await consume(topic, { groupId, count: 3, commit: true, where: (r) => r.key === orderId });
    expect(first.map((r) => kpiValue(r.value))).toEqual([1, 2, 3]);

    await produce([kpi(4), kpi(5)]);
    const resumed = await consume(topic, { groupId, count: 2, where: (r) => r.key === orderId });
    expect(resumed.map((r) => kpiValue(r.value))).toEqual([4, 5]);
    expect(resumed[0]!.offset).toBe(first[2]!.offset + 1n);

    // Control: a group without commits sees everything from the start.
    const fresh = await consume(topic, { count: 5, where: (r) => r.key === orderId });
    expect(fresh.map((r) => kpiValue(r.value))).toEqual([1, 2, 3, 4, 5]);
  });
});
