import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../shared/dynamodb.ts';
import { cancellationCodes, PermanentError } from '../shared/errors.ts';
import { RESERVED_STATUSES, type UpdateParams } from '../shared/orders/model.ts';
import type { ReservationLine } from './logic.ts';

export type ReleaseResult =
  /** The lines' units are back in stock (or there were none to give back) and the order says so. */
  | { kind: 'released' }
  /** An earlier attempt released it already: nothing changed now. */
  | { kind: 'already-released' }
  /** A concurrent transaction held one of the items: nothing changed; try again. */
  | { kind: 'conflict' };

export interface ReleasePort {
  /**
   * Gives back `lines` (the cancelled order's reservation) and marks the order `stockReleased`, all or
   * nothing, exactly once. `reserved: false` (cancelled before inventory reserved anything) only marks it.
   */
  release(orderId: string, lines: readonly ReservationLine[], reserved: boolean): Promise<ReleaseResult>;
}

/**
 * The order's side of a release: CANCELLED, not released before, and cancelled from the status the
 * caller saw (reserved or not), so a release can never happen twice nor give back what was never taken.
 */
export function releaseOrderUpdate(ordersTable: string, orderId: string, reserved: boolean): UpdateParams {
  const statuses = reserved ? RESERVED_STATUSES : (['RECEIVED'] as const);
  const values: Record<string, unknown> = { ':cancelled': 'CANCELLED', ':released': true };
  const from = statuses.map((status, index) => {
    values[`:from${index}`] = status;
    return `#cancelledFrom = :from${index}`;
  });
  return {
    TableName: ordersTable,
    Key: { orderId },
    // Out of the outbox: its OrderCancelled has done its work.
    UpdateExpression: 'SET #released = :released REMOVE #shard, #next',
    ConditionExpression: `#status = :cancelled AND attribute_not_exists(#released) AND (${from.join(' OR ')})`,
    ExpressionAttributeNames: {
      '#status': 'status',
      '#released': 'stockReleased',
      '#cancelledFrom': 'cancelledFrom',
      '#shard': 'outboxShard',
      '#next': 'outboxNextAttemptAt',
    },
    ExpressionAttributeValues: values,
  };
}

/** One increment per SKU, then the order's condition: the exact inverse of the reservation. */
export function releaseTransaction(
  inventoryTable: string,
  ordersTable: string,
  orderId: string,
  lines: readonly ReservationLine[],
): TransactWriteCommandInput {
  return {
    TransactItems: [
      ...lines.map((line) => ({
        Update: {
          TableName: inventoryTable,
          Key: { sku: line.sku },
          UpdateExpression: 'SET #available = #available + :quantity, #reserved = #reserved - :quantity',
          // What was reserved is still counted as reserved: never below zero.
          ConditionExpression: '#reserved >= :quantity',
          ExpressionAttributeNames: { '#available': 'available', '#reserved': 'reserved' },
          ExpressionAttributeValues: { ':quantity': line.quantity },
        },
      })),
      { Update: releaseOrderUpdate(ordersTable, orderId, true) },
    ],
  };
}

export function dynamoRelease(
  client: DynamoDBDocumentClient,
  tables: { inventory: string; orders: string },
): ReleasePort {
  return {
    async release(orderId, lines, reserved) {
      if (!reserved || lines.length === 0) {
        try {
          await client.send(new UpdateCommand(releaseOrderUpdate(tables.orders, orderId, false)));
          return { kind: 'released' };
        } catch (error) {
          if (isConditionalCheckFailed(error)) return { kind: 'already-released' };
          throw error;
        }
      }
      try {
        await client.send(
          new TransactWriteCommand(releaseTransaction(tables.inventory, tables.orders, orderId, lines)),
        );
        return { kind: 'released' };
      } catch (error) {
        const codes = cancellationCodes(error);
        if (!codes) throw error;
        if (codes.includes('TransactionConflict')) return { kind: 'conflict' };
        if (codes.at(-1) === 'ConditionalCheckFailed') return { kind: 'already-released' };
        // A stock line refused: fewer units reserved than this order holds. Never silently "fixed".
        throw new PermanentError(`stock release of order ${orderId} refused: ${codes.join(', ')}`);
      }
    },
  };
}
