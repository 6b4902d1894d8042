/**
 * order-api's rules, pure: an order's id (the client's, else derived from its Idempotency-Key), the
 * request's hash, the order priced from the catalog, its event's size, and the history a read shows.
 */
import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { EncodedRecord, Issue } from '../../events/codec.ts';
import { type LineItem, Money, type Order, totalInCents } from '../../events/schemas/order.ts';
import type { OrderRequest } from '../../events/schemas/order-request.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';
import type { CatalogLookup } from './catalog.ts';
import type { DeliveredNotification } from './notifications.ts';

/**
 * The largest OrderReceived order-api produces. The biggest order a valid request can make is far
 * below it; the limit keeps the record (and the order item, which DynamoDB caps at 400 KB) well inside
 * what the broker (1 MiB by default) and a dead letter holding a base64 copy of it can carry.
 */
export const MAX_ORDER_EVENT_BYTES = 128 * 1024;
/** The prefix of the order ids the system makes (from Idempotency-Keys, or random); clients may not use it. */
export const SYSTEM_ORDER_ID_PREFIX = 'ord-';

/** Namespace of the order ids derived from idempotency keys. */
const ORDER_ID_NAMESPACE = '0b9e5d57-8e4f-4b0e-a3a7-5d0f6c8a9e21';

/**
 * The order id: the client's, else derived from the idempotency key (a retry gets the same id even if
 * the first attempt crashed midway), else a new one.
 */
export function orderIdFor(
  request: OrderRequest,
  idempotencyKey: string | undefined,
  newId: () => string,
): string {
  if (request.orderId) return request.orderId;
  return `${SYSTEM_ORDER_ID_PREFIX}${idempotencyKey ? uuidv5(idempotencyKey, ORDER_ID_NAMESPACE) : newId()}`;
}

/** Canonical JSON (sorted keys): two requests with the same content hash the same, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** 128 bits of SHA-256: enough to tell two requests apart, and small in an item every step rewrites. */
export const requestHash = (request: OrderRequest): string =>
  createHash('sha256').update(canonicalJson(request)).digest('base64url').slice(0, 22);

const cents = (amount: number): number => Math.round(amount * 100);
const formatMoney = (amountInCents: number): string => (amountInCents / 100).toFixed(2);

export type PricedOrder =
  | { ok: true; items: LineItem[]; total: number }
  | {
      ok: false;
      /** 422 when the only reason is the catalog's (entries that cannot be sold now), else 400. */
      status: 400 | 422;
      errors: Issue[];
      /** A client's price or total differs from the catalog's: a fresher read may agree with it. */
      priceMismatch: boolean;
    };

/**
 * Prices the request from the catalog: every SKU must exist and be sellable (its entry valid), a
 * client's unit price (optional) must be the catalog's, and so must a client's total (optional). The
 * total is computed in cents, and must fit the events' Money.
 */
export function priceOrder(
  request: Pick<OrderRequest, 'items' | 'total'>,
  catalog: ReadonlyMap<string, CatalogLookup>,
): PricedOrder {
  const errors: Issue[] = [];
  let unsellable = 0;
  let priceMismatch = false;
  const items: LineItem[] = [];
  request.items.forEach((line, index) => {
    const lookup = catalog.get(line.sku);
    if (!lookup) {
      errors.push({ path: `items[${index}].sku`, message: `${line.sku} is not in the catalog` });
      return;
    }
    if (!lookup.sellable) {
      unsellable += 1;
      errors.push({
        path: `items[${index}].sku`,
        message: `${line.sku} cannot be sold now: its catalog entry is invalid (the operator is alerted)`,
      });
      return;
    }
    const { entry } = lookup;
    if (line.unitPrice !== undefined && cents(line.unitPrice) !== cents(entry.unitPrice)) {
      priceMismatch = true;
      errors.push({
        path: `items[${index}].unitPrice`,
        message: `is not the current catalog price ${formatMoney(cents(entry.unitPrice))}; omit it or send that`,
      });
    }
    items.push({ sku: entry.sku, name: entry.name, quantity: line.quantity, unitPrice: entry.unitPrice });
  });
  if (errors.length > 0) {
    return { ok: false, status: unsellable === errors.length ? 422 : 400, errors, priceMismatch };
  }
  const totalCents = totalInCents(items);
  const max = Money.maxValue ?? Number.POSITIVE_INFINITY;
  if (!Money.safeParse(totalCents / 100).success) {
    const message = `add up to ${formatMoney(totalCents)}, more than the ${formatMoney(cents(max))} an order may total`;
    return { ok: false, status: 400, errors: [{ path: 'items', message }], priceMismatch: false };
  }
  if (request.total !== undefined && cents(request.total) !== totalCents) {
    const message = `does not match the current catalog prices: expected ${formatMoney(totalCents)}`;
    return { ok: false, status: 400, errors: [{ path: 'total', message }], priceMismatch: true };
  }
  return { ok: true, items, total: totalCents / 100 };
}

export function orderFromRequest(
  request: OrderRequest,
  priced: { items: LineItem[]; total: number },
  orderId: string,
  placedAt: Date,
): Order {
  return {
    orderId,
    customerId: request.customerId,
    items: priced.items,
    total: priced.total,
    currency: request.currency,
    shippingAddress: request.shippingAddress,
    placedAt: placedAt.toISOString(),
  };
}

/** An encoded OrderReceived over {@link MAX_ORDER_EVENT_BYTES} is refused, with its size. */
export function eventSizeIssues(record: EncodedRecord, limit = MAX_ORDER_EVENT_BYTES): Issue[] {
  return record.value.length > limit
    ? [
        {
          path: '',
          message: `the order's event would be ${record.value.length} bytes, over the ${limit} allowed`,
        },
      ]
    : [];
}

/**
 * The history `GET /orders/{id}` shows: the order's own entries plus one `NOTIFIED` entry per delivered
 * notification (the notifications table is their source), in time order. An order written before the
 * entries moved out of it may hold one already; it is not shown twice.
 */
export function historyWithNotifications(
  history: readonly HistoryEntry[],
  delivered: readonly DeliveredNotification[],
): HistoryEntry[] {
  const shown = new Set(history.filter((e) => e.status === 'NOTIFIED').map((e) => e.detail));
  const notified = delivered
    .map((n): HistoryEntry => ({ status: 'NOTIFIED', at: n.deliveredAt, detail: `notified:${n.kind}` }))
    .filter((entry) => !shown.has(entry.detail));
  return [...history, ...notified].sort((a, b) => a.at.localeCompare(b.at));
}
