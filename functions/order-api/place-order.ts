/**
 * `POST /orders`: parse, price from the catalog, build and check the order's event, then accept the
 * order once (its conditional write, then its OrderReceived). Refusals are thrown as `HttpError`s.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod';
import { type EncodedRecord, EventDecodeError, type Issue, issuesOf } from '../../events/codec.ts';
import type { Order } from '../../events/schemas/order.ts';
import type { OrderRequest } from '../../events/schemas/order-request.ts';
import { count, kpiRecord, latency } from '../shared/kpis.ts';
import { orderReceivedRecord } from '../shared/orders/events.ts';
import { newStoredOrder, orderOf, type StoredOrder } from '../shared/orders/model.ts';
import type { RouteEnv } from './api-deps.ts';
import { CATALOG_ITEM_INVALID, type CatalogLookup } from './catalog.ts';
import { BadRequestError, ConflictError, OrderNotStorableError, UnprocessableError } from './http-errors.ts';
import { type KeyedRequest, markReplayed } from './idempotency.ts';
import {
  eventSizeIssues,
  MAX_ORDER_EVENT_BYTES,
  orderFromRequest,
  orderIdFor,
  type PricedOrder,
  priceOrder,
  requestHash,
} from './logic.ts';
import { callerOf, parseOrderRequest, requestFingerprint, requestIdOf } from './requests.ts';
import { acceptedResponse } from './responses.ts';

interface AcceptInput extends KeyedRequest {
  request: OrderRequest;
  orderId: string;
  requestId: string;
}

/** What is built and checked before anything is written: the order and its event. */
interface Prepared {
  order: Order;
  record: EncodedRecord;
}

/** The route. Everything the event needs is checked before anything is written. */
export function placeOrderRoute(env: RouteEnv) {
  const { logger } = env;
  const accept = acceptOrder(env);
  const acceptOnce = env.once(accept);
  return async function placeOrder(
    event: APIGatewayProxyEvent,
    headers: Record<string, string>,
    context?: Context,
  ): Promise<APIGatewayProxyResult> {
    const parsed = parseOrderRequest(event, headers, callerOf(event));
    if (!parsed.ok) throw parsed.error;
    const { request, idempotencyKey } = parsed;
    const orderId = orderIdFor(request, idempotencyKey, env.newId);
    logger.setCorrelationId(orderId);
    const requestId = requestIdOf(event, context, env.newId);
    const priced = await price(env, request);
    if (!priced.ok) {
      const { errors } = priced;
      if (priced.status === 422) throw new UnprocessableError('The order cannot be sold now', { errors });
      throw new BadRequestError('The order is invalid', { errors });
    }
    const prepared = prepare(env, orderFromRequest(request, priced, orderId, env.now()), requestId);
    const fingerprint = requestFingerprint('POST /orders', {}, request);
    const input = { idempotencyKey, fingerprint, request, orderId, requestId };
    // An order id the client chose is its own idempotency key: the order's conditional write guards it
    // (same id and content: the original answer; other content: 409), with no second record. An
    // Idempotency-Key header is guarded by Powertools, which also holds a concurrent duplicate off.
    if (!idempotencyKey?.startsWith('key:')) return accept(input, prepared);
    const { response, replayed } = await acceptOnce(context, input, prepared);
    if (replayed) logger.info('idempotent replay of an earlier answer', { orderId });
    return response;
  };
}

/** Operator data that cannot be sold is alerted on (a metric and an ERROR line), never retried. */
function reportUnsellable(env: RouteEnv, lookups: ReadonlyMap<string, CatalogLookup>): void {
  for (const lookup of lookups.values()) {
    if (lookup.sellable) continue;
    env.metrics.addMetric(CATALOG_ITEM_INVALID, MetricUnit.Count, 1);
    env.logger.error(`${CATALOG_ITEM_INVALID}: a catalog entry does not fit, its SKU cannot be sold`, {
      sku: lookup.sku,
      problems: lookup.problems,
    });
  }
}

/**
 * Prices the request from the catalog. A price or total the cached entries disagree with is checked
 * again against a fresh read (the client may know of a change within the cache period).
 */
async function price(env: RouteEnv, request: OrderRequest): Promise<PricedOrder> {
  const skus = request.items.map((item) => item.sku);
  let lookups = await env.deps.catalog.prices(skus);
  let priced = priceOrder(request, lookups);
  if (!priced.ok && priced.priceMismatch) {
    lookups = await env.deps.catalog.prices(skus, { fresh: true });
    priced = priceOrder(request, lookups);
  }
  reportUnsellable(env, lookups);
  return priced;
}

