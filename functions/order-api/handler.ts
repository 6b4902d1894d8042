import { randomUUID } from 'node:crypto';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod';
import { type EncodedRecord, EventDecodeError, type Issue, issuesOf } from '../../events/codec.ts';
import type { Order } from '../../events/schemas/order.ts';
import type { CancelRequest, OrderRequest } from '../../events/schemas/order-request.ts';
import type { manifest } from '../../topology/manifest.ts';
import type { HttpRoute } from '../../topology/types.ts';
import { tableName } from '../shared/config.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { count, kpiRecord, latency } from '../shared/kpis.ts';
import { onReset } from '../shared/lifecycle.ts';
import { flushMetrics, observability } from '../shared/observability.ts';
import { orderCancelledRecord, orderReceivedRecord } from '../shared/orders/events.ts';
import { newStoredOrder, orderOf, orderView } from '../shared/orders/model.ts';
import { dynamoOrders, type OrdersPort } from '../shared/orders/repository.ts';
import { tracer } from '../shared/tracing.ts';
import { CATALOG_ITEM_INVALID, type CatalogLookup, type CatalogPort, dynamoCatalog } from './catalog.ts';
import { orderApiDocumentClient, orderApiDynamoDbClient, resetOrderApiClients } from './clients.ts';
import { type Failure, failureOf, failureResponse } from './failures.ts';
import {
  acceptedResponse,
  callerOf,
  cancelledResponse,
  errorResponse,
  eventSizeIssues,
  historyWithNotifications,
  json,
  MAX_ORDER_EVENT_BYTES,
  normalizeHeaders,
  orderFromRequest,
  orderIdFor,
  type PricedOrder,
  parseCancelRequest,
  parseOrderRequest,
  priceOrder,
  type RequestFingerprint,
  requestFingerprint,
  requestHash,
  screenRequest,
  validOrderId,
} from './logic.ts';
import { dynamoNotifications, type NotificationsReadPort } from './notifications.ts';

export interface OrderApiDeps {
  orders: OrdersPort;
  catalog: CatalogPort;
  notifications: NotificationsReadPort;
  produce(records: readonly EncodedRecord[]): Promise<void>;
  /** The Idempotency-Keys of every route: one store, one key space per caller (see `requestFingerprint`). */
  persistenceStore: BasePersistenceLayer;
  now?: () => Date;
  newId?: () => string;
  /** The largest OrderReceived accepted; tests lower it. */
  maxEventBytes?: number;
}

/** The same order id already names an order with other content. */
export class OrderConflictError extends Error {
  override readonly name = 'OrderConflictError';
}

/**
 * DynamoDB refused the order's write as invalid (ValidationException): something the client sent got
 * past validation. Nothing was written, so the answer is a 400; the gap is a bug and logged as one.
 */
export class OrderNotStorableError extends Error {
  override readonly name = 'OrderNotStorableError';
}

/** An error only the client's input can cause, whatever the number of retries. */
const isValidationException = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ValidationException';

/** What is built and checked before anything is written: the order and its event. */
interface Prepared {
  order: Order;
  record: EncodedRecord;
}

/** What the idempotency store keeps: JSON, which an API Gateway result is. */
type StoredResponse = ReturnType<
  NonNullable<ConstructorParameters<typeof IdempotencyConfig>[0]['responseHook']>
>;

/** How long an answer is replayed for the same Idempotency-Key. */
const API_IDEMPOTENCY_SECONDS = 24 * 60 * 60;
/**
 * One key space for every route's Idempotency-Keys (a caller's key names one request, whatever its
 * route), under a prefix of its own: the records kept under the former per-route prefixes hashed the
 * body alone, so they are not compared with fingerprints (their orders still replay by the order's own
 * conditional write, and a cancellation is idempotent by the order's state).
 */
const IDEMPOTENCY_KEY_PREFIX = 'order-pipeline.order-api.request';

/** The routes the manifest gives order-api, as API Gateway names them (`<method> <resource>`). */
type RouteKey =
  `${HttpRoute['method']} ${(typeof manifest.functions)['order-api']['trigger']['routes'][number]['resource']}`;

/** A cancellation stays in the outbox this long before the sweeper may produce its event again. */
const CANCEL_OUTBOX_GRACE_MS = 30_000;

interface CancelInput {
  idempotencyKey: string | undefined;
  /** Validated against the key's first request: the same key on another order is a 409. */
  fingerprint: RequestFingerprint;
  request: CancelRequest;
  orderId: string;
  requestId: string;
}

/** A replayed answer says so, as common idempotent APIs do. */
const markReplayed = (response: unknown): StoredResponse => {
  const answer = response as APIGatewayProxyResult;
  return {
    ...answer,
    headers: { ...answer.headers, 'idempotent-replayed': 'true' },
  } as unknown as StoredResponse;
};

