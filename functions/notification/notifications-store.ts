import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed, WRITE_CONFLICT_RETRY } from '../shared/dynamodb.ts';
import { retry } from '../shared/retry.ts';
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
        // Sent again when it meets a running transaction (the SDK does not retry a conflict); a lost
        // answer's retry meets its own item and counts as recorded, which it is.
        await retry(
          () =>
            client.send(
              new PutCommand({
                TableName: table,
                Item: item,
                ConditionExpression: 'attribute_not_exists(notificationId)',
              }),
            ),
          WRITE_CONFLICT_RETRY,
        );
        return 'recorded';
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        return 'already-recorded';
      }
    },
  };
}
