/**
 * The end-to-end checks of `npm run test:deployed`, in order, against any order API: the deployed stack's
 * (signed with the caller's credentials) or a local one in `--iam` mode. What cannot be seen through the
 * API — the stock, the metrics, the dead letters — comes from an {@link Observatory}: the stack's
 * resources on AWS, their local equivalents locally.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { catalogLines, exampleOrder } from '../../functions/order-api/example-order.ts';
import { Accepted, OrderView } from '../../functions/order-api/openapi.ts';
import type { ApiAnswer, ApiClient } from './signed-client.ts';

/** What moved since {@link Observatory.start}: the dashboard's order counts and the dead letters. */
export type Moved = Record<'received' | 'rejected' | 'cancelled' | 'shipped' | 'deadLetters', number>;

/** Where the checks read what the API does not show. */
export interface Observatory {
  /** Where each figure comes from, for the progress lines. */
  readonly sources: { stock: string; metrics: string; deadLetters: string };
  /** Remembers where the figures stand before the first order. */
  start(): Promise<void>;
  moved(): Promise<Moved>;
  availableStock(sku: string): Promise<number>;
  /** Waited before the dead letters are read: how late they can show, at most, after the metrics moved. */
  readonly deadLetterSettleMs: number;
}

/** The stock of a SKU in the inventory table (GetItem, strongly consistent), on AWS or locally. */
export function stockReader(config: DynamoDBClientConfig, table: string): Observatory['availableStock'] {
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(config));
  return async (sku) => {
    const { Item } = await documents.send(
      new GetCommand({ TableName: table, Key: { sku }, ConsistentRead: true }),
    );
    return z.object({ available: z.number() }).parse(Item).available;
  };
}

export interface CheckContext {
  api: ApiClient;
  unsigned: ApiClient;
  observatory: Observatory;
  /** For an order to reach the state a check waits for; for the metrics to show the run's orders. */
  timeouts: { orderMs: number; metricsMs: number };
  out: (line: string) => void;
}

interface RunState {
  runId: string;
  orders: { shipped?: string; rejected?: string; cancelPlaced: number; cancelled: string[] };
}

/** Demo catalog SKUs (functions/shared/catalog.ts), seeded on AWS at stack creation and by `npm start`. */
const SKUS = { shipped: ['SKU-TSHIRT-M', 'SKU-MUG'], scarce: 'SKU-VINYL-LTD', released: 'SKU-POSTER' };
/** More units of the scarce SKU than it is ever stocked with (3), within the per-line maximum (1000). */
const OUT_OF_STOCK_QUANTITY = 1000;
const RELEASED_QUANTITY = 2;
/** How many orders the cancellation check may place to catch one before it ships. */
const CANCEL_ATTEMPTS = 5;

/** A failed check: its message is the progress line's reason. */
class CheckFailed extends Error {}

function expectStatus(answer: ApiAnswer, status: number, what: string): void {
  if (answer.status !== status)
    throw new CheckFailed(
      `${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`,
    );
}

/** The example order request (functions/order-api/example-order.ts) of `items`, for this run's customer. */
const orderBody = (runId: string, items: { sku: string; quantity: number }[]) =>
  exampleOrder(`test-deployed-${runId}`, catalogLines(items));

/** POSTs an order of `items` under this run's key `purpose`, expects 202, answers its id (and the answer). */
async function placeOrder(
  ctx: CheckContext,
  { runId }: RunState,
  items: Parameters<typeof orderBody>[1],
  purpose: string,
) {
  const answer = await ctx.api.request('POST', '/orders', {
    body: orderBody(runId, items),
    headers: { 'Idempotency-Key': `test-deployed-${runId}-${purpose}` },
  });
  expectStatus(answer, 202, 'POST /orders');
  return { answer, orderId: Accepted.parse(answer.body).orderId };
}

async function readOrder(api: ApiClient, orderId: string): Promise<OrderView> {
  const answer = await api.request('GET', `/orders/${encodeURIComponent(orderId)}`);
  expectStatus(answer, 200, `GET /orders/${orderId}`);
  return OrderView.parse(answer.body);
}