interface AcceptInput {
  /** Hashed into the idempotency record's key. */
  idempotencyKey: string | undefined;
  /** Hashed for payload validation: the same key with another order, or on another route, is a 409. */
  fingerprint: RequestFingerprint;
  request: OrderRequest;
  orderId: string;
  requestId: string;
}

/** The API: routing, validation, and the idempotent acceptance of orders. Ports are injected. */
export function createOrderApi(deps: OrderApiDeps, observe: { logger: Logger; metrics: Metrics }) {
  const { logger } = observe;
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  // The record's key is the caller's scoped key; its payload hash is the request's fingerprint (route,
  // target, body), so the key can never answer for another request. One config and one store serve
  // both routes (a Powertools store keeps the configuration of its first use: both are the same).
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'idempotencyKey',
    payloadValidationJmesPath: 'fingerprint',
    expiresAfterSeconds: API_IDEMPOTENCY_SECONDS,
    responseHook: markReplayed,
  });

  /**
   * Writes the order (only if its id is new) and produces the OrderReceived built and checked before.
   * A retry after a crash finds the order written with the same content and produces its event again
   * (the same id: it derives from the order id); the same id with other content is a conflict.
   */
  const accept = async (
    input: AcceptInput,
    run: { fresh: boolean; prepared: Prepared },
  ): Promise<APIGatewayProxyResult> => {
    {
      const { order } = run.prepared;
      let record = run.prepared.record;
      const started = new Date(order.placedAt);
      let created: Awaited<ReturnType<OrdersPort['create']>>;
      try {
        // The repository retries a write that meets a transaction (the SDK does not) and answers a failed
        // condition as a result; what still fails is answered 503 with Retry-After (`failed`).
        created = await deps.orders.create(
          newStoredOrder(order, { requestHash: requestHash(input.request), requestId: input.requestId }),
        );
      } catch (error) {
        if (!isValidationException(error)) throw error;
        throw new OrderNotStorableError((error as Error).message);
      }
      // The SDK retried a write whose first attempt took effect (a 500 or a lost connection after it):
      // the order found is this request's own, so it is answered and counted as new, once.
      const own = !created.created && created.existing?.requestId === input.requestId;
      if (!created.created && !own) {
        const existing = created.existing;
        if (!existing) throw new Error(`order ${input.orderId} exists but could not be read`);
        if (existing.requestHash !== requestHash(input.request)) {
          throw new OrderConflictError(`order ${input.orderId} already exists with other content`);
        }
        // The stored order is the truth: its event is re-produced as it was accepted.
        record = orderReceivedRecord(
          orderOf(existing),
          existing.requestId ?? input.requestId,
          new Date(existing.placedAt),
        );
      }
      const eventId = record.headers['event-id'] ?? '';
      // Counted once: a retry that finds the order accepted re-produces its event, not its KPIs.
      const fresh = created.created || own;
      const kpis = fresh
        ? [count('OrdersReceived'), latency('StepLatency', started.toISOString(), now())]
        : [];
      const kpiRecords = kpiRecord('order-api', eventId, [{ orderId: input.orderId, kpis }], started);
      await deps.produce(kpiRecords ? [record, kpiRecords] : [record]);
      run.fresh = true;
      logger.info(fresh ? 'order accepted' : 'order was already accepted, event re-produced', {
        eventId,
        lines: order.items.length,
      });
      const response = acceptedResponse(input.orderId);
      return fresh ? response : (markReplayed(response) as unknown as APIGatewayProxyResult);
    }
  };
  const acceptOrder = makeIdempotent(accept, {
    persistenceStore: deps.persistenceStore,
    config,
    keyPrefix: IDEMPOTENCY_KEY_PREFIX,
  });

  /** Operator data that cannot be sold is alerted on (a metric and an ERROR line), never retried. */
  const reportUnsellable = (lookups: ReadonlyMap<string, CatalogLookup>) => {
    for (const lookup of lookups.values()) {
      if (lookup.sellable) continue;
      observe.metrics.addMetric(CATALOG_ITEM_INVALID, MetricUnit.Count, 1);
      logger.error(`${CATALOG_ITEM_INVALID}: a catalog entry does not fit, its SKU cannot be sold`, {
        sku: lookup.sku,
        problems: lookup.problems,
      });
    }
  };

  /**
   * Prices the request from the catalog. A price or total the cached entries disagree with is checked
   * again against a fresh read (the client may know of a change within the cache period).
   */
  const price = async (request: OrderRequest): Promise<PricedOrder> => {
    const skus = request.items.map((item) => item.sku);
    let lookups = await deps.catalog.prices(skus);
    let priced = priceOrder(request, lookups);
    if (!priced.ok && priced.priceMismatch) {
      lookups = await deps.catalog.prices(skus, { fresh: true });
      priced = priceOrder(request, lookups);
    }
    reportUnsellable(lookups);
    return priced;
  };

  async function createOrder(
    event: APIGatewayProxyEvent,
    headers: Record<string, string>,
    context?: Context,
  ) {
    const parsed = parseOrderRequest(event, headers, callerOf(event));
    if (!parsed.ok) return parsed.response;
    const { request, idempotencyKey } = parsed;
    const orderId = orderIdFor(request, idempotencyKey, newId);
    logger.setCorrelationId(orderId);
    const requestId = event.requestContext?.requestId || context?.awsRequestId || newId();
    // Everything the event needs is checked before anything is written: prices, then the event itself.
    const priced = await price(request);
    if (!priced.ok) {
      const message = priced.status === 422 ? 'The order cannot be sold now' : 'The order is invalid';
      return errorResponse(priced.status, message, priced.errors);
    }
    const order = orderFromRequest(request, priced, orderId, now());
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
      logger.warn('order refused: it does not fit its event', { paths: issues.map((i) => i.path) });
      return errorResponse(400, 'The order cannot be accepted', eventIssues(issues));
    }
    const tooLarge = eventSizeIssues(record, deps.maxEventBytes ?? MAX_ORDER_EVENT_BYTES);
    if (tooLarge.length > 0) return errorResponse(400, 'The order cannot be accepted', tooLarge);
    if (context) config.registerLambdaContext(context);
    const run = { fresh: false, prepared: { order, record } };
    try {
      // An order id the client chose is its own idempotency key: the order's conditional write guards it
      // (same id and content: the original answer; other content: 409), with no second record. An
      // Idempotency-Key header is guarded by Powertools, which also holds a concurrent duplicate off.
      const fingerprint = requestFingerprint('POST /orders', {}, request);
      const input = { idempotencyKey, fingerprint, request, orderId, requestId };
      const response = idempotencyKey?.startsWith('key:')
        ? await acceptOrder(input, run)
        : await accept(input, run);
      if (!run.fresh) logger.info('idempotent replay of an earlier answer', { orderId });
      return response;
    } catch (error) {
      const refused = idempotencyRefusal(error);
      if (refused) return refused;
      if (error instanceof OrderConflictError) {
        return errorResponse(409, `Order ${orderId} already exists with different content`);
      }
      if (error instanceof OrderNotStorableError) {
        // Not the client's fault that we let it through; the message says what DynamoDB refused.
        logger.error('BUG: validation let through an order DynamoDB refuses', { reason: error.message });
        return errorResponse(400, 'The order contains a value that cannot be stored');
      }
      throw error;
    }
  }

  /**
   * Cancels the order if it has not shipped (a conditional update: exactly one of "cancelled" and
   * "shipped" wins a race) and produces its OrderCancelled. A repeated cancel finds it CANCELLED and
   * produces the same event again (same id), so a crash between the two heals on the client's retry,
   * and the outbox sweeper heals it without one.
   */
  async function cancel(input: CancelInput): Promise<APIGatewayProxyResult> {
    const at = now();
    const result = await deps.orders.cancel({
      orderId: input.orderId,
      at: at.toISOString(),
      reason: input.request.reason,
      retryAt: new Date(at.getTime() + CANCEL_OUTBOX_GRACE_MS).toISOString(),
    });
    const stored = result.applied ? result.order : result.current;
    if (!stored) return errorResponse(404, `Order ${input.orderId} not found`);
    if (stored.status !== 'CANCELLED') {
      return json(409, {
        message: `Order ${input.orderId} is ${stored.status}: it can no longer be cancelled`,
        status: stored.status,
      });
    }
    // A cancellation the SDK retried after its first attempt took effect finds its own entry: counted once.
    const own =
      !result.applied && stored.history.some((e) => e.status === 'CANCELLED' && e.at === at.toISOString());
    const record = orderCancelledRecord(stored, input.requestId);
    const kpis = result.applied || own ? [count('OrdersCancelled')] : [];
    const kpiRecords = kpiRecord(
      'order-api',
      `cancel|${input.orderId}`,
      [{ orderId: input.orderId, kpis }],
      at,
    );
    await deps.produce(kpiRecords ? [record, kpiRecords] : [record]);
    logger.info(
      result.applied || own ? 'order cancelled' : 'order was already cancelled, event re-produced',
      {
        cancelledFrom: stored.cancelledFrom,
      },
    );
    return cancelledResponse(input.orderId);
  }
  const cancelOnce = makeIdempotent(cancel, {
    persistenceStore: deps.persistenceStore,
    config,
    keyPrefix: IDEMPOTENCY_KEY_PREFIX,
  });

  async function cancelOrder(
    orderId: string,
    event: APIGatewayProxyEvent,
    headers: Record<string, string>,
    context?: Context,
  ) {
    const problems = validOrderId(orderId);
    if (problems.length > 0) return errorResponse(400, 'The order id is invalid', problems);
    logger.setCorrelationId(orderId);
    const parsed = parseCancelRequest(event, headers, callerOf(event));
    if (!parsed.ok) return parsed.response;
    const requestId = event.requestContext?.requestId || context?.awsRequestId || newId();
    const fingerprint = requestFingerprint('POST /orders/{id}/cancel', { id: orderId }, parsed.request);
    const input = {
      idempotencyKey: parsed.idempotencyKey,
      fingerprint,
      request: parsed.request,
      orderId,
      requestId,
    };
    // Without a key the cancellation is idempotent by itself (by the order's state); with one, the
    // same key on another order, route or reason is refused, as for POST /orders.
    if (!parsed.idempotencyKey) return cancel(input);
    if (context) config.registerLambdaContext(context);
    try {
      return await cancelOnce(input);
    } catch (error) {
      const refused = idempotencyRefusal(error);
      if (refused) return refused;
      throw error;
    }
  }

  async function getOrder(orderId: string) {
    const problems = validOrderId(orderId);
    if (problems.length > 0) return errorResponse(400, 'The order id is invalid', problems);
    logger.setCorrelationId(orderId);
    const stored = await deps.orders.get(orderId);
    if (!stored) return errorResponse(404, `Order ${orderId} not found`);
    const view = orderView(stored);
    const history = historyWithNotifications(view.history, await deps.notifications.delivered(orderId));
    return json(200, { ...view, history }, { 'cache-control': 'no-store' });
  }

  return async function handle(
    event: APIGatewayProxyEvent,
    context?: Context,
  ): Promise<APIGatewayProxyResult> {
    const refused = screenRequest(event);
    if (refused) return refused;
    const headers = normalizeHeaders(event);
    // API Gateway (and the local emulator) matched the route already, from the manifest's routes: the
    // event names its resource and path parameters; anything else never reaches the function.
    const orderId = event.pathParameters?.id ?? '';
    try {
      switch (`${event.httpMethod} ${event.resource}` as RouteKey) {
        case 'GET /health':
          return json(200, { status: 'ok' });
        case 'POST /orders':
          return await createOrder(event, headers, context);
        case 'GET /orders/{id}':
          return await getOrder(orderId);
        case 'POST /orders/{id}/cancel':
          return await cancelOrder(orderId, event, headers, context);
        default:
          return errorResponse(404, `No route for ${event.httpMethod} ${event.resource}`);
      }
    } catch (error) {
      return failed(failureOf(error), error);
    }
  };

  /** A request given up on for now: 503 (or 409 in progress) with Retry-After, never a 500. */
  function failed(failure: Failure, error: unknown): APIGatewayProxyResult {
    const details = { reason: failure.reason, error: (error as Error)?.name };
    // What AWS documents as transient is a warning; a failure nobody recognises is an error to look at.
    if (failure.reason === 'unexpected') logger.error('request failed', error as Error);
    else logger.warn('request given up on for now', details);
    return failureResponse(failure);
  }
}