/** The order's event, encoded and within its size; an order that does not fit it is a 400. */
function prepare(env: RouteEnv, order: Order, requestId: string): Prepared {
  let record: EncodedRecord;
  try {
    record = orderReceivedRecord(order, requestId, new Date(order.placedAt));
  } catch (error) {
    // encode throws EventDecodeError; newEvent, before it, a ZodError: both mean "does not fit".
    const issues =
      error instanceof EventDecodeError
        ? error.issues
        : error instanceof z.ZodError
          ? issuesOf(error)
          : undefined;
    if (!issues) throw error;
    env.logger.warn('order refused: it does not fit its event', { paths: issues.map((i) => i.path) });
    throw new BadRequestError('The order cannot be accepted', { errors: eventIssues(issues) });
  }
  const tooLarge = eventSizeIssues(record, env.deps.maxEventBytes ?? MAX_ORDER_EVENT_BYTES);
  if (tooLarge.length > 0) throw new BadRequestError('The order cannot be accepted', { errors: tooLarge });
  return { order, record };
}

/** The event's paths (`data.order.items[0].name`) as the order's, which is what the client knows. */
const eventIssues = (issues: readonly Issue[]): Issue[] =>
  issues.map((issue) => ({ ...issue, path: issue.path.replace(/^data\.order\.?/, '') }));

/** An error only the client's input can cause, whatever the number of retries. */
const isValidationException = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ValidationException';

/**
 * Writes the order (only if its id is new) and produces the OrderReceived built and checked before.
 * A retry after a crash finds the order written with the same content and produces its event again
 * (the same id: it derives from the order id); the same id with other content is a conflict.
 */
function acceptOrder(env: RouteEnv) {
  const { deps, logger } = env;
  return async (input: AcceptInput, prepared: Prepared): Promise<APIGatewayProxyResult> => {
    const { order } = prepared;
    const started = new Date(order.placedAt);
    let created: Awaited<ReturnType<RouteEnv['deps']['orders']['create']>>;
    try {
      // The repository retries a write that meets a transaction (the SDK does not) and answers a failed
      // condition as a result; what still fails is answered 503 with Retry-After (`failures.ts`).
      created = await deps.orders.create(
        newStoredOrder(order, { requestHash: requestHash(input.request), requestId: input.requestId }),
      );
    } catch (error) {
      if (!isValidationException(error)) throw error;
      throw new OrderNotStorableError((error as Error).message);
    }
    // The SDK retried a write whose first attempt took effect (a 500 or a lost connection after it):
    // the order found is this request's own, so it is answered and counted as new, once.
    const existing = created.created ? undefined : created.existing;
    const own = !created.created && existing?.requestId === input.requestId;
    const fresh = created.created || own;
    const record = fresh ? prepared.record : storedOrderRecord(input, existing);
    const eventId = record.headers['event-id'] ?? '';
    // Counted once: a retry that finds the order accepted re-produces its event, not its KPIs.
    const kpis = fresh
      ? [count('OrdersReceived'), latency('StepLatency', started.toISOString(), env.now())]
      : [];
    const kpiRecords = kpiRecord('order-api', eventId, [{ orderId: input.orderId, kpis }], started);
    await deps.produce(kpiRecords ? [record, kpiRecords] : [record]);
    logger.info(fresh ? 'order accepted' : 'order was already accepted, event re-produced', {
      eventId,
      lines: order.items.length,
    });
    const response = acceptedResponse(input.orderId);
    return fresh ? response : markReplayed(response);
  };
}

/** The event of an order already stored under this id: the same content re-produces it, other is a 409. */
function storedOrderRecord(input: AcceptInput, existing: StoredOrder | undefined): EncodedRecord {
  if (!existing) throw new Error(`order ${input.orderId} exists but could not be read`);
  if (existing.requestHash !== requestHash(input.request)) {
    throw new ConflictError(`Order ${input.orderId} already exists with different content`);
  }
  // The stored order is the truth: its event is re-produced as it was accepted.
  return orderReceivedRecord(
    orderOf(existing),
    existing.requestId ?? input.requestId,
    new Date(existing.placedAt),
  );
}