/** Reads until `done` holds or `timeoutMs` passes; answers the last value read (the caller checks it). */
export async function poll<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  everyMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await sleep(everyMs);
    value = await read();
  }
  return value;
}

/** Polls the order until `done` holds; fails with the last view when `timeoutMs` passes. */
async function orderUntil(
  ctx: CheckContext,
  orderId: string,
  done: (o: OrderView) => boolean,
  what: string,
  everyMs = 250,
) {
  const order = await poll(() => readOrder(ctx.api, orderId), done, ctx.timeouts.orderMs, everyMs);
  if (done(order)) return order;
  const history = order.history.map((entry) => entry.detail ?? entry.status).join(' > ');
  throw new CheckFailed(
    `${orderId} did not ${what} within ${ctx.timeouts.orderMs / 1000} s; last seen ${order.status}: ${history}`,
  );
}

const entries = (order: OrderView, status: string, detail?: string) =>
  order.history.filter(
    (entry) => entry.status === status && (detail === undefined || entry.detail === detail),
  ).length;
const notified = (order: OrderView, kind: string) => entries(order, 'NOTIFIED', `notified:${kind}`);

async function healthIsOpen(ctx: CheckContext): Promise<string> {
  expectStatus(await ctx.unsigned.request('GET', '/health'), 200, 'unsigned GET /health');
  return 'unsigned GET /health: 200';
}

async function unsignedIsRefused(ctx: CheckContext, state: RunState): Promise<string> {
  const answer = await ctx.unsigned.request('POST', '/orders', {
    body: orderBody(state.runId, [{ sku: SKUS.released, quantity: 1 }]),
  });
  expectStatus(answer, 403, 'unsigned POST /orders');
  const message = (answer.body as { message?: unknown } | undefined)?.message;
  if (message !== 'Missing Authentication Token')
    throw new CheckFailed(`unsigned POST /orders: 403 with ${JSON.stringify(answer.body)}`);
  return `unsigned POST /orders: 403 {"message":"${message}"} (${answer.headers.get('x-amzn-errortype') ?? 'no error type header'})`;
}

/** An order ships and both its notifications (packed, shipped) are in its history. */
async function shipsWithNotifications(ctx: CheckContext, state: RunState): Promise<string> {
  const items = SKUS.shipped.map((sku) => ({ sku, quantity: 1 }));
  const { orderId } = await placeOrder(ctx, state, items, 'ship');
  state.orders.shipped = orderId;
  // The duplicate goes at once, while the first is in flight: what a client's retry looks like.
  const again = await placeOrder(ctx, state, items, 'ship');
  const replayed = again.answer.headers.get('idempotent-replayed');
  if (again.orderId !== orderId || replayed !== 'true')
    throw new CheckFailed(
      `the repeated POST answered ${again.orderId} (replayed: ${replayed}), not ${orderId} replayed`,
    );
  const order = await orderUntil(
    ctx,
    orderId,
    (o) => o.status === 'SHIPPED' && notified(o, 'order-packed') > 0 && notified(o, 'order-shipped') > 0,
    'ship with both notifications',
  );
  const took = Date.parse(order.history.at(-1)?.at ?? '') - Date.parse(order.history[0]?.at ?? '');
  return `${orderId} SHIPPED, notified order-packed and order-shipped, ${took} ms from RECEIVED to its last step`;
}

/** The duplicate POST of the shipped order had one effect: every step once, each notification once. */
async function duplicateHasOneEffect(ctx: CheckContext, state: RunState): Promise<string> {
  const orderId = state.orders.shipped;
  if (!orderId) throw new CheckFailed('no shipped order to look at (the previous check failed)');
  const order = await readOrder(ctx.api, orderId);
  const counts = [
    ...['RECEIVED', 'CONFIRMED', 'PACKED', 'SHIPPED'].map(
      (status) => [status, entries(order, status)] as const,
    ),
    ...['order-packed', 'order-shipped'].map((kind) => [kind, notified(order, kind)] as const),
  ];
  const repeated = counts.filter(([, n]) => n !== 1);
  if (repeated.length > 0)
    throw new CheckFailed(`${orderId}'s history has ${repeated.map(([s, n]) => `${n} × ${s}`).join(', ')}`);
  return `one order (${orderId}), its history has each step and each notification once; the repeat answered the same order, replayed`;
}