/** The 409 of an Idempotency-Key that names another request, or one still in progress; else undefined. */
function idempotencyRefusal(error: unknown): APIGatewayProxyResult | undefined {
  if (error instanceof IdempotencyValidationError) {
    return errorResponse(
      409,
      'This Idempotency-Key was already used for another request (another order, route or body); use a new key for a new request',
    );
  }
  // Its first request is running, or its answer was lost: 409 (the IETF Idempotency-Key draft's answer to
  // a request retried while the first is in progress) with Retry-After, and never a second effect.
  if (error instanceof IdempotencyAlreadyInProgressError) return failureResponse(failureOf(error));
  return undefined;
}

/** The event's paths (`data.order.items[0].name`) as the order's, which is what the client knows. */
const eventIssues = (issues: readonly Issue[]): Issue[] =>
  issues.map((issue) => ({ ...issue, path: issue.path.replace(/^data\.order\.?/, '') }));

const { logger, metrics } = observability('order-api');
let api: ReturnType<typeof createOrderApi> | undefined;
onReset(() => {
  api = undefined;
  resetOrderApiClients();
});

export const handler = middy(async (event: APIGatewayProxyEvent, context: Context) => {
  api ??= createOrderApi(
    {
      orders: dynamoOrders(orderApiDocumentClient(), tableName('orders')),
      catalog: dynamoCatalog(orderApiDocumentClient(), tableName('inventory')),
      notifications: dynamoNotifications(orderApiDocumentClient(), tableName('notifications')),
      produce,
      persistenceStore: idempotencyStore(orderApiDynamoDbClient()),
    },
    { logger, metrics },
  );
  return api(event, context);
})
  // The request's X-Ray segment (API Gateway starts the trace); its produce subsegment carries `orderId`.
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
