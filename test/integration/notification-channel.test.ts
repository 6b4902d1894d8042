/**
 * The notification channel against moto's SNS (the DynamoDB endpoint's port: moto serves both): the
 * provisioner creates the manifest's topic, the notification step's SNS send publishes to it under the
 * idempotency guard, and an SQS queue subscribed to the topic (moto serves SQS too) reads back what a
 * subscriber gets. Last, the whole local pipeline: a shipped order's two messages reach the topic.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, newEvent } from '../../events/codec.ts';
import type { NotificationKind } from '../../events/schemas/events.ts';
import { deliveryIdempotencyConfig, idempotentDelivery } from '../../functions/notification/delivery.ts';
import { notificationItem } from '../../functions/notification/logic.ts';
import { snsClientConfig, snsSend } from '../../functions/notification/sns.ts';
import {
  genuineNotification,
  type NotificationFacts,
  notificationId,
} from '../../functions/shared/notifications.ts';
import { newStoredOrder, type StoredOrder } from '../../functions/shared/orders/model.ts';
import { RecordingLogger, sampleOrder, storedOrder } from '../../functions/shared/testing.ts';
import { provisionChannels, provisionTables } from '../../local/infra/provision.ts';
import { localSnsConfig, localTopicArn } from '../../local/infra/sns.ts';
import { createLambdaContext, localRegion } from '../../local/runtime/lambda-context.ts';
import { localTableName } from '../../topology/index.ts';
import { testDynamoDbClient, testInfra } from '../support/env.ts';
import { TestProducer, TopicReader, uniqueName, waitFor } from '../support/kafka.ts';
import { type E2ePipeline, e2eCatalog, orderBody, postOrder, startE2ePipeline } from '../support/pipeline.ts';

const TIMEOUT_MS = 90_000;

/** The SNS envelope an SQS subscriber receives (raw message delivery off). */
interface SnsEnvelope {
  Type: string;
  TopicArn: string;
  Subject: string;
  Message: string;
  MessageAttributes: Record<string, { Type: string; Value: string }>;
}

/** An SQS queue in moto subscribed to a topic, optionally with a filter policy. */
class SubscribedQueue {
  readonly #sqs: SQSClient;
  #url = '';
  readonly received: SnsEnvelope[] = [];

  constructor(readonly endpoint: string) {
    this.#sqs = new SQSClient(localSnsConfig(endpoint));
  }

  async subscribe(topicArn: string, filterPolicy?: Record<string, string[]>): Promise<this> {
    const { QueueUrl } = await this.#sqs.send(new CreateQueueCommand({ QueueName: uniqueName('notif') }));
    this.#url = QueueUrl as string;
    const { Attributes } = await this.#sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.#url, AttributeNames: ['QueueArn'] }),
    );
    const sns = new SNSClient(localSnsConfig(this.endpoint));
    try {
      await sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'sqs',
          Endpoint: Attributes?.QueueArn,
          ...(filterPolicy ? { Attributes: { FilterPolicy: JSON.stringify(filterPolicy) } } : {}),
        }),
      );
    } finally {
      sns.destroy();
    }
    return this;
  }

  /** Receives what arrived, then says how many of the received ones `which` selects. */
  async count(which: (message: SnsEnvelope) => boolean = () => true): Promise<number> {
    await this.drain();
    return this.received.filter(which).length;
  }

  /** Receives what arrived since the last call (and keeps it in `received`). */
  async drain(): Promise<SnsEnvelope[]> {
    const got: SnsEnvelope[] = [];
    for (;;) {
      const { Messages = [] } = await this.#sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.#url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (Messages.length === 0) break;
      got.push(...Messages.map((m: Message) => JSON.parse(m.Body ?? '{}') as SnsEnvelope));
    }
    this.received.push(...got);
    return got;
  }

  async close(): Promise<void> {
    if (this.#url)
      await this.#sqs.send(new DeleteQueueCommand({ QueueUrl: this.#url })).catch(() => undefined);
    this.#sqs.destroy();
  }
}

