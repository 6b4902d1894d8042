/**
 * order-api: its routes, and the one place where what a route throws becomes the answer. API Gateway
 * (and the local emulator) matched the route already, from the manifest's routes: the event names its
 * resource and path parameters; anything else never reaches the function.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { manifest } from '../../topology/manifest.ts';
import type { HttpRoute } from '../../topology/types.ts';
import { orderView } from '../shared/orders/model.ts';
import type { OrderApiDeps, RouteEnv } from './api-deps.ts';
import { cancelOrderRoute } from './cancel-order.ts';
import { answerOf } from './failures.ts';
import { normalizeHeaders, screenRequest } from './http-edge.ts';
import { NotFoundError } from './http-errors.ts';
import { idempotentRoutes } from './idempotency.ts';
import { historyWithNotifications } from './logic.ts';
import { placeOrderRoute } from './place-order.ts';
import { orderIdParam } from './requests.ts';
import { json } from './responses.ts';

/** The routes the manifest gives order-api, as API Gateway names them (`<method> <resource>`). */
type RouteKey =
  `${HttpRoute['method']} ${(typeof manifest.functions)['order-api']['trigger']['routes'][number]['resource']}`;

/** The API: screening, routing, and the answer to what a route throws. Ports are injected. */
export function createOrderApi(deps: OrderApiDeps, observe: { logger: Logger; metrics: Metrics }) {
  const env: RouteEnv = {
    deps,
    ...observe,
    now: deps.now ?? (() => new Date()),
    newId: deps.newId ?? randomUUID,
    once: idempotentRoutes(deps.persistenceStore),
  };
  const placeOrder = placeOrderRoute(env);
  const cancelOrder = cancelOrderRoute(env);
  const getOrder = getOrderRoute(env);

  const route = (event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> => {
    const refused = screenRequest(event);
    if (refused) throw refused;
    const headers = normalizeHeaders(event);
    const orderId = () => orderIdParam(event.pathParameters?.id ?? '');
    switch (`${event.httpMethod} ${event.resource}` as RouteKey) {
      case 'GET /health':
        return Promise.resolve(json(200, { status: 'ok' }));
      case 'POST /orders':
        return placeOrder(event, headers, context);
      case 'GET /orders/{id}':
        return getOrder(orderId());
      case 'POST /orders/{id}/cancel':
        return cancelOrder(orderId(), event, headers, context);
      default:
        throw new NotFoundError(`No route for ${event.httpMethod} ${event.resource}`);
    }
  };

  return async function handle(
    event: APIGatewayProxyEvent,
    context?: Context,
  ): Promise<APIGatewayProxyResult> {
    try {
      return await route(event, context);
    } catch (error) {
      // The one place an error becomes an answer: a refusal as it is, a failure as 503 (never a 500).
      const answer = answerOf(error);
      answer.report(env.logger);
      return answer.toResponse();
    }
  };
}

/** `GET /orders/{id}` (a valid id): the order's view, its history with the notifications delivered. */
function getOrderRoute({ deps, logger }: RouteEnv) {
  return async (orderId: string): Promise<APIGatewayProxyResult> => {
    logger.setCorrelationId(orderId);
    const stored = await deps.orders.get(orderId);
    if (!stored) throw new NotFoundError(`Order ${orderId} not found`);
    const view = orderView(stored);
    const history = historyWithNotifications(view.history, await deps.notifications.delivered(orderId));
    return json(200, { ...view, history }, { 'cache-control': 'no-store' });
  };
}
