import { type DynamoDBDocumentClient, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../shared/dynamodb.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';
import type { NotificationItem } from './logic.ts';

export type RecordResult = 'recorded' | 'already-recorded';

export interface NotificationsPort {
  /**
   * Records a delivered notification and appends its entry to the order's history, both or neither.
   * A notification recorded before is left alone: each is recorded, and delivered, once.
   */
  record(item: NotificationItem, entry: HistoryEntry): Promise<RecordResult>;
}

export function dynamoNotifications(
  client: DynamoDBDocumentClient,
  tables: { notifications: string; orders: string },
): NotificationsPort {
  const putAlone = async (item: NotificationItem): Promise<RecordResult> => {
    try {
      await client.send(
        new PutCommand({
          TableName: tables.notifications,
          Item: item,
          ConditionExpression: 'attribute_not_exists(notificationId)',
        }),
      );
      return 'recorded';
    } catch (error) {
      if (isConditionalCheckFailed(error)) return 'already-recorded';
      throw error;
    }
  };

  return {
    async record(item, entry) {
      try {
        await client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: tables.notifications,
                  Item: item,
                  ConditionExpression: 'attribute_not_exists(notificationId)',
                },
              },
              {
                Update: {
                  TableName: tables.orders,
                  Key: { orderId: item.orderId },
                  UpdateExpression: 'SET #history = list_append(if_not_exists(#history, :noHistory), :entry)',
                  ConditionExpression: 'attribute_exists(orderId)',
                  ExpressionAttributeNames: { '#history': 'history' },
                  ExpressionAttributeValues: { ':entry': [entry], ':noHistory': [] },
                },
              },
            ],
          }),
        );
        return 'recorded';
      } catch (error) {
        if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') throw error;
        const codes = (
          (error as Error & { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []
        ).map((reason) => reason.Code ?? 'None');
        const unexpected = codes.find((code) => code !== 'None' && code !== 'ConditionalCheckFailed');
        if (unexpected) throw new Error(`notification transaction cancelled: ${unexpected}`);
        if (codes[0] === 'ConditionalCheckFailed') return 'already-recorded';
        // The order is not in the orders table (an event produced by hand, say): record the notification alone.
        return putAlone(item);
      }
    },
  };
}
