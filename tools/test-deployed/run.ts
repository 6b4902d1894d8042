/**
 * Runs the checks of `npm run test:deployed` in order, one progress line each, and says which passed.
 * The checks that need more than the API: a cancel returns the stock (the inventory table), the metrics
 * moved and the dead-letter topic gained nothing (the {@link Observatory}).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CheckContext,
  CheckFailed,
  type CheckResult,
  duplicateHasOneEffect,
  expectStatus,
  type Moved,
  newRunState,
  notified,
  orderBody,
  orderUntil,
  outOfStockRejected,
  placeOrder,
  type RunState,
  SKUS,
  shipsWithNotifications,
} from './checks.ts';

const RELEASED_QUANTITY = 2;

async function healthIsOpen(ctx: CheckContext): Promise<string> {
  const answer = await ctx.unsigned.request('GET', '/health');
  expectStatus(answer, 200, 'unsigned GET /health');
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

async function stockUntil(ctx: CheckContext, sku: string, wanted: number): Promise<number> {
  const deadline = Date.now() + ctx.timeouts.orderMs;
  let available = await ctx.observatory.availableStock(sku);
  while (available !== wanted && Date.now() < deadline) {
    await sleep(250);
    available = await ctx.observatory.availableStock(sku);
  }
  return available;
}

/**
 * Places an order, cancels it once its stock is reserved (CONFIRMED or PACKED) and before it ships, and
 * reads the SKU's stock: down by the order's units while reserved, back where it was once the
 * cancellation is notified. An order that ships first cannot be cancelled: another one is tried.
 */
async function cancelReturnsStock(ctx: CheckContext, state: RunState): Promise<string> {
  const sku = SKUS.released;
  const attempts = ctx.cancelAttempts ?? 5;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const before = await ctx.observatory.availableStock(sku);
    const placed = await placeOrder(
      ctx.api,
      orderBody(state.runId, [{ sku, quantity: RELEASED_QUANTITY }]),
      `test-deployed-${state.runId}-cancel-${attempt}`,
    );
    expectStatus(placed, 202, 'POST /orders');
    state.orders.cancelPlaced += 1;
    const { orderId } = placed.body as { orderId: string };
    const decided = (status: string) => ['CONFIRMED', 'PACKED', 'SHIPPED', 'REJECTED'].includes(status);
    const reserved = await orderUntil(
      ctx.api,
      orderId,
      (o) => decided(o.status),
      'get its stock reserved',
      ctx.timeouts.orderMs,
      50,
    );
    if (reserved.status === 'REJECTED')
      throw new CheckFailed(`${orderId} was rejected: ${reserved.history.at(-1)?.detail}`);
    const during = await ctx.observatory.availableStock(sku);
    const cancel = await ctx.api.request('POST', `/orders/${encodeURIComponent(orderId)}/cancel`, {
      body: { reason: 'test:deployed' },
      // Not the order's key: one key space serves every route, and a key names one request.
      headers: { 'Idempotency-Key': `test-deployed-${state.runId}-cancel-${attempt}-cancel` },
    });
    const shippedFirst = (cancel.body as { status?: unknown } | undefined)?.status === 'SHIPPED';
    if (reserved.status === 'SHIPPED' || (cancel.status === 409 && shippedFirst)) {
      ctx.out(
        `        ${orderId} shipped before its cancel (attempt ${attempt} of ${attempts}); placing another`,
      );
      continue;
    }
    expectStatus(cancel, 202, `POST /orders/${orderId}/cancel`);
    state.orders.cancelled.push(orderId);
    await orderUntil(
      ctx.api,
      orderId,
      (o) => notified(o, 'order-cancelled') > 0,
      'get its cancellation notified',
      ctx.timeouts.orderMs,
    );
    const after = await stockUntil(ctx, sku, before);
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
    `all ${attempts} orders shipped before their cancel arrived: the pipeline outran the client`,
  );
}

