import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { NotificationKind } from '../../events/schemas/events.ts';

/** What `GET /orders/{id}` shows of a delivered notification (an item of the notifications table). */
export const DeliveredNotification = z.object({ kind: NotificationKind, deliveredAt: z.string() });
export type DeliveredNotification = z.infer<typeof DeliveredNotification>;

/** The notifications table as order-api reads it; unit tests use an array. */
export interface NotificationsReadPort {
  delivered(orderId: string): Promise<DeliveredNotification[]>;
}

/** An order has a handful of notifications (at most one per kind); more pages than this is a bug. */
const MAX_PAGES = 10;

export function dynamoNotifications(
  client: DynamoDBDocumentClient,
  tableName: string,
): NotificationsReadPort {
  return {
    async delivered(orderId) {
      const found: DeliveredNotification[] = [];
      let start: Record<string, unknown> | undefined;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const answer = await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#orderId = :orderId',
            ProjectionExpression: '#kind, #deliveredAt',
            ExpressionAttributeNames: {
              '#orderId': 'orderId',
              '#kind': 'kind',
              '#deliveredAt': 'deliveredAt',
            },
            ExpressionAttributeValues: { ':orderId': orderId },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of answer.Items ?? []) {
          const parsed = DeliveredNotification.safeParse(item);
          if (!parsed.success) throw new Error(`notifications item of order ${orderId} is malformed`);
          found.push(parsed.data);
        }
        start = answer.LastEvaluatedKey;
        if (!start) return found;
      }
      throw new Error(`order ${orderId} has more than ${MAX_PAGES} pages of notifications`);
    },
  };
}
