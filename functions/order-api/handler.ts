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
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { deterministicEventId, type EncodedRecord, encode, newEvent } from '../../events/codec.ts';
import type { OrderRequest } from '../../events/schemas/order-request.ts';
import { tableName } from '../shared/config.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { count, kpiRecords, latency } from '../shared/kpis.ts';
import { onReset } from '../shared/lifecycle.ts';
import { addKpiMetrics, observability } from '../shared/observability.ts';
import { newStoredOrder, orderOf, orderView } from '../shared/orders/model.ts';
import { dynamoOrders, type OrdersPort } from '../shared/orders/repository.ts';
import {
  acceptedResponse,
  errorResponse,
  json,
  normalizeHeaders,
  orderFromRequest,
  orderIdFor,
  parseOrderRequest,
  requestHash,
  route,
  validOrderId,
} from './logic.ts';

export interface OrderApiDeps {
  orders: OrdersPort;
  produce(records: readonly EncodedRecord[]): Promise<void>;
  persistenceStore: BasePersistenceLayer;
  now?: () => Date;
  newId?: () => string;
}

/** The same order id already names an order with other content. */
export class OrderConflictError extends Error {
  override readonly name = 'OrderConflictError';
}

/** What the idempotency store keeps: JSON, which an API Gateway result is. */
type StoredResponse = ReturnType<
  NonNullable<ConstructorParameters<typeof IdempotencyConfig>[0]['responseHook']>
>;

/** How long a POST /orders answer is replayed for the same Idempotency-Key. */
const API_IDEMPOTENCY_SECONDS = 24 * 60 * 60;

interface AcceptInput {
  /** Hashed into the idempotency record's key. */
  idempotencyKey: string | undefined;
  /** Hashed for payload validation: the same key with another order is a 409. */
  request: OrderRequest;
  orderId: string;
  requestId: string;
}

/** The API: routing, validation, and the idempotent acceptance of orders. Ports are injected. */
export function createOrderApi(deps: OrderApiDeps, observe: { logger: Logger; metrics: Metrics }) {
  const { logger, metrics } = observe;
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'idempotencyKey',
    payloadValidationJmesPath: 'request',
    expiresAfterSeconds: API_IDEMPOTENCY_SECONDS,
    // A replayed answer says so, as common idempotent APIs do.
    responseHook: (response) => {
      const answer = response as unknown as APIGatewayProxyResult;
      return {
        ...answer,
        headers: { ...answer.headers, 'idempotent-replayed': 'true' },
      } as unknown as StoredResponse;
    },
  });

  /**
   * Writes the order (only if its id is new) and produces one OrderReceived, whose id derives from the
   * order id. A retry after a crash finds the order written with the same content and produces the same
   * event again; the same id with other content is a conflict.
   */
  const acceptOrder = makeIdempotent(
    async (input: AcceptInput, run: { fresh: boolean }): Promise<APIGatewayProxyResult> => {
      const started = now();
      let order = orderFromRequest(input.request, input.orderId, started);
      let causationId = input.requestId;
      const created = await deps.orders.create(
        newStoredOrder(order, { requestHash: requestHash(input.request), requestId: input.requestId }),
      );
      if (!created.created) {
        const existing = created.existing;
        if (!existing) throw new Error(`order ${input.orderId} exists but could not be read`);
        if (existing.requestHash !== requestHash(input.request)) {
          throw new OrderConflictError(`order ${input.orderId} already exists with other content`);
        }
        order = orderOf(existing);
        causationId = existing.requestId ?? causationId;
      }
      const received = newEvent('OrderReceived', {
        eventId: deterministicEventId(`order-api|${order.orderId}`, 'OrderReceived'),
        correlationId: order.orderId,
        causationId,
        source: 'order-api',
        occurredAt: started,
        data: { order },
      });
      const kpis = [count('OrdersReceived'), latency('StepLatency', started.toISOString(), now())];
      await deps.produce([
        encode('OrderReceived', received),
        ...kpiRecords('order-api', { causationId: received.eventId, orderId: order.orderId }, kpis, started),
      ]);
      if (created.created) addKpiMetrics(metrics, kpis);
      run.fresh = true;
      logger.info(created.created ? 'order accepted' : 'order was already accepted, event re-produced', {
        eventId: received.eventId,
        lines: order.items.length,
      });
      return acceptedResponse(order.orderId);
    },
    { persistenceStore: deps.persistenceStore, config, keyPrefix: 'order-pipeline.order-api.post-orders' },
  );

  async function createOrder(
    event: APIGatewayProxyEvent,
    headers: Record<string, string>,
    context?: Context,
  ) {
    const parsed = parseOrderRequest(event, headers);
    if (!parsed.ok) return parsed.response;
    const { request, idempotencyKey } = parsed;
    const orderId = orderIdFor(request, idempotencyKey, newId);
    logger.setCorrelationId(orderId);
    if (context) config.registerLambdaContext(context);
    const run = { fresh: false };
    try {
      const response = await acceptOrder(
        {
          idempotencyKey,
          request,
          orderId,
          requestId: event.requestContext?.requestId || context?.awsRequestId || newId(),
        },
        run,
      );
      if (!run.fresh) logger.info('idempotent replay of an earlier answer', { orderId });
      return response;
    } catch (error) {
      if (error instanceof IdempotencyValidationError) {
        return errorResponse(409, 'This Idempotency-Key was already used with a different order');
      }
      if (error instanceof IdempotencyAlreadyInProgressError) {
        return errorResponse(409, 'A request with this Idempotency-Key is still in progress', undefined, {
          'retry-after': '1',
        });
      }
      if (error instanceof OrderConflictError) {
        return errorResponse(409, `Order ${orderId} already exists with different content`);
      }
      throw error;
    }
  }

  async function getOrder(orderId: string) {
    const problems = validOrderId(orderId);
    if (problems.length > 0) return errorResponse(400, 'The order id is invalid', problems);
    logger.setCorrelationId(orderId);
    const stored = await deps.orders.get(orderId);
    if (!stored) return errorResponse(404, `Order ${orderId} not found`);
    return json(200, orderView(stored), { 'cache-control': 'no-store' });
  }

  return async function handle(
    event: APIGatewayProxyEvent,
    context?: Context,
  ): Promise<APIGatewayProxyResult> {
    const headers = normalizeHeaders(event);
    const match = route(event.httpMethod ?? '', event.path ?? '');
    try {
      switch (match.kind) {
        case 'health':
          return json(200, { status: 'ok' });
        case 'create-order':
          return await createOrder(event, headers, context);
        case 'get-order':
          return await getOrder(match.orderId);
        case 'method-not-allowed':
          return errorResponse(405, `Method ${event.httpMethod} is not allowed here`, undefined, {
            allow: match.allow.join(', '),
          });
        case 'not-found':
          return errorResponse(404, `No route for ${event.httpMethod} ${event.path}`);
      }
    } catch (error) {
      logger.error('request failed', error as Error);
      return errorResponse(
        503,
        'The order service is temporarily unavailable; retry with the same Idempotency-Key',
      );
    }
  };
}

const { logger, metrics } = observability('order-api');
let api: ReturnType<typeof createOrderApi> | undefined;
onReset(() => {
  api = undefined;
});

export const handler = middy(async (event: APIGatewayProxyEvent, context: Context) => {
  api ??= createOrderApi(
    {
      orders: dynamoOrders(dynamoDbDocumentClient(), tableName('orders')),
      produce,
      persistenceStore: idempotencyStore(),
    },
    { logger, metrics },
  );
  return api(event, context);
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
