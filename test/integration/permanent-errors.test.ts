import { randomUUID } from 'node:crypto';
import { PutItemCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { Producer } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { isPermanent } from '../../functions/shared/errors.ts';
import { localTableName } from '../../topology/manifest.ts';
import { testDynamoDbClient } from '../support/env.ts';
import { createTopics, deleteTopics, testBrokers, uniqueName } from '../support/kafka.ts';

/** What the real services answer, classified: the unit tests build these errors, here they come from the wire. */
describe('permanent errors as the real broker and DynamoDB endpoint raise them', () => {
  const brokers = testBrokers();
  const client = testDynamoDbClient();
  const topics: string[] = [];
  afterAll(async () => {
    client.destroy();
    if (topics.length > 0) await deleteTopics(brokers, topics).catch(() => undefined);
  });

  async function failure(attempt: () => Promise<unknown>): Promise<unknown> {
    try {
      await attempt();
    } catch (error) {
      return error;
    }
    throw new Error('expected the call to fail');
  }

  it('calls a record the broker refuses for its size permanent', async () => {
    const topic = uniqueName('permanent-too-large');
    await createTopics(brokers, { [topic]: 1 });
    topics.push(topic);
    const producer = new Producer({
      clientId: 'permanent-test',
      bootstrapBrokers: brokers,
      acks: -1,
      retries: 1,
    });
    try {
      // Above the broker's default max.message.bytes (~1 MiB).
      const tooLarge = await failure(() =>
        producer.send({ messages: [{ topic, value: Buffer.alloc(1_200_000, 0x61) }] }),
      );
      expect(isPermanent(tooLarge)).toBe(true);
      // The same producer, a record that fits: not refused.
      await producer.send({ messages: [{ topic, value: Buffer.from('small') }] });
    } finally {
      await producer.close();
    }
  });

  // moto does not check the number range (the schemas refuse those numbers before any write); it does
  // refuse an item over 400 KB and an item without its key, with DynamoDB's ValidationException.
  it('calls a write DynamoDB refuses as invalid permanent, in a transaction too', async () => {
    const table = localTableName('orders');
    const huge = { orderId: { S: `perm-${randomUUID()}` }, blob: { S: 'x'.repeat(420_000) } };
    const tooLarge = await failure(() => client.send(new PutItemCommand({ TableName: table, Item: huge })));
    expect((tooLarge as Error).name).toBe('ValidationException');
    expect(isPermanent(tooLarge)).toBe(true);
    const keyless = await failure(() =>
      client.send(new PutItemCommand({ TableName: table, Item: { total: { N: '1' } } })),
    );
    expect((keyless as Error).name).toBe('ValidationException');
    expect(isPermanent(keyless)).toBe(true);
    const inTransaction = await failure(() =>
      client.send(
        new TransactWriteItemsCommand({ TransactItems: [{ Put: { TableName: table, Item: huge } }] }),
      ),
    );
    expect(isPermanent(inTransaction)).toBe(true);
  });
});