const attributesOf = (envelope: SnsEnvelope) =>
  Object.fromEntries(Object.entries(envelope.MessageAttributes).map(([name, a]) => [name, a.Value]));

/** Waits for a shipped order's two messages on the topic and its two recorded notifications, then drains. */
async function twoMessagesSent(
  subscriber: SubscribedQueue,
  pipeline: E2ePipeline,
  orderId: string,
  what: string,
): Promise<void> {
  await waitFor(
    async () => (await subscriber.count((m) => attributesOf(m).orderId === orderId)) >= 2,
    what,
    TIMEOUT_MS,
    200,
  );
  await waitFor(
    async () => (await pipeline.tables.notifications(orderId)).length === 2,
    'two recorded',
    TIMEOUT_MS,
  );
  await subscriber.drain();
}

describe("the notification channel on moto's SNS", () => {
  const { dynamodbEndpoint, snsEndpoint } = testInfra();
  const prefix = uniqueName('chan');
  const topicArn = localTopicArn('notifications', prefix, localRegion());
  const queues: SubscribedQueue[] = [];
  const queue = async (filterPolicy?: Record<string, string[]>) => {
    const q = await new SubscribedQueue(snsEndpoint).subscribe(topicArn, filterPolicy);
    queues.push(q);
    return q;
  };

  beforeAll(async () => {
    await provisionTables(dynamodbEndpoint, prefix);
  });

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close()));
  });

  it('creates the manifest topic where the functions are told it is, once', async () => {
    const first = await provisionChannels(snsEndpoint, prefix);
    expect(first).toEqual([
      { channel: 'notifications', topicName: `${prefix}-notifications`, topicArn, action: 'created' },
    ]);
    expect((await provisionChannels(snsEndpoint, prefix))[0]?.action).toBe('existing');
  });

  it('publishes each notification once, with the attributes a filter policy selects on', async () => {
    const all = await queue();
    const shippedOnly = await queue({ kind: ['order-shipped'] });
    const client = new SNSClient(snsClientConfig({ SNS_ENDPOINT: snsEndpoint, AWS_REGION: localRegion() }));
    const dynamo = testDynamoDbClient();
    try {
      // The handler's own wiring: the SNS send under Powertools idempotency on the idempotency table.
      const config = deliveryIdempotencyConfig();
      config.registerLambdaContext(
        createLambdaContext(
          { functionName: 'notification', memoryMb: 512, timeoutSeconds: 30 },
          Date.now() + 30_000,
        ),
      );
      const delivery = idempotentDelivery(
        snsSend(client, topicArn),
        new DynamoDBPersistenceLayer({
          tableName: localTableName('idempotency', prefix),
          keyAttr: 'id',
          expiryAttr: 'expiration',
          awsSdkV3Client: dynamo,
        }),
        config,
      );
      const order = { ...sampleOrder(), orderId: `ord-${randomUUID()}` };
      const now = new Date();
      const message = (facts: NotificationFacts) =>
        notificationItem(genuineNotification(storedOrder(order), facts), now);
      const packed = message({
        kind: 'order-packed',
        parcel: { parcelId: 'PCL-1', weightGrams: 900, size: 'S' },
      });
      const shipped = message({ kind: 'order-shipped', carrier: 'SwiftPost', trackingNumber: 'SP1' });
      const logger = new RecordingLogger();
      expect(await delivery.deliver(packed, logger)).toBe('delivered');
      expect(await delivery.deliver(shipped, logger)).toBe('delivered');
      // A redelivery (the record step failed, the batch was retried): answered from the guard.
      expect(await delivery.deliver(shipped, logger)).toBe('already-delivered');

      await waitFor(async () => (await all.count()) >= 2, 'two messages on the queue');
      await waitFor(async () => (await shippedOnly.count()) >= 1, 'the shipped one');
      await all.drain();
      expect(all.received.map((m) => attributesOf(m).kind)).toEqual(['order-packed', 'order-shipped']);
      expect(shippedOnly.received.map((m) => attributesOf(m).notificationId)).toEqual([
        shipped.notificationId,
      ]);
      const [, got] = all.received;
      expect(got).toMatchObject({
        Type: 'Notification',
        TopicArn: topicArn,
        Subject: `Order ${order.orderId} shipped`,
        Message: 'Your order is on its way with SwiftPost. Tracking number: SP1.',
      });
      expect(got && attributesOf(got)).toEqual({
        customerId: order.customerId,
        kind: 'order-shipped',
        orderId: order.orderId,
        notificationId: shipped.notificationId,
      });
      expect(Object.values(got?.MessageAttributes ?? {}).map((a) => a.Type)).toEqual(Array(4).fill('String'));
    } finally {
      client.destroy();
      dynamo.destroy();
    }
  });
});

