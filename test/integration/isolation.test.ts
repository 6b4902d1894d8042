/**
 * The local runtime runs like Lambda (real Kafka, dynoxide, moto SNS, the real functions in execution
 * environments of their own): records that crash their consumer's environment — `process.exit`, running
 * out of memory — end alone on DeadLetterQueue through the mapping's bisection, their neighbours on the
 * same partitions are processed exactly once, and no other function notices.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { CRASH_HEADER } from '../../local/faults/crash-poison.ts';
import type { LocalRuntime } from '../../local/runtime/runtime.ts';
import { TestProducer, TopicReader, testBrokers, waitFor } from '../support/kafka.ts';
import {
  type E2ePipeline,
  e2eCatalog,
  mapConcurrently,
  orderBody,
  postOrder,
  startE2ePipeline,
} from '../support/pipeline.ts';
import { startTestRuntime } from '../support/runtime.ts';

const ORDERS = 24;
/** Each on a partition of its own, so that the partitions' lanes bisect them side by side. */
const crashes = [
  { partition: 0, kind: 'exit' },
  { partition: 1, kind: 'oom' },
  { partition: 2, kind: 'exit' },
  { partition: 4, kind: 'exit' },
];

describe('execution environments under records that crash them (real broker)', () => {
  const brokers = testBrokers();
  const producer = new TestProducer(brokers);
  let ordersOnly: E2ePipeline;
  let runtime: LocalRuntime;
  let failures: TopicReader;
  const orderIds: string[] = [];
  const crashKeys = crashes.map(({ kind }) => `crash-${kind}-${randomUUID().slice(0, 8)}`);
  let stockBefore: number;

  beforeAll(async () => {
    // Only order-api first: the orders' OrderReceived and the crash records wait on the topic together,
    // so inventory's first batches mix them on every partition.
    ordersOnly = await startE2ePipeline('isolation', { runtime: { functions: ['order-api'] } });
    failures = await new TopicReader(brokers, 'DeadLetterQueue').start('latest');
    stockBefore = (await ordersOnly.tables.stock(e2eCatalog.plenty.sku)).available;
    const half = Array.from({ length: ORDERS / 2 }, (_, i) => i + 1);
    const post = (quantity: number) =>
      postOrder(ordersOnly.api, orderBody([{ entry: e2eCatalog.plenty, quantity }]), randomUUID());
    const before = await mapConcurrently(half, 6, post);
    await producer.send(
      crashes.map(({ partition, kind }, i) => ({
        topic: 'OrderReceived',
        partition,
        key: crashKeys[i] as string,
        value: '{}',
        headers: { [CRASH_HEADER]: kind },
      })),
    );
    const after = await mapConcurrently(half, 6, post);
    orderIds.push(...[...before, ...after].map((answer) => answer.body.orderId as string));
    await ordersOnly.runtime.stop();
    runtime = await startTestRuntime({
      tablePrefix: ordersOnly.tablePrefix,
      groupIdOf: ordersOnly.groupIdOf,
      handlerWrapper: 'local/faults/crash-poison.ts',
      retryBackoff: { initialMs: 50, maxMs: 200 },
      scheduleIntervalMs: Number.POSITIVE_INFINITY,
    });
  });

  afterAll(async () => {
    await runtime?.stop();
    await ordersOnly?.stop();
    await failures?.close();
    await producer.close();
  });

  it('dead-letters each crashing record alone, and processes every neighbour exactly once', async () => {
    const { tables } = ordersOnly;
    const onFailure = () =>
      failures.messages
        .map((m) => JSON.parse(m.value.toString()) as LambdaKafkaFailureRecord)
        .filter((letter) => letter.requestContext !== undefined);
    const lettered = (key: string) =>
      onFailure().filter((letter) =>
        Object.values(letter.payload.records)
          .flat()
          .some((record) => record.key === Buffer.from(key).toString('base64')),
      );
    await waitFor(
      () => crashKeys.every((key) => lettered(key).length > 0),
      'a failure record per crash',
      // Each retry of a crashing record costs a cold start, and an out-of-memory one seconds of filling the
      // heap first: on a loaded 2-core machine the bisections took up to ~115 s.
      360_000,
    );
    await waitFor(
      async () =>
        (await Promise.all(orderIds.map((id) => tables.order(id)))).every((o) => o?.status === 'SHIPPED'),
      'every order to ship',
      300_000,
      500,
    );
    // The shipped notice follows SHIPPED on its own topic: wait for it before counting exactly once.
    const kindsOf = async (orderId: string) =>
      (await tables.notifications(orderId)).map((n) => n.kind).sort();
    await waitFor(
      async () => (await Promise.all(orderIds.map(kindsOf))).every((kinds) => kinds.length >= 2),
      'every order told packed and shipped',
      60_000,
      500,
    );

    for (const key of crashKeys) {
      const [letter, ...more] = lettered(key);
      expect(more, key).toHaveLength(0);
      // Alone: the failure record carries that one record, nothing of its neighbours.
      expect(Object.values(letter?.payload.records ?? {}).flat(), key).toHaveLength(1);
    }
    for (const orderId of orderIds) expect(lettered(orderId), orderId).toHaveLength(0);

    // Exactly once: each order reserved its stock once and was told once per kind.
    const quantities =
      orderIds.length === ORDERS ? [...Array(ORDERS / 2).keys(), ...Array(ORDERS / 2).keys()] : [];
    const reserved = quantities.reduce((sum, i) => sum + i + 1, 0);
    expect((await tables.stock(e2eCatalog.plenty.sku)).available).toBe(stockBefore - reserved);
    for (const orderId of orderIds) {
      expect(await kindsOf(orderId), orderId).toEqual(['order-packed', 'order-shipped']);
    }
  }, 900_000);

  it('loses only the crashing environments: inventory bisected and replaced them, no other function noticed', () => {
    const pool = (name: string) => runtime.pools.find((p) => p.functionName === name);
    const esm = (name: string) => runtime.emulators.find((e) => e.functionName === name);
    expect(pool('inventory')?.stats.environmentsLost).toBeGreaterThanOrEqual(crashes.length);
    expect(esm('inventory')?.stats.bisects).toBeGreaterThan(0);
    for (const name of ['warehouse', 'shipper', 'notification', 'kpis']) {
      expect(pool(name)?.stats.environmentsLost, name).toBe(0);
      expect(esm(name)?.stats.failedInvocations, name).toBe(0);
    }
  });
});
