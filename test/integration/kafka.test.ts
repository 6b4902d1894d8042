import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type AnyEvent,
  decode,
  type EventOf,
  encode,
  Headers,
  newEvent,
  topicNames,
} from '../../events/index.ts';
import { eventsFor } from '../../events/testing.ts';
import { consume, produce } from '../support/kafka.ts';

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
          data: {
            step: 'order-api',
            metrics: [{ name: 'OrdersReceived', unit: 'Count', values: [n] }],
            orderIds: [orderId],
          },
        }),
      );
    const kpiValue = (bytes: Buffer) => {
      const decoded = decode(topic, bytes);
      if (!decoded.ok) throw decoded.error;
      return decoded.event.data.metrics[0]?.values[0];
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
