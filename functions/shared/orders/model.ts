import { createHash } from 'node:crypto';
import * as z from 'zod';
import { Parcel } from '../../../events/schemas/events.ts';
import { Currency, LineItem, type Order, OrderId, ShippingAddress } from '../../../events/schemas/order.ts';

/**
 * An order's life in the orders table: RECEIVED → CONFIRMED | REJECTED → PACKED → SHIPPED, and
 * RECEIVED | CONFIRMED | PACKED → CANCELLED when the customer cancels before it ships.
 * Every transition is conditional on the expected previous status and on the order's content digest,
 * and appends to `history`. Notifications live in their own table (the order item stays small);
 * `GET /orders/{id}` merges them into the history as `NOTIFIED` entries.
 */
export const OrderStatus = z.enum(['RECEIVED', 'CONFIRMED', 'REJECTED', 'PACKED', 'SHIPPED', 'CANCELLED']);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const HistoryEntry = z.object({
  status: z.union([OrderStatus, z.literal('NOTIFIED')]),
  at: z.string(),
  detail: z.string().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

/**
 * A line of a cancelled order whose units could not be given back: its SKU left the inventory, or its
 * item no longer holds the units as reserved (SKUs and counts only).
 */
export const UnreleasedLine = z.object({ sku: z.string(), quantity: z.number(), reason: z.string() });
export type UnreleasedLine = z.infer<typeof UnreleasedLine>;

export const StoredOrder = z.object({
  orderId: OrderId,
  status: OrderStatus,
  customerId: z.string(),
  items: z.array(LineItem),
  total: z.number(),
  currency: Currency,
  shippingAddress: ShippingAddress,
  placedAt: z.string(),
  history: z.array(HistoryEntry).default([]),
  /** order-api: the hash of the accepted request (a retry with another payload is a conflict). */
  requestHash: z.string().optional(),
  /** order-api: the API request that created the order, the cause of OrderReceived. */
  requestId: z.string().optional(),
  /** The digest of the order's content (`orderDigest`): every transition requires the event's to match. */
  digest: z.string().optional(),
  /**
   * Outbox: set while the order waits for inventory's decision (a sparse index on it lets the sweeper
   * find orders whose OrderReceived may never have been produced); inventory's decision removes it.
   */
  outboxShard: z.string().optional(),
  /** How many times the sweeper re-produced this order's OrderReceived. */
  outboxAttempts: z.number().optional(),
  /** When the sweeper gave up on the order (it needs an operator): `GET /orders/{id}` shows it ON_HOLD. */
  outboxAbandonedAt: z.string().optional(),
  rejectionReason: z.string().optional(),
  /** The status the cancellation found: stock was reserved for the order if it was CONFIRMED or PACKED. */
  cancelledFrom: OrderStatus.optional(),
  cancellationReason: z.string().optional(),
  /** Set, once, by inventory when it has given back the stock of a cancelled order (or found none). */
  stockReleased: z.boolean().optional(),
  /** Set with `stockReleased`: the lines it could not give back (their SKU gone, ...), for an operator. */
  unreleasedStock: z.array(UnreleasedLine).optional(),
  parcel: Parcel.optional(),
  carrier: z.string().optional(),
  trackingNumber: z.string().optional(),
});
export type StoredOrder = z.infer<typeof StoredOrder>;

/** The order as events carry it, rebuilt from the table (or from any superset of an order). */
export function orderOf(stored: Order): Order {
  return {
    orderId: stored.orderId,
    customerId: stored.customerId,
    items: stored.items,
    total: stored.total,
    currency: stored.currency,
    shippingAddress: stored.shippingAddress,
    placedAt: stored.placedAt,
  };
}

/**
 * A digest of what an order is (customer, lines, prices, total, address, time): the same order always
 * digests the same, and any change to its content changes the digest. Steps act on an event only when
 * the order it carries digests like the stored one, so a forged or stale copy of an order changes nothing.
 */
export function orderDigest(order: Order): string {
  // orderOf fixes the key order; lines keep theirs: the digest is of this exact JSON.
  const { items, shippingAddress, ...rest } = orderOf(order);
  const canonical = JSON.stringify([
    rest.orderId,
    rest.customerId,
    items.map((item) => [item.sku, item.name, item.quantity, item.unitPrice]),
    rest.total,
    rest.currency,
    [
      shippingAddress.name,
      shippingAddress.line1,
      shippingAddress.line2 ?? null,
      shippingAddress.city,
      shippingAddress.postalCode,
      shippingAddress.country,
    ],
    rest.placedAt,
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

/** Shards of the outbox index: spreads its writes over several index partitions. */
export const OUTBOX_SHARDS = 8;

/** The outbox shard of an order, stable for its id. */
export function outboxShardOf(orderId: string): string {
  return String(createHash('sha256').update(orderId).digest().readUInt32BE(0) % OUTBOX_SHARDS);
}

/**
 * When the order reached `status`, from its history: the one record of each change's time, so that the
 * item (written by every step) stays within one write unit (1 KB).
 */
export const reachedAt = (stored: StoredOrder, status: OrderStatus): string | undefined =>
  stored.history.find((entry) => entry.status === status)?.at;

/** The item order-api writes when it accepts an order: RECEIVED, in the outbox until inventory decides. */
export function newStoredOrder(
  order: Order,
  extra: { requestHash: string; requestId: string; detail?: string },
): StoredOrder {
  return {
    ...order,
    status: 'RECEIVED',
    history: [{ status: 'RECEIVED', at: order.placedAt, ...(extra.detail ? { detail: extra.detail } : {}) }],
    requestHash: extra.requestHash,
    requestId: extra.requestId,
    digest: orderDigest(order),
    outboxShard: outboxShardOf(order.orderId),
  };
}

const progress: Record<Exclude<OrderStatus, 'REJECTED' | 'CANCELLED'>, number> = {
  RECEIVED: 0,
  CONFIRMED: 1,
  PACKED: 2,
  SHIPPED: 3,
};

/**
 * Whether an order in status `current` has already gone through `target`: a step whose conditional
 * write was refused for that reason is a retry of work already done, not a failure.
 */
export function hasReached(current: OrderStatus, target: OrderStatus): boolean {
  if (target === 'REJECTED' || current === 'REJECTED') return current === target;
  if (target === 'CANCELLED' || current === 'CANCELLED') return current === target;
  return progress[current] >= progress[target];
}

/** The statuses a customer may cancel from: anything before it ships or is rejected. */
export const CANCELLABLE: readonly OrderStatus[] = ['RECEIVED', 'CONFIRMED', 'PACKED'];
/** A cancelled order had stock reserved if the cancellation found it in one of these. */
export const RESERVED_STATUSES: readonly OrderStatus[] = ['CONFIRMED', 'PACKED'];

/**
 * The UpdateItem that cancels an order: only from a cancellable status (so exactly one of "cancelled"
 * and "shipped" wins a race), recording the status it found (`cancelledFrom`: DynamoDB evaluates every
 * SET operand on the item as it was), and putting the order back in the outbox until inventory has acted
 * on its OrderCancelled (the sweeper's first attempt is due after `retryAt`).
 */
export interface Cancellation {
  orderId: string;
  at: string;
  reason: string | undefined;
  /** When the outbox sweeper may produce its OrderCancelled again, if inventory has not acted by then. */
  retryAt: string;
}

/**
 * The condition that the attribute behind `nameRef` holds one of `statuses`, their values added to
 * `values` as `:from0`, `:from1`, ...; in parentheses when there are several, so it can be ANDed.
 */
export function oneOfCondition(
  nameRef: string,
  statuses: readonly string[],
  values: Record<string, unknown>,
): string {
  const alternatives = statuses.map((status, index) => {
    values[`:from${index}`] = status;
    return `${nameRef} = :from${index}`;
  });
  return alternatives.length === 1 ? (alternatives[0] as string) : `(${alternatives.join(' OR ')})`;
}

export function cancelUpdate(tableName: string, c: Cancellation): UpdateParams {
  const values: Record<string, unknown> = {
    ':cancelled': 'CANCELLED',
    ':entry': [{ status: 'CANCELLED', at: c.at, ...(c.reason ? { detail: c.reason } : {}) }],
    ':noHistory': [],
    ':shard': outboxShardOf(c.orderId),
    ':retryAt': c.retryAt,
  };
  const sets = [
    '#cancelledFrom = #status',
    '#status = :cancelled',
    '#history = list_append(if_not_exists(#history, :noHistory), :entry)',
    '#shard = :shard',
    '#next = :retryAt',
  ];
  const names: Record<string, string> = {
    '#orderId': 'orderId',
    '#status': 'status',
    '#cancelledFrom': 'cancelledFrom',
    '#history': 'history',
    '#shard': 'outboxShard',
    '#next': 'outboxNextAttemptAt',
    '#attempts': 'outboxAttempts',
  };
  if (c.reason) {
    names['#reason'] = 'cancellationReason';
    values[':reason'] = c.reason;
    sets.push('#reason = :reason');
  }
  const cancellable = oneOfCondition('#status', CANCELLABLE, values);
  return {
    TableName: tableName,
    Key: { orderId: c.orderId },
    // The sweeper counts its attempts per outbox stay: a cancellation starts afresh.
    UpdateExpression: `SET ${sets.join(', ')} REMOVE #attempts`,
    ConditionExpression: `attribute_exists(#orderId) AND ${cancellable}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

export interface Transition {
  orderId: string;
  /** The statuses the order may be in for the transition to apply. */
  from: readonly OrderStatus[];
  to: OrderStatus;
  at: string;
  detail?: string;
  /** Further attributes to set with the transition (timestamps, parcel, tracking number, ...). */
  set?: Readonly<Record<string, unknown>>;
  /** Attributes to remove with the transition (the outbox marker, once inventory has decided). */
  remove?: readonly string[];
  /**
   * The digest of the order the triggering event carries: the transition applies only if the stored
   * order digests the same. A missing order never matches: no event creates an order but order-api's.
   */
  digest: string;
  /**
   * Further stored values the event must agree with, by attribute path (e.g. `parcel.weightGrams`):
   * what a step acts on beyond the order's content, such as the parcel the warehouse packed.
   */
  match?: Readonly<Record<string, string | number>>;
}

/** The parameters of an UpdateItem (or a transaction's Update) that performs a transition. */
export interface UpdateParams {
  TableName: string;
  Key: { orderId: string };
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
}

export function transitionUpdate(tableName: string, t: Transition): UpdateParams {
  if (t.from.length === 0) throw new Error('a transition needs at least one previous status');
  const names: Record<string, string> = {
    '#orderId': 'orderId',
    '#status': 'status',
    '#history': 'history',
  };
  const values: Record<string, unknown> = {
    ':to': t.to,
    ':entry': [{ status: t.to, at: t.at, ...(t.detail ? { detail: t.detail } : {}) }],
    ':noHistory': [],
  };
  const sets = ['#status = :to', '#history = list_append(if_not_exists(#history, :noHistory), :entry)'];
  Object.entries(t.set ?? {}).forEach(([attribute, value], index) => {
    names[`#set${index}`] = attribute;
    values[`:set${index}`] = value;
    sets.push(`#set${index} = :set${index}`);
  });
  const removes = (t.remove ?? []).map((attribute, index) => {
    names[`#remove${index}`] = attribute;
    return `#remove${index}`;
  });
  const statusCondition = oneOfCondition('#status', t.from, values);
  names['#digest'] = 'digest';
  values[':digest'] = t.digest;
  const matches = Object.entries(t.match ?? {}).map(([path, value], index) => {
    const segments = path.split('.').map((segment, depth) => {
      names[`#match${index}_${depth}`] = segment;
      return `#match${index}_${depth}`;
    });
    values[`:match${index}`] = value;
    return ` AND ${segments.join('.')} = :match${index}`;
  });
  return {
    TableName: tableName,
    Key: { orderId: t.orderId },
    UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    // attribute_exists: an update must never create the order it was meant to move on.
    ConditionExpression: `attribute_exists(#orderId) AND ${statusCondition} AND #digest = :digest${matches.join('')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/**
 * The status `GET /orders/{id}` shows: the stored one, or ON_HOLD for an order still RECEIVED that the
 * outbox sweeper gave up on (it will not move on by itself; an operator must act, and the customer may
 * still cancel it).
 */
export const OrderViewStatus = z.enum([...OrderStatus.options, 'ON_HOLD']);
export type OrderViewStatus = z.infer<typeof OrderViewStatus>;
export const HOLD_REASON =
  'The order could not be processed automatically and waits for an operator; it can still be cancelled.';

/** The answer of `GET /orders/{id}`. */
export interface OrderView {
  orderId: string;
  status: OrderViewStatus;
  /** Set when the status is ON_HOLD. */
  holdReason?: string;
  customerId: string;
  total: number;
  currency: string;
  items: StoredOrder['items'];
  placedAt: string;
  history: HistoryEntry[];
  carrier?: string;
  trackingNumber?: string;
  rejectionReason?: string;
  cancellationReason?: string;
}

export function orderView(stored: StoredOrder): OrderView {
  const held = stored.status === 'RECEIVED' && stored.outboxAbandonedAt !== undefined;
  return {
    orderId: stored.orderId,
    status: held ? 'ON_HOLD' : stored.status,
    ...(held ? { holdReason: HOLD_REASON } : {}),
    customerId: stored.customerId,
    total: stored.total,
    currency: stored.currency,
    items: stored.items,
    placedAt: stored.placedAt,
    // Steps append concurrently (a notification may land just before the step that caused the next one),
    // so the stored order is arrival order; readers want time order.
    history: stored.history.toSorted((a, b) => a.at.localeCompare(b.at)),
    ...(stored.carrier ? { carrier: stored.carrier } : {}),
    ...(stored.trackingNumber ? { trackingNumber: stored.trackingNumber } : {}),
    ...(stored.rejectionReason ? { rejectionReason: stored.rejectionReason } : {}),
    ...(stored.cancellationReason ? { cancellationReason: stored.cancellationReason } : {}),
  };
}
