/**
 * Issue #20, item 2, for the Kafka consumers: the whole local pipeline (real broker, dynoxide, moto, the
 * real handlers in their execution environments) runs with AWS's errors injected by the fault layer
 * (local/faults/), one runtime start per family of errors, a handful of orders each, and every guarantee
 * still holds: every order SHIPPED, or REJECTED where the stock says so; the stock exact; exactly one
 * recorded notification of each kind per order; no dead letter for any of these orders; every SNS message
 * sent once — except the publishes whose answer was lost after SNS took them, each of which is sent once
 * more (a standard topic has no idempotency token: at least once, the copy carries the same
 * `notificationId`). The counters prove that each class was injected, so the test can fail.
 */
import { randomUUID } from 'node:crypto';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultCounters, FaultProfileInput } from '../../local/faults/profile.ts';
import { parseFaultProfile } from '../../local/faults/profile.ts';
import { localSnsConfig, localTopicArn } from '../../local/infra/sns.ts';
import { localRegion } from '../../local/runtime/lambda-context.ts';
import { testInfra } from '../support/env.ts';
import { type RawMessage, TopicReader, uniqueName, waitFor } from '../support/kafka.ts';
import {
  type E2ePipeline,
  e2eCatalog,
  type Line,
  mapConcurrently,
  orderBody,
  startE2ePipeline,
} from '../support/pipeline.ts';

const ORDERS = 10;
const TIMEOUT_MS = 150_000;
/** A runtime start, the orders and the checks: longer than the wait for the orders, on a loaded machine. */
const TEST_TIMEOUT_MS = 240_000;
type Rules = FaultProfileInput['rules'];

/** An SQS queue subscribed to the run's topic: what a subscriber gets, message by message. */
class Subscriber {
  readonly #sqs = new SQSClient(localSnsConfig(testInfra().snsEndpoint));
  #url = '';
  readonly notificationIds: string[] = [];

  async subscribe(topicArn: string): Promise<this> {
    const { QueueUrl } = await this.#sqs.send(new CreateQueueCommand({ QueueName: uniqueName('survive') }));
    this.#url = QueueUrl as string;
    const { Attributes } = await this.#sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.#url, AttributeNames: ['QueueArn'] }),
    );
    const sns = new SNSClient(localSnsConfig(testInfra().snsEndpoint));
    await sns.send(
      new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }),
    );
    sns.destroy();
    return this;
  }

  async drain(): Promise<void> {
    for (;;) {
      const { Messages = [] } = await this.#sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.#url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (Messages.length === 0) return;
      for (const message of Messages) {
        const envelope = JSON.parse(message.Body ?? '{}') as {
          MessageAttributes?: Record<string, { Value: string }>;
        };
        this.notificationIds.push(envelope.MessageAttributes?.notificationId?.Value ?? '?');
      }
    }
  }

  async close(): Promise<void> {
    if (this.#url)
      await this.#sqs.send(new DeleteQueueCommand({ QueueUrl: this.#url })).catch(() => undefined);
    this.#sqs.destroy();
  }
}

/**
 * Posts an order with its own id and Idempotency-Key, again while the API answers 5xx or 409 in progress,
 * after the Retry-After it gives (the faults reach order-api's writes too; how it answers them is not this
 * test's subject): a well-behaved client.
 */
async function placeOrder(api: string, lines: Line[]): Promise<string> {
  const orderId = `survive-${randomUUID().slice(0, 12)}`;
  const body = JSON.stringify(orderBody(lines, orderId));
  const key = randomUUID();
  for (let attempt = 1; attempt <= 20; attempt += 1) {
    const response = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body,
    });
    const answer = await response.text();
    if (response.status === 202) return orderId;
    // 503, or 409 for a request with this key still in progress: the API says when to come back.
    const inProgress = response.status === 409 && answer.includes('"reason":"in-progress"');
    if (response.status < 500 && !inProgress)
      throw new Error(`order ${orderId}: ${response.status} ${answer}`);
    const retryAfter = Number(response.headers.get('retry-after') ?? 0);
    await new Promise((resolve) => setTimeout(resolve, Math.max(retryAfter * 1000, 200 * attempt)));
  }
  throw new Error(`order ${orderId} never accepted`);
}

interface Run {
  pipeline: E2ePipeline;
  subscriber: Subscriber;
  deadLetters: TopicReader;
}
let run: Run | undefined;

afterEach(async () => {
  await run?.pipeline.stop();
  await Promise.all([run?.subscriber.close(), run?.deadLetters.close()]);
  run = undefined;
});

/**
 * One runtime start with `rules`: ORDERS orders (most for plenty of a product and some of the limited
 * one, three for the scarce one, of which only two can be filled), all through the pipeline, then every
 * guarantee checked. Returns the fault counters.
 */
