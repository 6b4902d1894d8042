/**
 * The whole pipeline, end to end: a real Kafka broker and moto (from the integration project's global
 * setup), the five real handlers running behind the API Gateway and MSK event source mapping emulators,
 * configured from the manifest exactly as `npm start` does. Only the tables (a prefix of this file's
 * own, freshly seeded) and the consumer groups (positioned at the end of their topics, so records of
 * other test files are not replayed) are this file's own.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { orderReceivedRecord } from '../../functions/shared/orders/events.ts';
import { newStoredOrder } from '../../functions/shared/orders/model.ts';
import { kafkaConsumers, manifest } from '../../topology/index.ts';
import { testInfra } from '../support/env.ts';
import { type RawMessage, TestProducer, TopicReader, waitFor } from '../support/kafka.ts';
import { e2eCatalog, mapConcurrently, orderBody, useE2ePipeline } from '../support/pipeline.ts';

const PIPELINE_TIMEOUT_MS = 90_000;

const terminal = new Set(['SHIPPED', 'REJECTED']);
const kafkaFunctions = kafkaConsumers.map(({ name }) => name);

describe('order pipeline end to end (real Kafka, dynoxide, moto SNS, the five real handlers)', () => {
  const { kafkaBrokers } = testInfra();
  const producer = new TestProducer(kafkaBrokers);
  const runtimeLog: string[] = [];
  // Quieter handlers: warnings and errors only. The manifest's retry count, with short waits: the
  // always-failing case reaches its limit quickly.
  const e2e = useE2ePipeline('e2e', {
    logLevel: 'WARN',
    runtime: { log: (line) => runtimeLog.push(line) },
  });
  const { faults } = e2e;
  let deadLetters: TopicReader;
  let orderReceived: TopicReader;
  let orderConfirmed: TopicReader;

  /** Polls the orders table until the order reaches `status`. */
  const orderReaching = (orderId: string, status: string) => e2e.tables.orderIn(orderId, [status]);

  const keyed = (messages: RawMessage[], key: string) => messages.filter((m) => m.key?.toString() === key);

  beforeAll(async () => {
    [deadLetters, orderReceived, orderConfirmed] = await Promise.all([
      new TopicReader(kafkaBrokers, 'DeadLetterQueue').start(),
      new TopicReader(kafkaBrokers, 'OrderReceived').start(),
      new TopicReader(kafkaBrokers, 'OrderConfirmed').start(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([
      deadLetters?.close(),
      orderReceived?.close(),
      orderConfirmed?.close(),
      producer.close(),
    ]);
  });

  it('takes an order to SHIPPED, with its history and one notification after packing and one after shipping', async () => {
    const before = await e2e.tables.stock(e2eCatalog.plenty.sku);
    const posted = await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity: 2 }]), randomUUID());
    expect(posted.status).toBe(202);
    const orderId = posted.body.orderId as string;
    expect(posted.body).toMatchObject({ status: 'RECEIVED', statusUrl: `/orders/${orderId}` });

    await orderReaching(orderId, 'SHIPPED');
    const view = await e2e.get(orderId);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ orderId, status: 'SHIPPED', trackingNumber: expect.any(String) });
    const history = (view.body.history as { status: string }[]).map((h) => h.status);
    expect(history.filter((s) => s !== 'NOTIFIED')).toEqual(['RECEIVED', 'CONFIRMED', 'PACKED', 'SHIPPED']);

    await waitFor(async () => (await e2e.tables.notifications(orderId)).length === 2, 'two notifications');
    expect((await e2e.tables.notifications(orderId)).map((n) => n.kind).sort()).toEqual([
      'order-packed',
      'order-shipped',
    ]);
    const after = await e2e.tables.stock(e2eCatalog.plenty.sku);
    expect(after).toMatchObject({ available: before.available - 2, reserved: before.reserved + 2 });
  });

  it('rejects an order it cannot fill, leaves every stock level alone and sends one notification', async () => {
    const plentyBefore = await e2e.tables.stock(e2eCatalog.plenty.sku);
    const scarceBefore = await e2e.tables.stock(e2eCatalog.scarce.sku);
    const posted = await e2e.post(
      orderBody([
        { entry: e2eCatalog.plenty, quantity: 1 },
        { entry: e2eCatalog.scarce, quantity: 5 },
      ]),
      randomUUID(),
    );
    expect(posted.status).toBe(202);
    const orderId = posted.body.orderId as string;
    const order = await orderReaching(orderId, 'REJECTED');
    expect(order.rejectionReason).toContain(e2eCatalog.scarce.sku);

    await waitFor(async () => (await e2e.tables.notifications(orderId)).length >= 1, 'the rejection notice');
    expect((await e2e.tables.notifications(orderId)).map((n) => n.kind)).toEqual(['order-rejected']);
    expect(await e2e.tables.stock(e2eCatalog.plenty.sku)).toEqual(plentyBefore);
    expect(await e2e.tables.stock(e2eCatalog.scarce.sku)).toEqual(scarceBefore);
  });

  it('answers the same POST twice with one order and one OrderReceived, and refuses the key for another order', async () => {
    const key = randomUUID();
    const body = orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]);
    const first = await e2e.post(body, key);
    const second = await e2e.post(body, key);
    expect(first.status).toBe(202);
    expect(second).toEqual(first);
    const orderId = first.body.orderId as string;

    const other = await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity: 9 }]), key);
    expect(other.status).toBe(409);

    await orderReaching(orderId, 'SHIPPED');
    expect(keyed(orderReceived.messages, orderId)).toHaveLength(1);
    expect(keyed(orderConfirmed.messages, orderId)).toHaveLength(1);
  });

  it('processes a Kafka record delivered twice once: one reservation, one notification after packing and one after shipping', async () => {
    const orderId = `e2e-dup-${randomUUID().slice(0, 8)}`;
    const order = {
      orderId,
      customerId: 'cust-dup',
      items: [
        {
          sku: e2eCatalog.duplicate.sku,
          name: e2eCatalog.duplicate.name,
          quantity: 3,
          unitPrice: e2eCatalog.duplicate.unitPrice,
        },
      ],
      total: 9,
      currency: 'USD',
      shippingAddress: { name: 'Dup', line1: '2 Test St', city: 'Testville', postalCode: '1', country: 'US' },
      placedAt: new Date().toISOString(),
    };
    // The order as order-api stores it; its genuine OrderReceived, twice: what a producer retry or a
    // redelivery looks like to the consumer.
    await e2e.tables.putOrder(newStoredOrder(order, { requestHash: 'h', requestId: `test-${orderId}` }));
    const record = orderReceivedRecord(order, `test-${orderId}`, new Date(order.placedAt));
    const copy = { topic: record.topic, key: record.key, value: record.value, headers: record.headers };
    await producer.send([copy, copy]);

    await orderReaching(orderId, 'SHIPPED');
    await waitFor(async () => (await e2e.tables.notifications(orderId)).length === 2, 'two notifications');
    expect(keyed(orderReceived.messages, orderId)).toHaveLength(2);
    // One confirmation: the redelivery may re-announce it, always under the same id.
    const confirmations = keyed(orderConfirmed.messages, orderId).map((m) =>
      [...m.headers].find(([name]) => name.toString() === 'event-id')?.[1].toString(),
    );
    expect(new Set(confirmations).size).toBe(1);
    expect(await e2e.tables.stock(e2eCatalog.duplicate.sku)).toMatchObject({ available: 97, reserved: 3 });
    const kinds = (await e2e.tables.notifications(orderId)).map((n) => n.kind).sort();
    expect(kinds).toEqual(['order-packed', 'order-shipped']);
  });

  it('dead-letters a poison record on every consumed topic with its metadata, and the pipeline goes on', async () => {
    const poison = kafkaFunctions.map((fn) => {
      const trigger = manifest.functions[fn].trigger as { topic: string };
      return { fn, topic: trigger.topic, key: `poison-${fn}-${randomUUID().slice(0, 8)}` };
    });
    await producer.send(
      poison.map(({ topic, key }) => ({
        topic,
        key,
        value: '{not json',
        headers: { 'event-id': 'not-a-uuid' },
      })),
    );
    const dead = () =>
      deadLetters.messages
        .map((m) => JSON.parse(m.value.toString()) as { eventType?: string; data?: Record<string, unknown> })
        .filter((m) => m.eventType === 'DeadLettered');
    const entryFor = (key: string) =>
      dead().find((m) => (m.data?.record as { key?: string })?.key === Buffer.from(key).toString('base64'));
    await waitFor(
      () => poison.every(({ key }) => entryFor(key)),
      'a dead letter per poison record',
      PIPELINE_TIMEOUT_MS,
    );

    for (const { fn, topic, key } of poison) {
      const entry = entryFor(key)!;
      expect(entry.data).toMatchObject({
        reason: 'poison',
        function: fn,
        error: { name: expect.any(String), message: expect.any(String) },
        record: {
          topic,
          partition: expect.any(Number),
          offset: expect.stringMatching(/^\d+$/),
          value: Buffer.from('{not json').toString('base64'),
          headers: [{ key: 'event-id', value: Buffer.from('not-a-uuid').toString('base64') }],
        },
      });
    }

    const after = await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]), randomUUID());
    await orderReaching(after.body.orderId as string, 'SHIPPED');
  });

  it('retries a batch whose handler fails transiently, and the order still ships', async () => {
    const orderId = `e2e-transient-${randomUUID().slice(0, 8)}`;
    faults.failTimes('warehouse', orderId, 2);
    const posted = await e2e.post(
      orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }], orderId),
      randomUUID(),
    );
    expect(posted.body.orderId).toBe(orderId);
    await orderReaching(orderId, 'SHIPPED');
    // Two injected failures, then the successful retry of the same batch.
    expect(faults.invocations('warehouse', orderId)).toBe(3);
    expect(runtimeLog.some((line) => line.includes(`injected failure of warehouse for ${orderId}`))).toBe(
      true,
    );
  });

  it('sends the batch of an always failing handler to DeadLetterQueue after the retry limit, and goes on', async () => {
    const orderId = `e2e-doomed-${randomUUID().slice(0, 8)}`;
    faults.alwaysFail('shipper', orderId);
    await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }], orderId), randomUUID());

    const failureFor = () =>
      deadLetters.messages
        .filter((m) => m.key?.toString() === orderId)
        .map((m) => JSON.parse(m.value.toString()) as Partial<LambdaKafkaFailureRecord>)
        .find((m) => m.requestContext !== undefined);
    await waitFor(() => failureFor() !== undefined, 'the on-failure record', PIPELINE_TIMEOUT_MS);

    const attempts = (manifest.functions.shipper.trigger as { retryAttempts: number }).retryAttempts + 1;
    const failure = failureFor() as LambdaKafkaFailureRecord;
    expect(failure.requestContext).toMatchObject({
      condition: 'RetriesExhausted',
      approximateInvokeCount: attempts,
      functionArn: expect.stringMatching(/:function:shipper:\$LATEST$/),
    });
    expect(failure.responseContext.functionError).toBe('Unhandled');
    const [[partitionKey, [original]]] = Object.entries(failure.payload.records) as [
      [string, LambdaKafkaFailureRecord['payload']['records'][string]],
    ];
    expect(partitionKey).toMatch(/^OrderPickedAndPacked-\d+$/);
    expect(Buffer.from(original!.key!, 'base64').toString()).toBe(orderId);
    expect(failure.KafkaBatchInfo.recordInfo.offset).toBe(String(original!.offset));
    expect(faults.invocations('shipper', orderId)).toBe(attempts);
    expect((await e2e.tables.order(orderId))?.status).toBe('PACKED');

    const next = await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]), randomUUID());
    await orderReaching(next.body.orderId as string, 'SHIPPED');
  });

  it('never oversells 200 orders racing for limited stock, and the stock adds up exactly', async () => {
    const { limited } = e2eCatalog;
    const quantities = Array.from({ length: 200 }, (_, i) => 1 + (i % 3));
    // 25 requests in flight at a time: moto answers one request at a time, and 200 POSTs at once would
    // queue long enough to exceed order-api's 10 s timeout. The orders still race for the stock in inventory.
    const answers = await mapConcurrently(quantities, 25, (quantity) =>
      e2e.post(orderBody([{ entry: limited, quantity }]), randomUUID()),
    );
    expect(
      answers.map((a) => a.status),
      runtimeLog
        .filter((line) => line.startsWith('[api]'))
        .slice(-3)
        .join('\n'),
    ).toEqual(quantities.map(() => 202));
    const ids = answers.map((a) => a.body.orderId as string);
    expect(new Set(ids).size).toBe(200);

    // SHIPPED and REJECTED are final: only the orders still on their way are read again, so that polling
    // does not compete with the pipeline for moto, which answers one request at a time.
    const orders = await e2e.tables.settled(
      ids,
      (order) => terminal.has(order.status),
      'all 200 orders to be SHIPPED or REJECTED',
      1_000,
    );
    const shipped = orders.filter((o) => o.status === 'SHIPPED');
    const rejected = orders.filter((o) => o.status === 'REJECTED');
    const stock = await e2e.tables.stock(limited.sku);
    const shippedQuantity = shipped.reduce((n, o) => n + (o.items[0]?.quantity ?? 0), 0);

    expect(stock.available).toBeGreaterThanOrEqual(0);
    expect(stock.available + stock.reserved).toBe(limited.initialStock);
    expect(stock.reserved).toBe(shippedQuantity);
    // Demand (400) exceeds the stock (150): some orders must have been refused, and only for stock.
    expect(rejected.length).toBeGreaterThan(0);
    expect(shipped.length).toBeGreaterThan(0);
    for (const order of rejected) expect(order.rejectionReason).toContain(limited.sku);
    // An order is only refused when its quantity no longer fits.
    const smallestRejected = Math.min(...rejected.map((o) => o.items[0]?.quantity ?? 0));
    expect(stock.available).toBeLessThan(smallestRejected);
  }, 480_000);
});
