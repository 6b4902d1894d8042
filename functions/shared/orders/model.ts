import { z } from 'zod';
import { Parcel } from '../../../events/schemas/events.ts';
import { Currency, LineItem, type Order, OrderId, ShippingAddress } from '../../../events/schemas/order.ts';

/**
 * An order's life in the orders table: RECEIVED → CONFIRMED | REJECTED → PACKED → SHIPPED.
 * Every transition is conditional on the expected previous status and appends to `history`;
 * notifications append `NOTIFIED` entries without changing the status.
 */
export const OrderStatus = z.enum(['RECEIVED', 'CONFIRMED', 'REJECTED', 'PACKED', 'SHIPPED']);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const HistoryEntry = z.object({
  status: z.union([OrderStatus, z.literal('NOTIFIED')]),
  at: z.string(),
  detail: z.string().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

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
  updatedAt: z.string().optional(),
  /** order-api: the hash of the accepted request (a retry with another payload is a conflict). */
  requestHash: z.string().optional(),
  /** order-api: the API request that created the order, the cause of OrderReceived. */
  requestId: z.string().optional(),
  confirmedAt: z.string().optional(),
  rejectedAt: z.string().optional(),
  rejectionReason: z.string().optional(),
  parcel: Parcel.optional(),
  packedAt: z.string().optional(),
  carrier: z.string().optional(),
  trackingNumber: z.string().optional(),
  shippedAt: z.string().optional(),
});
export type StoredOrder = z.infer<typeof StoredOrder>;

/** The order as events carry it, rebuilt from the table (to re-produce an event after a crash). */
export function orderOf(stored: StoredOrder): Order {
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

/** The item order-api writes when it accepts an order. */
export function newStoredOrder(
  order: Order,
  extra: { requestHash: string; requestId: string; detail?: string },
): StoredOrder {
  return {
    ...order,
    status: 'RECEIVED',
    history: [{ status: 'RECEIVED', at: order.placedAt, ...(extra.detail ? { detail: extra.detail } : {}) }],
    updatedAt: order.placedAt,
    requestHash: extra.requestHash,
    requestId: extra.requestId,
  };
}

const progress: Record<Exclude<OrderStatus, 'REJECTED'>, number> = {
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
  return progress[current] >= progress[target];
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
  /**
   * The order as the triggering event carries it. When given, a missing row is created from it
   * (events replayed or produced by hand still work); without it a missing row refuses the transition.
   */
  order?: Order;
}

/** The parameters of an UpdateItem (or a transaction's Update) that performs a transition. */
export interface UpdateParams {
  TableName: string;
  Key: Record<string, string>;
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
}

const summaryAttributes = [
  'customerId',
  'items',
  'total',
  'currency',
  'shippingAddress',
  'placedAt',
] as const;

export function transitionUpdate(tableName: string, t: Transition): UpdateParams {
  if (t.from.length === 0) throw new Error('a transition needs at least one previous status');
  const names: Record<string, string> = {
    '#orderId': 'orderId',
    '#status': 'status',
    '#history': 'history',
    '#updatedAt': 'updatedAt',
  };
  const values: Record<string, unknown> = {
    ':to': t.to,
    ':entry': [{ status: t.to, at: t.at, ...(t.detail ? { detail: t.detail } : {}) }],
    ':noHistory': [],
    ':at': t.at,
  };
  const sets = [
    '#status = :to',
    '#history = list_append(if_not_exists(#history, :noHistory), :entry)',
    '#updatedAt = :at',
  ];
  Object.entries(t.set ?? {}).forEach(([attribute, value], index) => {
    names[`#set${index}`] = attribute;
    values[`:set${index}`] = value;
    sets.push(`#set${index} = :set${index}`);
  });
  if (t.order) {
    for (const attribute of summaryAttributes) {
      names[`#${attribute}`] = attribute;
      values[`:${attribute}`] = t.order[attribute];
      sets.push(`#${attribute} = if_not_exists(#${attribute}, :${attribute})`);
    }
  }
  const expected = t.from.map((status, index) => {
    values[`:from${index}`] = status;
    return `#status = :from${index}`;
  });
  const conditions = t.order ? ['attribute_not_exists(#orderId)', ...expected] : expected;
  return {
    TableName: tableName,
    Key: { orderId: t.orderId },
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: conditions.join(' OR '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** The answer of `GET /orders/{id}`. */
export interface OrderView {
  orderId: string;
  status: OrderStatus;
  customerId: string;
  total: number;
  currency: string;
  items: StoredOrder['items'];
  placedAt: string;
  history: HistoryEntry[];
  carrier?: string;
  trackingNumber?: string;
  rejectionReason?: string;
}

export function orderView(stored: StoredOrder): OrderView {
  return {
    orderId: stored.orderId,
    status: stored.status,
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
  };
}
