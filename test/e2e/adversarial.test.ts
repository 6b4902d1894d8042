/**
 * The pipeline against untrusted records, end to end (real Kafka, moto, the real handlers behind the
 * emulators): forged, stale, tampered and out-of-order events for orders in every state, events for
 * orders that do not exist, and bytes that are not events at all. Nothing may be created, moved, sent
 * twice or lost; every record that can never succeed is dead-lettered with its reason, and the
 * pipeline goes on.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, newEvent } from '../../events/index.ts';
import type { Order } from '../../events/schemas/order.ts';
import { orderEventId, orderReceivedRecord } from '../../functions/shared/orders/events.ts';
import { newStoredOrder } from '../../functions/shared/orders/model.ts';
import { kafkaConsumers, manifest } from '../../topology/index.ts';
import { testInfra } from '../support/env.ts';
import { type RawMessage, TestProducer, TopicReader, waitFor } from '../support/kafka.ts';
import { e2eCatalog, orderBody, type StoredOrderView, useE2ePipeline } from '../support/pipeline.ts';

const TIMEOUT_MS = 90_000;
const kafkaFunctions = kafkaConsumers.map(({ name }) => name);

interface DeadLetterView {
  eventType: string;
  data: {
    reason: string;
    function: string;
    error: { name: string; message: string };
    record: Record<string, unknown>;
  };
}

describe('the pipeline against untrusted records (real Kafka, dynoxide, moto SNS, the real handlers)', () => {
  const { kafkaBrokers } = testInfra();
  const producer = new TestProducer(kafkaBrokers);
  const e2e = useE2ePipeline('adv');
  const readers: Record<string, TopicReader> = {};

  const keyed = (topic: string, key: string): RawMessage[] =>
    (readers[topic]?.messages ?? []).filter((m) => m.key?.toString() === key);
  const deadLettersOf = (key: string): DeadLetterView[] =>
    keyed('DeadLetterQueue', key)
      .map((m) => JSON.parse(m.value.toString()) as DeadLetterView)
      .filter((m) => m.eventType === 'DeadLettered');

  async function shippedOrder(): Promise<{ orderId: string; order: Order; stored: StoredOrderView }> {
    const posted = await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]), randomUUID());
    expect(posted.status).toBe(202);
    const orderId = posted.body.orderId as string;
    const stored = await e2e.tables.orderIn(orderId, ['SHIPPED'], TIMEOUT_MS);
    await waitFor(
      async () => (await e2e.tables.notifications(orderId)).length === 2,
      'two notifications',
      TIMEOUT_MS,
    );
    const received = keyed('OrderReceived', orderId)[0];
    const order = (JSON.parse(received?.value.toString() ?? '{}') as { data: { order: Order } }).data.order;
    return { orderId, order, stored };
  }

  beforeAll(async () => {
    for (const topic of [
      'DeadLetterQueue',
      'OrderReceived',
      'OrderConfirmed',
      'OrderPickedAndPacked',
      'Notification',
    ]) {
      readers[topic] = await new TopicReader(kafkaBrokers, topic).start('latest');
    }
  });

  afterAll(async () => {
    await Promise.all([...Object.values(readers).map((r) => r.close()), producer.close()]);
  });

  it('forged, tampered and stale events for a shipped order change nothing and send nothing', async () => {
    const { orderId, order, stored } = await shippedOrder();
    const stockBefore = await e2e.tables.stock(e2eCatalog.plenty.sku);
    const tampered: Order = {
      ...order,
      items: [{ ...(order.items[0] as Order['items'][number]), quantity: 3 }],
    };
    const event = <T extends 'OrderReceived' | 'OrderConfirmed' | 'OrderPickedAndPacked'>(
      topic: T,
      data: Parameters<typeof newEvent<T>>[1]['data'],
      eventId: string,
    ) =>
      encode(
        topic,
        newEvent(topic, {
          eventId,
          correlationId: orderId,
          causationId: 'attacker',
          source: 'order-api',
          data,
        }),
      );
    const parcel = { parcelId: 'PCL-FAKE', weightGrams: 100, size: 'S' as const };
    const refused = [
      // A new id: what re-ran the chain before, with the new event's content.
      event('OrderReceived', { order: tampered }, randomUUID()),
      // The genuine id with another copy of the order.
      event('OrderReceived', { order: tampered }, orderEventId(orderId, 'OrderReceived')),
      event('OrderConfirmed', { order, reservedAt: new Date().toISOString() }, randomUUID()),
      event('OrderPickedAndPacked', { order, parcel, packedAt: new Date().toISOString() }, randomUUID()),
      // A second "shipped" notification for the order, under another id.
      encode(
        'Notification',
        newEvent('Notification', {
          eventId: randomUUID(),
          correlationId: orderId,
          causationId: 'attacker',
          source: 'shipper',
          data: {
            orderId,
            customerId: order.customerId,
            kind: 'order-shipped',
            channel: 'email',
            subject: 'Your order shipped',
            message: 'Click here',
            details: {},
          },
        }),
      ),
    ];
    // The genuine OrderReceived again: a redelivery, dropped without a dead letter.
    const redelivered = orderReceivedRecord(order, 'again', new Date(order.placedAt));
    await producer.send(
      [...refused, redelivered].map((r) => ({
        topic: r.topic,
        key: r.key,
        value: r.value,
        headers: r.headers,
      })),
    );

    await waitFor(
      () => deadLettersOf(orderId).length >= refused.length,
      'a dead letter per refused event',
      TIMEOUT_MS,
    );
    const letters = deadLettersOf(orderId);
    expect(letters).toHaveLength(refused.length);
    for (const letter of letters) {
      expect(letter.data).toMatchObject({ reason: 'poison', error: { name: 'InvalidTransitionError' } });
    }
    expect(letters.map((l) => l.data.function).sort()).toEqual([
      'inventory',
      'inventory',
      'notification',
      'shipper',
      'warehouse',
    ]);
    // The redelivery reached inventory (it is on the topic) and changed nothing: no new confirmation.
    expect(keyed('OrderReceived', orderId)).toHaveLength(
      1 + refused.filter((r) => r.topic === 'OrderReceived').length + 1,
    );
    expect(keyed('OrderConfirmed', orderId)).toHaveLength(2);
    expect((await e2e.tables.notifications(orderId)).map((n) => n.kind).sort()).toEqual([
      'order-packed',
      'order-shipped',
    ]);
    expect(await e2e.tables.order(orderId)).toEqual(stored);
    expect(await e2e.tables.stock(e2eCatalog.plenty.sku)).toEqual(stockBefore);
  });

  it('never creates an order from a mid-pipeline event, and refuses events that come out of order', async () => {
    const ghost = `adv-ghost-${randomUUID().slice(0, 8)}`;
    const waiting = `adv-waiting-${randomUUID().slice(0, 8)}`;
    const base = {
      customerId: 'cust-adv',
      items: [
        {
          sku: e2eCatalog.plenty.sku,
          name: e2eCatalog.plenty.name,
          quantity: 1,
          unitPrice: e2eCatalog.plenty.unitPrice,
        },
      ],
      total: e2eCatalog.plenty.unitPrice,
      currency: 'USD',
      shippingAddress: { name: 'A', line1: '1 St', city: 'C', postalCode: '1', country: 'US' },
      placedAt: new Date().toISOString(),
    };
    // An order stored RECEIVED whose OrderReceived is not produced (yet): later steps' events come first.
    await e2e.tables.putOrder(
      newStoredOrder({ ...base, orderId: waiting }, { requestHash: 'h', requestId: 'r' }),
    );
    const parcel = { parcelId: 'PCL-1', weightGrams: 200, size: 'S' as const };
    const records = [
      encode(
        'OrderConfirmed',
        newEvent('OrderConfirmed', {
          eventId: orderEventId(ghost, 'OrderConfirmed'),
          correlationId: ghost,
          causationId: 'x',
          source: 'inventory',
          data: { order: { ...base, orderId: ghost }, reservedAt: base.placedAt },
        }),
      ),
      encode(
        'OrderPickedAndPacked',
        newEvent('OrderPickedAndPacked', {
          eventId: orderEventId(waiting, 'OrderPickedAndPacked'),
          correlationId: waiting,
          causationId: 'x',
          source: 'warehouse',
          data: { order: { ...base, orderId: waiting }, parcel, packedAt: base.placedAt },
        }),
      ),
      encode(
        'OrderConfirmed',
        newEvent('OrderConfirmed', {
          eventId: orderEventId(waiting, 'OrderConfirmed'),
          correlationId: waiting,
          causationId: 'x',
          source: 'inventory',
          data: { order: { ...base, orderId: waiting }, reservedAt: base.placedAt },
        }),
      ),
    ];
    await producer.send(
      records.map((r) => ({ topic: r.topic, key: r.key, value: r.value, headers: r.headers })),
    );
    await waitFor(
      () => deadLettersOf(ghost).length === 1 && deadLettersOf(waiting).length === 2,
      'the refusals',
      TIMEOUT_MS,
    );
    expect(deadLettersOf(ghost)[0]?.data.error.message).toMatch(/unknown/);
    expect(
      deadLettersOf(waiting)
        .map((l) => l.data.error.message)
        .join(' '),
    ).toMatch(/RECEIVED/);
    expect(await e2e.tables.order(ghost)).toBeUndefined();
    expect((await e2e.tables.order(waiting))?.status).toBe('RECEIVED');
    expect(keyed('OrderPickedAndPacked', ghost)).toHaveLength(0);

    // Its genuine OrderReceived, late: now it goes through, once.
    await producer.send(
      [orderReceivedRecord({ ...base, orderId: waiting }, 'r', new Date(base.placedAt))].map((r) => ({
        topic: r.topic,
        key: r.key,
        value: r.value,
        headers: r.headers,
      })),
    );
    await waitFor(
      async () => (await e2e.tables.order(waiting))?.status === 'SHIPPED',
      'the late order to ship',
      TIMEOUT_MS,
      200,
    );
  });

  it('dead-letters bytes that are not events on every topic, the oversized ones bounded, and goes on', async () => {
    const key = `adv-bytes-${randomUUID().slice(0, 8)}`;
    const topics = kafkaFunctions.map((fn) => (manifest.functions[fn].trigger as { topic: string }).topic);
    const junk = [
      Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
      Buffer.from('{"__proto__":{"polluted":true},"constructor":{}}'),
    ];
    const huge = Buffer.alloc(900 * 1024, 0x61);
    await producer.send([
      ...topics.flatMap((topic) => junk.map((value) => ({ topic, key, value }))),
      { topic: 'Notification', key, value: huge },
    ]);
    const expected = topics.length * junk.length + 1;
    await waitFor(() => deadLettersOf(key).length === expected, `${expected} dead letters`, TIMEOUT_MS);
    const letters = deadLettersOf(key);
    const big = letters.find((l) => l.data.record.valueBytes === huge.length);
    expect(big?.data.record).toMatchObject({ topic: 'Notification', valueTruncated: true });
    expect(Buffer.from(String(big?.data.record.value), 'base64').length).toBeLessThanOrEqual(16 * 1024);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // The partitions went on: an order placed now is shipped and notified.
    const { orderId } = await shippedOrder();
    const view = await e2e.get(orderId);
    expect(view.status).toBe(200);
  });
});
