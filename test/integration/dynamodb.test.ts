import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { localTableName, manifest, tableNames } from '../../topology/manifest.ts';
import { testDynamoDbClient } from '../support/env.ts';

const client = testDynamoDbClient();
afterAll(() => client.destroy());

const orders = localTableName('orders');

describe('DynamoDB endpoint (dynoxide), provisioned from the manifest', () => {
  it.each(tableNames)('has the %s table with the declared keys, TTL and on-demand billing', async (table) => {
    const spec = manifest.tables[table];
    const name = localTableName(table);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const expectedKeys = [
      { AttributeName: spec.partitionKey.name, KeyType: 'HASH' },
      ...('sortKey' in spec ? [{ AttributeName: spec.sortKey.name, KeyType: 'RANGE' }] : []),
    ];
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual(expectedKeys);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');

    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    if ('ttlAttribute' in spec) {
      expect(TimeToLiveDescription).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: spec.ttlAttribute,
      });
    } else {
      expect(TimeToLiveDescription?.TimeToLiveStatus).toBe('DISABLED');
    }
  });

  it('refuses a conditional write whose condition fails, and keeps the item', async () => {
    const orderId = `ord-${randomUUID()}`;
    const put = (status: string) =>
      new PutItemCommand({
        TableName: orders,
        Item: { orderId: { S: orderId }, status: { S: status } },
        ConditionExpression: 'attribute_not_exists(orderId)',
      });
    await client.send(put('RECEIVED'));

    await expect(client.send(put('OVERWRITTEN'))).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: orders, Key: { orderId: { S: orderId } } }),
    );
    expect(Item?.status?.S).toBe('RECEIVED');
  });
});
