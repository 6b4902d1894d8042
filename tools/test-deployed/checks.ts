/**
 * The end-to-end checks of `npm run test:deployed`, against any order API: the deployed stack's (signed
 * with the caller's credentials) or a local one in `--iam` mode. What cannot be seen through the API — the
 * stock, the metrics, the dead letters — comes from an {@link Observatory}: the stack's resources on AWS,
 * their local equivalents locally.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ApiAnswer, ApiClient } from './signed-client.ts';

/** What moved since {@link Observatory.start}: the dashboard's order counts and the dead letters. */
export interface Moved {
  received: number;
  rejected: number;
  cancelled: number;
  shipped: number;
  deadLetters: number;
}

/** Where the checks read what the API does not show. */
export interface Observatory {
  /** Where each figure comes from, for the progress lines. */
  readonly sources: { stock: string; metrics: string; deadLetters: string };
  /** Remembers where the figures stand before the first order. */
  start(): Promise<void>;
  moved(): Promise<Moved>;
  /** Units of a SKU available now (strongly consistent). */
  availableStock(sku: string): Promise<number>;
  /** Waited before the dead letters are read: how late they can show, at most, after the metrics moved. */
  readonly deadLetterSettleMs: number;
}

export interface CheckTimeouts {
  /** For an order to reach the state a check waits for. */
  orderMs: number;
  /** For the metrics to show the run's orders. */
  metricsMs: number;
}

