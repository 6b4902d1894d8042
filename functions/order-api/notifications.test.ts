import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { dynamoNotifications } from './notifications.ts';

describe('delivered notifications of an order', () => {
  it('queries by order id, page by page', async () => {
    const inputs: Record<string, unknown>[] = [];
    const pages = [
      { Items: [{ kind: 'order-confirmed', deliveredAt: 'a' }], LastEvaluatedKey: { orderId: 'o', n: '1' } },
      { Items: [{ kind: 'order-packed', deliveredAt: 'b' }] },
    ];
    const client = {
      send: async (command: { input: Record<string, unknown> }) => {
        inputs.push(command.input);
        return pages.shift();
      },
    } as unknown as DynamoDBDocumentClient;
    const delivered = await dynamoNotifications(client, 'notifications').delivered('o');
    expect(delivered).toEqual([
      { kind: 'order-confirmed', deliveredAt: 'a' },
      { kind: 'order-packed', deliveredAt: 'b' },
    ]);
    expect(inputs[0]).toMatchObject({
      KeyConditionExpression: '#orderId = :orderId',
      ExpressionAttributeValues: { ':orderId': 'o' },
    });
    expect(inputs[1]?.ExclusiveStartKey).toEqual({ orderId: 'o', n: '1' });
  });

  it('stops after a bounded number of pages', async () => {
    const client = {
      send: async () => ({ Items: [], LastEvaluatedKey: { orderId: 'o' } }),
    } as unknown as DynamoDBDocumentClient;
    await expect(dynamoNotifications(client, 'notifications').delivered('o')).rejects.toThrow(/pages/);
  });
});