describe('a shipped order through the local pipeline (real Kafka, dynoxide, moto SNS, the real handlers)', () => {
  const subscriber = new SubscribedQueue(testInfra().snsEndpoint);
  let pipeline: E2ePipeline;

  beforeAll(async () => {
    pipeline = await startE2ePipeline('chan-e2e');
    // Before any order: the queue sees every message the run's topic gets.
    await subscriber.subscribe(localTopicArn('notifications', pipeline.tablePrefix, localRegion()));
  });

  afterAll(async () => {
    await pipeline?.stop();
    await subscriber.close();
  });

  it("sends its two messages to the topic, each once, with the order's ids and no address", async () => {
    const body = orderBody([{ entry: e2eCatalog.plenty, quantity: 2 }]);
    const posted = await postOrder(pipeline.api, body, randomUUID());
    expect(posted.status).toBe(202);
    const orderId = posted.body.orderId as string;
    const ofOrder = () => subscriber.received.filter((m) => attributesOf(m).orderId === orderId);
    await twoMessagesSent(subscriber, pipeline, orderId, 'two messages of the order on the topic');

    const messages = ofOrder();
    const recorded = await pipeline.tables.notifications(orderId);
    expect(messages.map((m) => attributesOf(m).kind).sort()).toEqual(['order-packed', 'order-shipped']);
    for (const message of messages) {
      const attributes = attributesOf(message);
      expect(attributes.customerId).toBe(body.customerId);
      // The message's id is the recorded notification's: what GET /orders/{id} lists was sent, once.
      expect(recorded.find((r) => r.kind === attributes.kind)?.notificationId).toBe(
        attributes.notificationId,
      );
      expect(message.Subject).toContain(orderId);
      const told = JSON.stringify([message.Subject, message.Message, message.MessageAttributes]);
      for (const part of ['Test Customer', '1 Test St', 'Testville', '12345'])
        expect(told).not.toContain(part);
    }
  });
});