export interface CheckContext {
  api: ApiClient;
  unsigned: ApiClient;
  observatory: Observatory;
  timeouts: CheckTimeouts;
  /** How many orders the cancellation check may place to catch one before it ships. */
  cancelAttempts?: number;
  out: (line: string) => void;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** Demo catalog SKUs (functions/shared/catalog.ts), seeded on AWS at stack creation and by `npm start`. */
export const SKUS = { shipped: ['SKU-TSHIRT-M', 'SKU-MUG'], scarce: 'SKU-VINYL-LTD', released: 'SKU-POSTER' };
/** More units of the scarce SKU than it is ever stocked with (3), within the per-line maximum (1000). */
const OUT_OF_STOCK_QUANTITY = 1000;

const HistoryEntry = z.object({ status: z.string(), at: z.string(), detail: z.string().optional() });
const OrderView = z.object({
  orderId: z.string(),
  status: z.string(),
  history: z.array(HistoryEntry),
  rejectionReason: z.string().optional(),
});
export type OrderView = z.infer<typeof OrderView>;
const Accepted = z.object({ orderId: z.string(), status: z.string() });

/** A failed check: its message is the progress line's reason. */
export class CheckFailed extends Error {}

export function expectStatus(answer: ApiAnswer, status: number, what: string): void {
  if (answer.status !== status)
    throw new CheckFailed(
      `${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`,
    );
}

export function orderBody(runId: string, items: { sku: string; quantity: number }[]) {
  return {
    customerId: `test-deployed-${runId}`,
    items,
    shippingAddress: {
      name: 'Test Deployed',
      line1: '1 Main St',
      city: 'Seattle',
      postalCode: '98101',
      country: 'US',
    },
  };
}

export async function placeOrder(api: ApiClient, body: unknown, idempotencyKey: string): Promise<ApiAnswer> {
  return api.request('POST', '/orders', { body, headers: { 'Idempotency-Key': idempotencyKey } });
}

export async function readOrder(api: ApiClient, orderId: string): Promise<OrderView> {
  const answer = await api.request('GET', `/orders/${encodeURIComponent(orderId)}`);
  expectStatus(answer, 200, `GET /orders/${orderId}`);
  return OrderView.parse(answer.body);
}

/** Polls the order until `done` holds; fails with the last view when `timeoutMs` passes. */
export async function orderUntil(
  api: ApiClient,
  orderId: string,
  done: (order: OrderView) => boolean,
  what: string,
  timeoutMs: number,
  everyMs = 250,
): Promise<OrderView> {
  const deadline = Date.now() + timeoutMs;
  let order = await readOrder(api, orderId);
  while (!done(order)) {
    if (Date.now() > deadline)
      throw new CheckFailed(
        `${orderId} did not ${what} within ${timeoutMs / 1000} s; last seen ${order.status}: ${order.history
          .map((entry) => entry.detail ?? entry.status)
          .join(' > ')}`,
      );
    await sleep(everyMs);
    order = await readOrder(api, orderId);
  }
  return order;
}

export const notified = (order: OrderView, kind: string) =>
  order.history.filter((entry) => entry.status === 'NOTIFIED' && entry.detail === `notified:${kind}`).length;
export const entries = (order: OrderView, status: string) =>
  order.history.filter((entry) => entry.status === status).length;

export interface RunState {
  runId: string;
  /** Orders placed by this run, by what they are for. */
  orders: { shipped?: string; rejected?: string; cancelPlaced: number; cancelled: string[] };
}

/** An order ships and both its notifications (packed, shipped) are in its history. */
export async function shipsWithNotifications(ctx: CheckContext, state: RunState): Promise<string> {
  const body = orderBody(
    state.runId,
    SKUS.shipped.map((sku) => ({ sku, quantity: 1 })),
  );
  const key = `test-deployed-${state.runId}-ship`;
  const first = await placeOrder(ctx.api, body, key);
  expectStatus(first, 202, 'POST /orders');
  const { orderId } = Accepted.parse(first.body);
  state.orders.shipped = orderId;
  // The duplicate goes at once, while the first is in flight: what a client's retry looks like.
  const again = await placeOrder(ctx.api, body, key);
  expectStatus(again, 202, 'POST /orders again with the same Idempotency-Key');
  const replay = Accepted.parse(again.body);
  if (replay.orderId !== orderId || again.headers.get('idempotent-replayed') !== 'true')
    throw new CheckFailed(
      `the repeated POST answered ${replay.orderId} (replayed: ${again.headers.get('idempotent-replayed')}), not ${orderId} replayed`,
    );
  const order = await orderUntil(
    ctx.api,
    orderId,
    (o) => o.status === 'SHIPPED' && notified(o, 'order-packed') > 0 && notified(o, 'order-shipped') > 0,
    'ship with both notifications',
    ctx.timeouts.orderMs,
  );
  const took = Date.parse(order.history.at(-1)?.at ?? '') - Date.parse(order.history[0]?.at ?? '');
  return `${orderId} SHIPPED, notified order-packed and order-shipped, ${took} ms from RECEIVED to its last step`;
}

/** The duplicate POST of the shipped order had one effect: every step once, each notification once. */
export async function duplicateHasOneEffect(ctx: CheckContext, state: RunState): Promise<string> {
  const orderId = state.orders.shipped;
  if (!orderId) throw new CheckFailed('no shipped order to look at (the previous check failed)');
  const order = await readOrder(ctx.api, orderId);
  const counts = {
    RECEIVED: entries(order, 'RECEIVED'),
    CONFIRMED: entries(order, 'CONFIRMED'),
    PACKED: entries(order, 'PACKED'),
    SHIPPED: entries(order, 'SHIPPED'),
    'order-packed': notified(order, 'order-packed'),
    'order-shipped': notified(order, 'order-shipped'),
  };
  const repeated = Object.entries(counts).filter(([, n]) => n !== 1);
  if (repeated.length > 0)
    throw new CheckFailed(`${orderId}'s history has ${repeated.map(([s, n]) => `${n} × ${s}`).join(', ')}`);
  return `one order (${orderId}), its history has each step and each notification once; the repeat answered the same order, replayed`;
}

/** More units than are stocked: the order is accepted, then rejected, and its customer told. */
export async function outOfStockRejected(ctx: CheckContext, state: RunState): Promise<string> {
  const body = orderBody(state.runId, [{ sku: SKUS.scarce, quantity: OUT_OF_STOCK_QUANTITY }]);
  const answer = await placeOrder(ctx.api, body, `test-deployed-${state.runId}-reject`);
  expectStatus(answer, 202, 'POST /orders');
  const { orderId } = Accepted.parse(answer.body);
  state.orders.rejected = orderId;
  const order = await orderUntil(
    ctx.api,
    orderId,
    (o) => o.status === 'REJECTED' && notified(o, 'order-rejected') > 0,
    'get REJECTED and notified',
    ctx.timeouts.orderMs,
  );
  if (entries(order, 'CONFIRMED') > 0)
    throw new CheckFailed(`${orderId} was CONFIRMED before it was rejected`);
  return `${orderId} (${OUT_OF_STOCK_QUANTITY} × ${SKUS.scarce}) REJECTED: ${order.rejectionReason ?? 'no reason given'}`;
}

export const newRunState = (): RunState => ({
  runId: randomUUID().slice(0, 8),
  orders: { cancelPlaced: 0, cancelled: [] },
});
