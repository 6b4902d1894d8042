import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ReservationLine } from '../inventory/logic.ts';
import { readInventoryItems, type StockMove, stockLineUpdate } from '../inventory/stock-store.ts';
import { isConditionalCheckFailed, WRITE_CONFLICT_RETRY } from '../shared/dynamodb.ts';
import { cancellationCodes, classifyCancellation } from '../shared/errors.ts';
import {
  oneOfCondition,
  RESERVED_STATUSES,
  type UnreleasedLine,
  type UpdateParams,
} from '../shared/orders/model.ts';
import { retry } from '../shared/retry.ts';

export type ReleaseResult =
  /** The lines' units are back in stock (or there were none to give back) and the order says so. */
  | { kind: 'released' }
  /** An earlier attempt released it already: nothing changed now. */
  | { kind: 'already-released' }
  /** A concurrent transaction held one of the items, or its partition was throttled: nothing changed; try again. */
  | { kind: 'conflict' }
  /**
   * A stock line was refused (its item gone, malformed, or holding fewer units as reserved than the
   * line): nothing changed; the caller reads the items and gives back what it can (`releasePlan`).
   */
  | { kind: 'stock-refused' };

export interface ReleasePort {
  /**
   * Gives back `lines` (the cancelled order's reservation, or what of it can still be given back) and
   * marks the order `stockReleased`, with `unreleased` (the lines that cannot be) for an operator, all or
   * nothing, exactly once. `reserved: false` (cancelled before inventory reserved anything) only marks it.
   */
  release(
    orderId: string,
    lines: readonly ReservationLine[],
    reserved: boolean,
    unreleased?: readonly UnreleasedLine[],
  ): Promise<ReleaseResult>;
  /** The inventory items of these SKUs as stored (consistent read); a SKU without an item is absent. */
  items(skus: readonly string[]): Promise<Map<string, Record<string, unknown>>>;
}

/**
 * The order's side of a release: CANCELLED, not released before, and cancelled from the status the
 * caller saw (reserved or not), so a release can never happen twice nor give back what was never taken.
 * Lines that could not be given back are recorded beside the flag (`unreleasedStock`).
 */
export function releaseOrderUpdate(
  ordersTable: string,
  orderId: string,
  reserved: boolean,
  unreleased: readonly UnreleasedLine[] = [],
): UpdateParams {
  const statuses = reserved ? RESERVED_STATUSES : (['RECEIVED'] as const);
  const values: Record<string, unknown> = { ':cancelled': 'CANCELLED', ':released': true };
  const names: Record<string, string> = {
    '#status': 'status',
    '#released': 'stockReleased',
    '#cancelledFrom': 'cancelledFrom',
    '#shard': 'outboxShard',
    '#next': 'outboxNextAttemptAt',
  };
  const sets = ['#released = :released'];
  if (unreleased.length > 0) {
    names['#unreleased'] = 'unreleasedStock';
    values[':unreleased'] = unreleased.map(({ sku, quantity, reason }) => ({ sku, quantity, reason }));
    sets.push('#unreleased = :unreleased');
  }
  const cancelledFrom = oneOfCondition('#cancelledFrom', statuses, values);
  return {
    TableName: ordersTable,
    Key: { orderId },
    // Out of the outbox: its OrderCancelled has done its work.
    UpdateExpression: `SET ${sets.join(', ')} REMOVE #shard, #next`,
    ConditionExpression: `#status = :cancelled AND attribute_not_exists(#released) AND ${cancelledFrom}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** A line's units back from reserved to available: the inverse of the reservation's `RESERVE_LINE`. */
const RELEASE_LINE: StockMove = {
  update: 'SET #available = #available + :quantity, #reserved = #reserved - :quantity',
  // What was reserved is still counted as reserved: never below zero (and never a new item).
  condition: '#reserved >= :quantity',
};

/** One increment per SKU, then the order's condition: the exact inverse of the reservation. */
export function releaseTransaction(
  inventoryTable: string,
  ordersTable: string,
  orderId: string,
  lines: readonly ReservationLine[],
  unreleased: readonly UnreleasedLine[] = [],
): TransactWriteCommandInput {
  return {
    TransactItems: [
      ...lines.map((line) => stockLineUpdate(inventoryTable, line, RELEASE_LINE)),
      { Update: releaseOrderUpdate(ordersTable, orderId, true, unreleased) },
    ],
  };
}

/** What a refused release transaction's reason codes (one per line, then the order's) come to. */
export function judgeRelease(codes: readonly string[]): ReleaseResult | 'unknown' {
  // Nothing changed and the SDK does not retry a cancellation: the caller tries again.
  const kind = classifyCancellation(codes);
  if (kind === 'conflict' || kind === 'throttled') return { kind: 'conflict' };
  if (codes.at(-1) === 'ConditionalCheckFailed') return { kind: 'already-released' };
  // A line's condition (fewer units reserved, or no item) or its arithmetic (a counter that is no number).
  const refused = new Set(['ConditionalCheckFailed', 'ValidationError']);
  if (codes.slice(0, -1).some((code) => refused.has(code))) return { kind: 'stock-refused' };
  return 'unknown';
}

export function dynamoRelease(
  client: DynamoDBDocumentClient,
  tables: { inventory: string; orders: string },
): ReleasePort {
  return {
    async release(orderId, lines, reserved, unreleased = []) {
      if (!reserved || lines.length === 0) {
        try {
          await retry(
            () =>
              client.send(
                new UpdateCommand(releaseOrderUpdate(tables.orders, orderId, reserved, unreleased)),
              ),
            WRITE_CONFLICT_RETRY,
          );
          return { kind: 'released' };
        } catch (error) {
          if (isConditionalCheckFailed(error)) return { kind: 'already-released' };
          throw error;
        }
      }
      try {
        await client.send(
          new TransactWriteCommand(
            releaseTransaction(tables.inventory, tables.orders, orderId, lines, unreleased),
          ),
        );
        return { kind: 'released' };
      } catch (error) {
        const codes = cancellationCodes(error);
        const judged = codes ? judgeRelease(codes) : 'unknown';
        // Anything else (throttling, a transaction without reasons) is transient: the batch is retried.
        if (judged === 'unknown') throw error;
        return judged;
      }
    },
    items: (skus) => readInventoryItems(client, tables.inventory, skus, ['available', 'reserved']),
  };
}
