import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { cancellationCodes, classifyCancellation, PermanentError } from '../shared/errors.ts';
import { type Transition, transitionUpdate } from '../shared/orders/model.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import { fullJitter } from '../shared/retry.ts';
import type { ReservationLine } from './logic.ts';

export type ReserveResult =
  | { kind: 'reserved' }
  /** A line's stock was short (or its SKU unknown): nothing was reserved. */
  | { kind: 'short' }
  /** The order is no longer RECEIVED: an earlier attempt decided it already. Nothing was reserved. */
  | { kind: 'order-moved-on' }
  /**
   * Another transaction held one of the items (TransactionConflict), or an item's partition was throttled
   * (ThrottlingError): nothing was reserved; try again after a random wait.
   */
  | { kind: 'conflict' };

export interface StockPort {
  /** Reserves every line and moves the order to CONFIRMED, all or nothing. */
  reserve(lines: readonly ReservationLine[], confirm: Transition): Promise<ReserveResult>;
  /** The stock available per SKU; SKUs absent from the inventory are absent from the map. */
  available(skus: readonly string[]): Promise<Map<string, number>>;
}

/** How a stock line moves an item's two counters (`#available`, `#reserved`) by `:quantity`. */
export interface StockMove {
  update: string;
  condition: string;
  /** Values the expressions name beside `:quantity`. */
  values?: Readonly<Record<string, number>>;
}

/** One stock line of a reservation or a release: the SKU's item, moved under the move's condition. */
export function stockLineUpdate(inventoryTable: string, line: ReservationLine, move: StockMove) {
  return {
    Update: {
      TableName: inventoryTable,
      Key: { sku: line.sku },
      UpdateExpression: move.update,
      ConditionExpression: move.condition,
      ExpressionAttributeNames: { '#available': 'available', '#reserved': 'reserved' },
      ExpressionAttributeValues: { ':quantity': line.quantity, ...move.values },
    },
  };
}

/** A line's units from available to reserved. */
const RESERVE_LINE: StockMove = {
  update: 'SET #available = #available - :quantity, #reserved = if_not_exists(#reserved, :zero) + :quantity',
  // False for a SKU that is not in the table, too: it has no `available`.
  condition: '#available >= :quantity',
  values: { ':zero': 0 },
};

/** The transaction: one conditional decrement per SKU, then the order's conditional status change. */
export function reservationTransaction(
  inventoryTable: string,
  ordersTable: string,
  lines: readonly ReservationLine[],
  confirm: Transition,
): TransactWriteCommandInput {
  return {
    TransactItems: [
      ...lines.map((line) => stockLineUpdate(inventoryTable, line, RESERVE_LINE)),
      { Update: transitionUpdate(ordersTable, confirm) },
    ],
  };
}

/**
 * Reads the reason codes of a refused transaction (see `classifyCancellation`): a conflict with a
 * concurrent reservation or throttled items mean nothing happened and the caller tries again; conditions
 * only tell a short line from an order that moved on; a ValidationError can never succeed.
 */
export function judgeCancellation(
  codes: readonly string[] | undefined,
  lineCount: number,
): ReserveResult | 'unknown' {
  if (!codes || codes.length !== lineCount + 1) return 'unknown';
  const kind = classifyCancellation(codes);
  if (kind === 'invalid') throw new PermanentError('stock reservation refused: ValidationError');
  if (kind === 'conflict' || kind === 'throttled') return { kind: 'conflict' };
  const unexpected = codes.find((code) => code !== 'None' && code !== 'ConditionalCheckFailed');
  // Anything else fails the batch, which the event source mapping retries.
  if (unexpected) throw new Error(`stock reservation cancelled: ${unexpected}`);
  if (codes[lineCount] === 'ConditionalCheckFailed') return { kind: 'order-moved-on' };
  return { kind: 'short' };
}

export function dynamoStock(
  client: DynamoDBDocumentClient,
  tables: { inventory: string; orders: string },
  orders: OrdersPort,
): StockPort {
  return {
    async reserve(lines, confirm) {
      try {
        await client.send(
          new TransactWriteCommand(reservationTransaction(tables.inventory, tables.orders, lines, confirm)),
        );
        return { kind: 'reserved' };
      } catch (error) {
        if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') throw error;
        const judged = judgeCancellation(cancellationCodes(error), lines.length);
        if (judged !== 'unknown') return judged;
        // Without reasons, the order tells: still RECEIVED means the stock refused.
        const current = await orders.get(confirm.orderId);
        return current && current.status !== 'RECEIVED' ? { kind: 'order-moved-on' } : { kind: 'short' };
      }
    },
    async available(skus) {
      const levels = new Map<string, number>();
      for (const [sku, item] of await readInventoryItems(client, tables.inventory, skus, ['available'])) {
        levels.set(sku, Number(item.available ?? 0));
      }
      return levels;
    },
  };
}

/**
 * The wait before reading unprocessed keys again: AWS strongly recommends exponential backoff for them
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
 */
const UNPROCESSED_BACKOFF = fullJitter({ baseMs: 50, capMs: 1_000 });

/**
 * The inventory items of `skus` as stored (consistent reads, `attributes` and the SKU only), by SKU; a SKU
 * without an item is absent. Unprocessed keys (throttling) are read again a few times, then it throws.
 */
export async function readInventoryItems(
  client: DynamoDBDocumentClient,
  table: string,
  skus: readonly string[],
  attributes: readonly string[],
): Promise<Map<string, Record<string, unknown>>> {
  const items = new Map<string, Record<string, unknown>>();
  const names = Object.fromEntries(['sku', ...attributes].map((name, index) => [`#a${index}`, name]));
  let pending = [...new Set(skus)].map((sku) => ({ sku }));
  for (let round = 0; pending.length > 0; round += 1) {
    if (round > 5) throw new Error('inventory read kept being throttled');
    // Unprocessed keys are throttled reads: read again after a random, growing wait, as AWS advises.
    if (round > 0) await sleep(UNPROCESSED_BACKOFF(round));
    const chunk = pending.slice(0, 100);
    const answer = await client.send(
      new BatchGetCommand({
        RequestItems: {
          [table]: {
            Keys: chunk,
            ConsistentRead: true,
            ProjectionExpression: Object.keys(names).join(', '),
            ExpressionAttributeNames: names,
          },
        },
      }),
    );
    for (const item of answer.Responses?.[table] ?? []) items.set(String(item.sku), item);
    const unprocessed = (answer.UnprocessedKeys?.[table]?.Keys ?? []) as { sku: string }[];
    pending = [...unprocessed, ...pending.slice(100)];
  }
  return items;
}