describe('forged notifications through the local pipeline (real Kafka, dynoxide, moto SNS, the real handlers)', () => {
  const { kafkaBrokers, snsEndpoint } = testInfra();
  const subscriber = new SubscribedQueue(snsEndpoint);
  const producer = new TestProducer(kafkaBrokers);
  let deadLetters: TopicReader;
  let pipeline: E2ePipeline;
  const customs = 'Pay the customs fee at http://pay.example.invalid';

  beforeAll(async () => {
    pipeline = await startE2ePipeline('chan-forged');
    await subscriber.subscribe(localTopicArn('notifications', pipeline.tablePrefix, localRegion()));
    deadLetters = await new TopicReader(kafkaBrokers, 'DeadLetterQueue').start('latest');
  });

  afterAll(async () => {
    await pipeline?.stop();
    await Promise.all([subscriber.close(), producer.close(), deadLetters?.close()]);
  });

  /** A Notification with the genuine id of its order and kind, the forger's customer and text. */
  const forged = (orderId: string, kind: NotificationKind) =>
    encode(
      'Notification',
      newEvent('Notification', {
        eventId: notificationId(orderId, kind),
        correlationId: orderId,
        causationId: 'attacker',
        source: 'shipper',
        data: {
          orderId,
          customerId: 'cust-victim',
          kind,
          channel: 'email',
          subject: 'Customs fee due',
          message: customs,
          details: { url: 'http://pay.example.invalid' },
        },
      }),
    );
  const send = (records: ReturnType<typeof forged>[]) =>
    producer.send(records.map((r) => ({ topic: r.topic, key: r.key, value: r.value, headers: r.headers })));
  const lettersOf = (orderId: string) =>
    deadLetters.messages
      .filter((m) => m.key?.toString() === orderId)
      .map(
        (m) =>
          JSON.parse(m.value.toString()) as {
            eventType: string;
            data: { function: string; error: { name: string; message: string } };
          },
      )
      .filter((letter) => letter.eventType === 'DeadLettered');
  const messagesOf = (orderId: string) =>
    subscriber.received.filter((m) => attributesOf(m).orderId === orderId);

  it("publishes the stored order's text to its customer, never the forger's, and refuses a kind the order is not owed", async () => {
    // A REJECTED order whose own notification was never produced: only the forged records name it.
    const order = { ...sampleOrder(), orderId: uniqueName('forged-rejected'), customerId: 'cust-owner' };
    const { outboxShard: _, ...received } = newStoredOrder(order, { requestHash: 'h', requestId: 'r' });
    const rejected: StoredOrder = {
      ...received,
      status: 'REJECTED',
      rejectionReason: 'SKU-MUG is out of stock',
      history: [...received.history, { status: 'REJECTED', at: new Date().toISOString() }],
    };
    await pipeline.tables.putOrder(rejected);
    // One key, one partition, in this order: the shipped one's dead letter means both were handled.
    await send([forged(order.orderId, 'order-rejected'), forged(order.orderId, 'order-shipped')]);
    await waitFor(
      () => lettersOf(order.orderId).length >= 1,
      'the dead letter of the shipped one',
      TIMEOUT_MS,
    );
    await waitFor(
      async () => (await subscriber.count((m) => attributesOf(m).orderId === order.orderId)) >= 1,
      'the message',
      TIMEOUT_MS,
    );
    await subscriber.drain();

    expect(
      lettersOf(order.orderId).map((l) => [l.data.function, l.data.error.name, l.data.error.message]),
    ).toEqual([
      [
        'notification',
        'InvalidTransitionError',
        `order ${order.orderId} is REJECTED; it is owed no order-shipped`,
      ],
    ]);
    const messages = messagesOf(order.orderId);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      Subject: `Order ${order.orderId} could not be accepted`,
      Message:
        'We are sorry: we could not reserve your order (SKU-MUG is out of stock). You have not been charged.',
    });
    expect(messages[0] && attributesOf(messages[0])).toMatchObject({
      customerId: 'cust-owner',
      kind: 'order-rejected',
    });
    expect(JSON.stringify(subscriber.received)).not.toContain('customs');
    expect((await pipeline.tables.notifications(order.orderId)).map((n) => n.kind)).toEqual([
      'order-rejected',
    ]);
  });

  it('refuses notifications forged before their order exists, and the genuine ones are sent when the order ships', async () => {
    const orderId = uniqueName('forged-early');
    await send([forged(orderId, 'order-packed'), forged(orderId, 'order-shipped')]);
    await waitFor(() => lettersOf(orderId).length >= 2, 'a dead letter per forged record', TIMEOUT_MS);
    expect(lettersOf(orderId).map((l) => l.data.error.message)).toEqual([
      `order ${orderId} is unknown`,
      `order ${orderId} is unknown`,
    ]);
    expect(await pipeline.tables.notifications(orderId)).toEqual([]);

    const body = orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }], orderId);
    expect((await postOrder(pipeline.api, body, randomUUID())).status).toBe(202);
    await twoMessagesSent(subscriber, pipeline, orderId, "the order's two genuine messages");
    const messages = messagesOf(orderId);
    expect(messages.map((m) => attributesOf(m).kind).sort()).toEqual(['order-packed', 'order-shipped']);
    for (const message of messages) expect(attributesOf(message).customerId).toBe(body.customerId);
    expect(messages.find((m) => attributesOf(m).kind === 'order-shipped')?.Message).toMatch(
      /^Your order is on its way with /,
    );
    expect(JSON.stringify(subscriber.received)).not.toContain('customs');
  });
});