/** More units than are stocked: the order is accepted, then rejected, and its customer told. */
async function outOfStockRejected(ctx: CheckContext, state: RunState): Promise<string> {
  const items = [{ sku: SKUS.scarce, quantity: OUT_OF_STOCK_QUANTITY }];
  const { orderId } = await placeOrder(ctx, state, items, 'reject');
  state.orders.rejected = orderId;
  const order = await orderUntil(
    ctx,
    orderId,
    (o) => o.status === 'REJECTED' && notified(o, 'order-rejected') > 0,
    'get REJECTED and notified',
  );
  if (entries(order, 'CONFIRMED') > 0)
    throw new CheckFailed(`${orderId} was CONFIRMED before it was rejected`);
  return `${orderId} (${OUT_OF_STOCK_QUANTITY} × ${SKUS.scarce}) REJECTED: ${order.rejectionReason ?? 'no reason given'}`;
}

/**
 * Places an order, cancels it once its stock is reserved (CONFIRMED or PACKED) and before it ships, and
 * reads the SKU's stock: down by the order's units while reserved, back where it was once the
 * cancellation is notified. An order that ships first cannot be cancelled: another one is tried.
 */
async function cancelReturnsStock(ctx: CheckContext, state: RunState): Promise<string> {
  const sku = SKUS.released;
  const stock = () => ctx.observatory.availableStock(sku);
  for (let attempt = 1; attempt <= CANCEL_ATTEMPTS; attempt++) {
    const before = await stock();
    const items = [{ sku, quantity: RELEASED_QUANTITY }];
    const { orderId } = await placeOrder(ctx, state, items, `cancel-${attempt}`);
    state.orders.cancelPlaced += 1;
    const decided = (o: OrderView) => ['CONFIRMED', 'PACKED', 'SHIPPED', 'REJECTED'].includes(o.status);
    const reserved = await orderUntil(ctx, orderId, decided, 'get its stock reserved', 50);
    if (reserved.status === 'REJECTED')
      throw new CheckFailed(`${orderId} was rejected: ${reserved.history.at(-1)?.detail}`);
    const during = await stock();
    const cancel = await ctx.api.request('POST', `/orders/${encodeURIComponent(orderId)}/cancel`, {
      body: { reason: 'test:deployed' },
      // Not the order's key: one key space serves every route, and a key names one request.
      headers: { 'Idempotency-Key': `test-deployed-${state.runId}-cancel-${attempt}-cancel` },
    });
    const shippedFirst = (cancel.body as { status?: unknown } | undefined)?.status === 'SHIPPED';
    if (reserved.status === 'SHIPPED' || (cancel.status === 409 && shippedFirst)) {
      ctx.out(
        `        ${orderId} shipped before its cancel (attempt ${attempt} of ${CANCEL_ATTEMPTS}); placing another`,
      );
      continue;
    }
    expectStatus(cancel, 202, `POST /orders/${orderId}/cancel`);
    state.orders.cancelled.push(orderId);
    await orderUntil(
      ctx,
      orderId,
      (o) => notified(o, 'order-cancelled') > 0,
      'get its cancellation notified',
    );
    const after = await poll(stock, (available) => available === before, ctx.timeouts.orderMs, 250);
    if (during > before - RELEASED_QUANTITY)
      throw new CheckFailed(
        `${sku}: ${before} available before, ${during} while ${orderId} was ${reserved.status}: nothing was reserved`,
      );
    if (after !== before)
      throw new CheckFailed(
        `${sku}: ${before} available before, ${during} reserved, ${after} after the cancel (not given back)`,
      );
    return `${orderId} cancelled at ${reserved.status}: ${sku} available ${before} -> ${during} while reserved -> ${after} after the cancel (${ctx.observatory.sources.stock})`;
  }
  throw new CheckFailed(
    `all ${CANCEL_ATTEMPTS} orders shipped before their cancel arrived: the pipeline outran the client`,
  );
}