async function survive(name: string, rules: Rules): Promise<FaultCounters> {
  const deadLetters = await new TopicReader(testInfra().kafkaBrokers, 'DeadLetterQueue').start('latest');
  const pipeline = await startE2ePipeline(`survive-${name}`, {
    runtime: { faults: parseFaultProfile({ name, seed: 7, rules }) },
  });
  const subscriber = await new Subscriber().subscribe(
    localTopicArn('notifications', pipeline.tablePrefix, localRegion()),
  );
  run = { pipeline, subscriber, deadLetters };
  const { tables, api } = pipeline;
  const plentyBefore = await tables.stock(e2eCatalog.plenty.sku);
  const limitedBefore = await tables.stock(e2eCatalog.limited.sku);

  const orders = Array.from({ length: ORDERS }, (_, index): Line[] =>
    index < 3
      ? [{ entry: e2eCatalog.scarce, quantity: 1 }]
      : [
          { entry: e2eCatalog.plenty, quantity: 1 + (index % 3) },
          { entry: e2eCatalog.limited, quantity: 1 },
        ],
  );
  const ids = await mapConcurrently(orders, 5, (lines) => placeOrder(api, lines));

  const expectedNotices = (status: string) =>
    status === 'SHIPPED' ? ['order-packed', 'order-shipped'] : ['order-rejected'];
  const statuses = new Map<string, string>();
  await waitFor(
    async () => {
      for (const id of ids) {
        const order = await tables.order(id);
        if (order?.status !== 'SHIPPED' && order?.status !== 'REJECTED') return false;
        if ((await tables.notifications(id)).length < expectedNotices(order.status).length) return false;
        statuses.set(id, order.status);
      }
      return true;
    },
    `${ORDERS} orders SHIPPED or REJECTED with their notifications`,
    TIMEOUT_MS,
    500,
  );

  // Stock exact: the scarce product filled exactly twice, the others once per shipped order.
  const shipped = ids.filter((id) => statuses.get(id) === 'SHIPPED');
  const ofIndex = (id: string) => orders[ids.indexOf(id)] as Line[];
  const scarceShipped = shipped.filter((id) => ofIndex(id)[0]?.entry === e2eCatalog.scarce);
  expect(scarceShipped).toHaveLength(2);
  expect(shipped).toHaveLength(ORDERS - 1);
  const units = (sku: string) =>
    shipped.flatMap(ofIndex).reduce((sum, line) => sum + (line.entry.sku === sku ? line.quantity : 0), 0);
  for (const [entry, before] of [
    [e2eCatalog.plenty, plentyBefore],
    [e2eCatalog.limited, limitedBefore],
  ] as const) {
    expect(await tables.stock(entry.sku)).toMatchObject({
      available: before.available - units(entry.sku),
      reserved: before.reserved + units(entry.sku),
    });
  }
  expect(await tables.stock(e2eCatalog.scarce.sku)).toMatchObject({ available: 0, reserved: 2 });

  // Exactly one recorded notification of each kind per order.
  const noticeIds: string[] = [];
  for (const id of ids) {
    const notices = await tables.notifications(id);
    expect(notices.map((n) => n.kind).sort()).toEqual(expectedNotices(statuses.get(id) as string));
    noticeIds.push(...notices.map((n) => n.notificationId));
  }

  const counters = pipeline.runtime.faults?.counters() as FaultCounters;
  // Every notification reached the topic; the only copies are those of publishes whose answer was lost.
  const lostPublishAnswers = Object.entries(counters.byRule)
    .filter(([rule]) => rule.startsWith('sns-') && rule.endsWith('-after'))
    .reduce((sum, [, { fired }]) => sum + fired, 0);
  await waitFor(
    async () => {
      await subscriber.drain();
      return noticeIds.every((id) => subscriber.notificationIds.includes(id));
    },
    'every notification on the topic',
    30_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await subscriber.drain();
  const sent = subscriber.notificationIds.filter((id) => noticeIds.includes(id));
  expect(new Set(sent)).toEqual(new Set(noticeIds));
  expect(sent.length - noticeIds.length).toBe(lostPublishAnswers);

  // Nothing dead-lettered: a transient AWS error is retried, never sent to DeadLetterQueue.
  const mentions = (message: RawMessage) =>
    ids.some((id) => message.key?.toString() === id || message.value?.toString().includes(id));
  expect(deadLetters.messages.filter(mentions)).toEqual([]);
  return counters;
}

const fired = (counters: FaultCounters, rule: string) => counters.byRule[rule]?.fired ?? 0;

describe('the consumers survive every injected AWS error with the guarantees intact', {
  timeout: TEST_TIMEOUT_MS,
}, () => {
  it('DynamoDB contention: transactions cancelled for TransactionConflict, TransactionConflictException on single-item writes', async () => {
    const counters = await survive('contention', [
      {
        name: 'inventory-transaction-conflict',
        service: 'dynamodb',
        tables: ['inventory'],
        operations: ['TransactWriteItems'],
        rate: 0.5,
        limit: 30,
        fault: { kind: 'TransactionCanceledException', reason: 'TransactionConflict' },
      },
      {
        name: 'single-write-conflict',
        service: 'dynamodb',
        tables: ['orders', 'notifications'],
        rate: 0.3,
        limit: 40,
        fault: { kind: 'TransactionConflictException' },
      },
    ]);
    expect(fired(counters, 'inventory-transaction-conflict')).toBeGreaterThan(0);
    expect(fired(counters, 'single-write-conflict')).toBeGreaterThan(0);
  });

  it('DynamoDB throttling: ThrottlingException, ProvisionedThroughputExceededException, transactions cancelled for ThrottlingError', async () => {
    const counters = await survive('throttling', [
      {
        name: 'inventory-transaction-throttled',
        service: 'dynamodb',
        tables: ['inventory'],
        operations: ['TransactWriteItems'],
        rate: 0.4,
        limit: 20,
        fault: { kind: 'TransactionCanceledException', reason: 'ThrottlingError' },
      },
      {
        name: 'throttling',
        service: 'dynamodb',
        tables: ['inventory', 'orders', 'notifications'],
        rate: 0.3,
        limit: 40,
        fault: { kind: 'ThrottlingException' },
      },
      {
        name: 'throughput-exceeded',
        service: 'dynamodb',
        tables: ['orders', 'idempotency'],
        rate: 0.3,
        limit: 40,
        fault: { kind: 'ProvisionedThroughputExceededException' },
      },
    ]);
    for (const rule of ['inventory-transaction-throttled', 'throttling', 'throughput-exceeded'])
      expect(fired(counters, rule), rule).toBeGreaterThan(0);
  });

  it('DynamoDB 500s and dropped connections, before and after the write took effect, with latency', async () => {
    const lostAnswer = {
      service: 'dynamodb' as const,
      when: 'after' as const,
      fault: { kind: 'InternalServerError' as const },
    };
    const counters = await survive('errors', [
      { name: 'latency', service: 'dynamodb', rate: 0.3, fault: { kind: 'latency', ms: 10, jitterMs: 60 } },
      // The lost answers that matter, for sure: the SDK's retry meets the write it made (a reservation, an
      // order transition, a Powertools in-progress record).
      {
        name: 'reservation-after',
        ...lostAnswer,
        tables: ['inventory'],
        operations: ['TransactWriteItems'],
        rate: 0.3,
        limit: 3,
      },
      {
        name: 'transition-after',
        ...lostAnswer,
        tables: ['orders'],
        operations: ['UpdateItem'],
        rate: 0.3,
        limit: 4,
      },
      {
        name: 'in-progress-after',
        ...lostAnswer,
        tables: ['idempotency'],
        operations: ['PutItem'],
        rate: 0.4,
        limit: 4,
      },
      {
        name: 'ddb-500-before',
        service: 'dynamodb',
        rate: 0.12,
        limit: 30,
        fault: { kind: 'InternalServerError' },
      },
      {
        name: 'ddb-500-after',
        service: 'dynamodb',
        rate: 0.12,
        limit: 30,
        when: 'after',
        fault: { kind: 'InternalServerError' },
      },
      { name: 'ddb-drop-before', service: 'dynamodb', rate: 0.05, limit: 15, fault: { kind: 'drop' } },
      {
        name: 'ddb-drop-after',
        service: 'dynamodb',
        rate: 0.05,
        limit: 15,
        when: 'after',
        fault: { kind: 'drop' },
      },
    ]);
    for (const rule of [
      'latency',
      'reservation-after',
      'transition-after',
      'in-progress-after',
      'ddb-500-before',
      'ddb-500-after',
      'ddb-drop-before',
      'ddb-drop-after',
    ])
      expect(fired(counters, rule), rule).toBeGreaterThan(0);
  });

  it('SNS: Publish throttled, 500s before and after it took effect, dropped answers, latency', async () => {
    const publish = { service: 'sns' as const, operations: ['Publish'] };
    const counters = await survive('sns', [
      { name: 'sns-latency', ...publish, rate: 0.3, fault: { kind: 'latency', ms: 20, jitterMs: 80 } },
      { name: 'sns-throttling', ...publish, rate: 0.4, limit: 30, fault: { kind: 'Throttling' } },
      { name: 'sns-500-before', ...publish, rate: 0.2, limit: 10, fault: { kind: 'InternalError' } },
      {
        name: 'sns-500-after',
        ...publish,
        rate: 0.25,
        limit: 4,
        when: 'after',
        fault: { kind: 'InternalError' },
      },
      { name: 'sns-drop-after', ...publish, rate: 0.15, limit: 3, when: 'after', fault: { kind: 'drop' } },
    ]);
    for (const rule of ['sns-latency', 'sns-throttling', 'sns-500-before', 'sns-500-after', 'sns-drop-after'])
      expect(fired(counters, rule), rule).toBeGreaterThan(0);
  });
});
