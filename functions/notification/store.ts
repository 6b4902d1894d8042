import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../shared/dynamodb.ts';
import type { NotificationItem } from './logic.ts';

export type RecordResult = 'recorded' | 'already-recorded';

export interface NotificationsPort {
  /** Records a delivered notification, once: one recorded before is left alone. */
  record(item: NotificationItem): Promise<RecordResult>;
}

/**
 * One conditional put per notification. The order item is not touched: notifications live in their own
 * table (keyed by order id, so `GET /orders/{id}` reads them in one query) and the order stays small.
 */
export function dynamoNotifications(client: DynamoDBDocumentClient, table: string): NotificationsPort {
  return {
    async record(item) {
      try {
        await client.send(
          new PutCommand({
            TableName: table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(notificationId)',
          }),
        );
        return 'recorded';
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        return 'already-recorded';
      }
    },
  };
}