const describeMoved = (m: Moved) =>
  `received +${m.received}, shipped +${m.shipped}, rejected +${m.rejected}, cancelled +${m.cancelled}`;

/** The dashboard's order counts moved by at least this run's orders. */
async function metricsMoved(ctx: CheckContext, state: RunState): Promise<string> {
  const wanted: Omit<Moved, 'deadLetters'> = {
    received: (state.orders.shipped ? 1 : 0) + (state.orders.rejected ? 1 : 0) + state.orders.cancelPlaced,
    shipped: state.orders.shipped ? 1 : 0,
    rejected: state.orders.rejected ? 1 : 0,
    cancelled: state.orders.cancelled.length,
  };
  if (wanted.received === 0) throw new CheckFailed('no order of this run was accepted: nothing to look for');
  const enough = (m: Moved) =>
    (Object.keys(wanted) as (keyof typeof wanted)[]).every((k) => m[k] >= wanted[k]);
  const deadline = Date.now() + ctx.timeouts.metricsMs;
  let moved = await ctx.observatory.moved();
  while (!enough(moved)) {
    if (Date.now() > deadline)
      throw new CheckFailed(
        `after ${ctx.timeouts.metricsMs / 1000} s: ${describeMoved(moved)}; expected at least ${describeMoved({ ...wanted, deadLetters: 0 })}`,
      );
    await sleep(Math.min(10_000, ctx.timeouts.metricsMs / 20));
    moved = await ctx.observatory.moved();
  }
  return `${describeMoved(moved)} (${ctx.observatory.sources.metrics})`;
}

async function noDeadLetters(ctx: CheckContext): Promise<string> {
  await sleep(ctx.observatory.deadLetterSettleMs);
  const { deadLetters } = await ctx.observatory.moved();
  if (deadLetters !== 0)
    throw new CheckFailed(
      `${deadLetters} record(s) dead-lettered since the run began (${ctx.observatory.sources.deadLetters})`,
    );
  return `0 since the run began (${ctx.observatory.sources.deadLetters})`;
}

type Check = [name: string, run: (ctx: CheckContext, state: RunState) => Promise<string>];

export const CHECKS: readonly Check[] = [
  ['GET /health is open', healthIsOpen],
  ['an unsigned order request is refused', unsignedIsRefused],
  ['an order ships with both notifications', shipsWithNotifications],
  ['a duplicate POST (same Idempotency-Key) has one effect', duplicateHasOneEffect],
  ['an out-of-stock order is rejected', outOfStockRejected],
  ['a cancel before shipping returns the stock', cancelReturnsStock],
  ["the dashboard's metrics moved", metricsMoved],
  ['the dead-letter topic gained nothing', noDeadLetters],
];

/** Runs every check, in order, whatever failed before; a progress line before and after each. */
export async function runChecks(ctx: CheckContext): Promise<CheckResult[]> {
  const state = newRunState();
  await ctx.observatory.start();
  ctx.out(`run ${state.runId}: customer test-deployed-${state.runId}`);
  const results: CheckResult[] = [];
  for (const [index, [name, run]] of CHECKS.entries()) {
    ctx.out(`[${index + 1}/${CHECKS.length}] ${name} ...`);
    const startedAt = Date.now();
    let result: CheckResult;
    try {
      result = { name, ok: true, detail: await run(ctx, state), ms: Date.now() - startedAt };
    } catch (error) {
      const detail =
        error instanceof CheckFailed
          ? error.message
          : `${(error as Error).name}: ${(error as Error).message}`;
      result = { name, ok: false, detail, ms: Date.now() - startedAt };
    }
    results.push(result);
    ctx.out(`      ${result.ok ? 'PASS' : 'FAIL'} (${(result.ms / 1000).toFixed(1)} s) ${result.detail}`);
  }
  const passed = results.filter((r) => r.ok).length;
  ctx.out(`${passed} of ${results.length} checks passed`);
  return results;
}
