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
import { builtInFaultProfile, parseFaultProfile } from '../../local/faults/profile.ts';
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
const PLACE_WITHIN_MS = 60_000;
/** A runtime start, the orders and the checks: longer than the waits for the orders, on a loaded machine. */
const TEST_TIMEOUT_MS = 300_000;
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
 * test's subject): a well-behaved client. It gives up after a time, not a number of attempts: on a loaded
 * machine each answer may take seconds to come (order-api's DynamoDB calls time out after 3 s).
 */
async function placeOrder(api: string, lines: Line[]): Promise<string> {
  const orderId = `survive-${randomUUID().slice(0, 12)}`;
  const body = JSON.stringify(orderBody(lines, orderId));
  const key = randomUUID();
  const deadline = Date.now() + PLACE_WITHIN_MS;
  let last = '';
  for (let attempt = 1; Date.now() < deadline; attempt += 1) {
    const response = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body,
    });
    const answer = await response.text();
    if (response.status === 202) return orderId;
    last = `${response.status} ${answer}`;
    // 503, or 409 for a request with this key still in progress: the API says when to come back.
    const inProgress = response.status === 409 && answer.includes('"reason":"in-progress"');
    if (response.status < 500 && !inProgress)
      throw new Error(`order ${orderId}: ${response.status} ${answer}`);
    const retryAfter = Number(response.headers.get('retry-after') ?? 0);
    const wait = Math.max(retryAfter * 1000, Math.min(200 * attempt, 2_000));
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  throw new Error(`order ${orderId} not accepted within ${PLACE_WITHIN_MS} ms, last answer: ${last}`);
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
  // Nothing dead-lettered: a transient AWS error is retried, never sent to DeadLetterQueue.
  const mentions = (message: RawMessage) =>
    ids.some((id) => message.key?.toString() === id || message.value?.toString().includes(id));
  const deadLettered = () => deadLetters.messages.filter(mentions).map((m) => m.value?.toString());
  await waitFor(
    async () => {
      // An order whose record was dead-lettered never ends: stop waiting, the letter is the failure.
      if (deadLettered().length > 0) return true;
      for (const id of ids) {
        const order = await tables.order(id);
        const notices = order ? (await tables.notifications(id)).length : 0;
        const ended = order?.status === 'SHIPPED' || order?.status === 'REJECTED';
        // Thrown, not returned: on a timeout waitFor names the order that was still on its way.
        if (!ended || notices < expectedNotices(order.status).length)
          throw new Error(`${id} is ${order?.status ?? 'not written'} with ${notices} notification(s)`);
        statuses.set(id, order.status);
      }
      return true;
    },
    `${ORDERS} orders SHIPPED or REJECTED with their notifications`,
    TIMEOUT_MS,
    500,
  );
  expect(deadLettered()).toEqual([]);

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

  expect(deadLettered()).toEqual([]);
  return counters;
}

const fired = (counters: FaultCounters, rule: string) => counters.byRule[rule]?.fired ?? 0;

/**
 * The rules of `npm start -- --faults <profile>` (local/faults/profile.ts) by name, denser for a handful of
 * orders: each at the `[rate, limit]` given, so every rule fires at least once and not without end.
 */
function profileRules(denser: Readonly<Record<string, readonly [number, number?]>>): Rules {
  const known = builtInFaultProfile('mixed')?.rules ?? [];
  return Object.entries(denser).map(([name, [rate, limit]]) => {
    const rule = known.find((r) => r.name === name);
    if (!rule) throw new Error(`no built-in fault rule ${name}`);
    return { ...rule, rate, ...(limit === undefined ? {} : { limit }) };
  });
}

describe('the consumers survive every injected AWS error with the guarantees intact', {
  timeout: TEST_TIMEOUT_MS,
}, () => {
  /** A lost answer that matters, for sure: the SDK's retry meets the write it made. */
  const lostAnswer = (name: string, table: string, operation: string, rate: number, limit: number) => ({
    name,
    service: 'dynamodb' as const,
    tables: [table],
    operations: [operation],
    rate,
    limit,
    when: 'after' as const,
    fault: { kind: 'InternalServerError' as const },
  });

  // Each family: the built-in rules made denser ([rate, limit]), and rules of the test's own.
  it.each<[string, string, Record<string, readonly [number, number?]>, Rules]>([
    [
      'DynamoDB contention: transactions cancelled for TransactionConflict, TransactionConflictException on single-item writes',
      'contention',
      { 'inventory-transaction-conflict': [0.5, 30], 'single-write-conflict': [0.3, 40] },
      [],
    ],
    [
      'DynamoDB throttling: ThrottlingException, ProvisionedThroughputExceededException, transactions cancelled for ThrottlingError',
      'throttling',
      {
        'inventory-transaction-throttled': [0.4, 20],
        'inventory-throttling': [0.3, 40],
        'orders-throughput-exceeded': [0.3, 40],
      },
      [],
    ],
    [
      'DynamoDB 500s and dropped connections, before and after the write took effect, with latency',
      'errors',
      {
        'dynamodb-latency': [0.3],
        'dynamodb-500-before': [0.12, 30],
        'dynamodb-500-after': [0.12, 30],
        'dynamodb-drop-before': [0.05, 15],
        'dynamodb-drop-after': [0.05, 15],
      },
      // A reservation, an order transition, a Powertools in-progress record.
      [
        lostAnswer('reservation-after', 'inventory', 'TransactWriteItems', 0.3, 3),
        lostAnswer('transition-after', 'orders', 'UpdateItem', 0.3, 4),
        lostAnswer('in-progress-after', 'idempotency', 'PutItem', 0.4, 4),
      ],
    ],
    [
      'SNS: Publish throttled, 500s before and after it took effect, dropped answers, latency',
      'sns',
      {
        'sns-latency': [0.3],
        'sns-throttling': [0.4, 30],
        'sns-500-before': [0.2, 10],
        'sns-500-after': [0.25, 4],
        'sns-drop-after': [0.15, 3],
      },
      [],
    ],
  ])('%s', async (_, name, denser, own) => {
    const counters = await survive(name, [...profileRules(denser), ...own]);
    // Every rule was injected: the guarantees held through each class, not through its absence.
    for (const rule of [...Object.keys(denser), ...own.map((r) => r.name as string)])
      expect(fired(counters, rule), rule).toBeGreaterThan(0);
  });
});