const describeMoved = (m: Omit<Moved, 'deadLetters'>) =>
  `received +${m.received}, shipped +${m.shipped}, rejected +${m.rejected}, cancelled +${m.cancelled}`;

/** The dashboard's order counts moved by at least this run's orders. */
async function metricsMoved(ctx: CheckContext, { orders }: RunState): Promise<string> {
  const wanted = {
    received: (orders.shipped ? 1 : 0) + (orders.rejected ? 1 : 0) + orders.cancelPlaced,
    shipped: orders.shipped ? 1 : 0,
    rejected: orders.rejected ? 1 : 0,
    cancelled: orders.cancelled.length,
  };
  if (wanted.received === 0) throw new CheckFailed('no order of this run was accepted: nothing to look for');
  const { metricsMs } = ctx.timeouts;
  const enough = (m: Moved) =>
    (Object.keys(wanted) as (keyof typeof wanted)[]).every((k) => m[k] >= wanted[k]);
  const moved = await poll(
    () => ctx.observatory.moved(),
    enough,
    metricsMs,
    Math.min(10_000, metricsMs / 20),
  );
  if (!enough(moved))
    throw new CheckFailed(
      `after ${metricsMs / 1000} s: ${describeMoved(moved)}; expected at least ${describeMoved(wanted)}`,
    );
  return `${describeMoved(moved)} (${ctx.observatory.sources.metrics})`;
}

async function noDeadLetters(ctx: CheckContext): Promise<string> {
  await sleep(ctx.observatory.deadLetterSettleMs);
  const { deadLetters } = await ctx.observatory.moved();
  const source = ctx.observatory.sources.deadLetters;
  if (deadLetters !== 0)
    throw new CheckFailed(`${deadLetters} record(s) dead-lettered since the run began (${source})`);
  return `0 since the run began (${source})`;
}

export const CHECKS: readonly [name: string, run: (ctx: CheckContext, state: RunState) => Promise<string>][] =
  [
    ['GET /health is open', healthIsOpen],
    ['an unsigned order request is refused', unsignedIsRefused],
    ['an order ships with both notifications', shipsWithNotifications],
    ['a duplicate POST (same Idempotency-Key) has one effect', duplicateHasOneEffect],
    ['an out-of-stock order is rejected', outOfStockRejected],
    ['a cancel before shipping returns the stock', cancelReturnsStock],
    ["the dashboard's metrics moved", metricsMoved],
    ['the dead-letter topic gained nothing', noDeadLetters],
  ];

/** Runs every check, in order, whatever failed before; a progress line before and after each. Answers whether all passed. */
export async function runChecks(ctx: CheckContext): Promise<boolean> {
  const state: RunState = { runId: randomUUID().slice(0, 8), orders: { cancelPlaced: 0, cancelled: [] } };
  await ctx.observatory.start();
  ctx.out(`run ${state.runId}: customer test-deployed-${state.runId}`);
  let passed = 0;
  for (const [index, [name, check]] of CHECKS.entries()) {
    ctx.out(`[${index + 1}/${CHECKS.length}] ${name} ...`);
    const startedAt = Date.now();
    let ok = true;
    let detail: string;
    try {
      detail = await check(ctx, state);
    } catch (error) {
      ok = false;
      const { name: kind, message } = error as Error;
      detail = error instanceof CheckFailed ? message : `${kind}: ${message}`;
    }
    if (ok) passed++;
    ctx.out(`      ${ok ? 'PASS' : 'FAIL'} (${((Date.now() - startedAt) / 1000).toFixed(1)} s) ${detail}`);
  }
  ctx.out(`${passed} of ${CHECKS.length} checks passed`);
  return passed === CHECKS.length;
}
