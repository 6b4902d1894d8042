import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../shared/dynamodb.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';
import type { NotificationItem } from './logic.ts';

export type RecordResult = 'recorded' | 'already-recorded';

export interface NotificationsPort {
  /**
   * Records a delivered notification and appends its entry to the order's history, each exactly once:
   * a notification recorded before is left alone, and its history entry is appended if it is missing.
   */
  record(item: NotificationItem, entry: HistoryEntry): Promise<RecordResult>;
}

/** The history append, guarded by the set of notification ids already appended to the order. */
export function historyAppend(ordersTable: string, item: NotificationItem, entry: HistoryEntry) {
  return {
    TableName: ordersTable,
    Key: { orderId: item.orderId },
    UpdateExpression:
      'SET #history = list_append(if_not_exists(#history, :noHistory), :entry) ADD #notified :ids',
    // A missing order (an event produced by hand, say) is left missing: the notification alone is recorded.
    ConditionExpression: 'attribute_exists(#orderId) AND NOT contains(#notified, :id)',
    ExpressionAttributeNames: {
      '#orderId': 'orderId',
      '#history': 'history',
      '#notified': 'notificationIds',
    },
    ExpressionAttributeValues: {
      ':entry': [entry],
      ':noHistory': [],
      ':ids': new Set([item.notificationId]),
      ':id': item.notificationId,
    },
  };
}

/**
 * Two conditional writes rather than one transaction: each is idempotent on its own, so a crash between
 * them is repaired by the retry. (It also keeps transactions out of moto's way locally: moto rolls a
 * failed transaction back by restoring whole-table snapshots, which can undo concurrent writes.)
 */
export function dynamoNotifications(
  client: DynamoDBDocumentClient,
  tables: { notifications: string; orders: string },
): NotificationsPort {
  return {
    async record(item, entry) {
      let result: RecordResult = 'recorded';
      try {
        await client.send(
          new PutCommand({
            TableName: tables.notifications,
            Item: item,
            ConditionExpression: 'attribute_not_exists(notificationId)',
          }),
        );
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        result = 'already-recorded';
      }
      try {
        await client.send(new UpdateCommand(historyAppend(tables.orders, item, entry)));
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      return result;
    },
  };
}
