/**
 * `POST /orders/{id}/cancel`: cancels the order if it has not shipped and produces its OrderCancelled.
 * Without an Idempotency-Key a cancellation is idempotent by itself (by the order's state); with one,
 * the same key on another order, route or reason is refused, as for `POST /orders`.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { CancelRequest } from '../../events/schemas/order-request.ts';
import { count, kpiRecord } from '../shared/kpis.ts';
import { orderCancelledRecord } from '../shared/orders/events.ts';
import type { RouteEnv } from './api-deps.ts';
import { ConflictError, HttpError, NotFoundError } from './http-errors.ts';
import type { KeyedRequest } from './idempotency.ts';
import { callerOf, parseCancelRequest, requestFingerprint, requestIdOf } from './requests.ts';
import { cancelledResponse } from './responses.ts';

/** A cancellation stays in the outbox this long before the sweeper may produce its event again. */
const CANCEL_OUTBOX_GRACE_MS = 30_000;

interface CancelInput extends KeyedRequest {
  request: CancelRequest;
  orderId: string;
  requestId: string;
}

export function cancelOrderRoute(env: RouteEnv) {
  const cancel = cancelOnce(env);
  // A refusal (404, or 409 for an order past cancelling) is the request's answer: kept under its key.
  const cancelKeyed = env.once((input: CancelInput) => cancel(input).catch(refusalAsAnswer));
  /** `orderId` is valid (`orderIdParam`). */
  return async function cancelOrder(
    orderId: string,
    event: APIGatewayProxyEvent,
    headers: Record<string, string>,
    context?: Context,
  ): Promise<APIGatewayProxyResult> {
    env.logger.setCorrelationId(orderId);
    const parsed = parseCancelRequest(event, headers, callerOf(event));
    if (!parsed.ok) throw parsed.error;
    const { request, idempotencyKey } = parsed;
    const requestId = requestIdOf(event, context, env.newId);
    const fingerprint = requestFingerprint('POST /orders/{id}/cancel', { id: orderId }, request);
    const input = { idempotencyKey, fingerprint, request, orderId, requestId };
    if (!idempotencyKey) return cancel(input);
    return (await cancelKeyed(context, input)).response;
  };
}

/**
 * Cancels the order if it has not shipped (a conditional update: exactly one of "cancelled" and
 * "shipped" wins a race) and produces its OrderCancelled. A repeated cancel finds it CANCELLED and
 * produces the same event again (same id), so a crash between the two heals on the client's retry,
 * and the outbox sweeper heals it without one.
 */
function cancelOnce(env: RouteEnv) {
  const { deps, logger } = env;
  return async (input: CancelInput): Promise<APIGatewayProxyResult> => {
    const at = env.now();
    const result = await deps.orders.cancel({
      orderId: input.orderId,
      at: at.toISOString(),
      reason: input.request.reason,
      retryAt: new Date(at.getTime() + CANCEL_OUTBOX_GRACE_MS).toISOString(),
    });
    const stored = result.applied ? result.order : result.current;
    if (!stored) throw new NotFoundError(`Order ${input.orderId} not found`);
    if (stored.status !== 'CANCELLED') {
      const message = `Order ${input.orderId} is ${stored.status}: it can no longer be cancelled`;
      throw new ConflictError(message, { details: { status: stored.status } });
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
    const message =
      result.applied || own ? 'order cancelled' : 'order was already cancelled, event re-produced';
    logger.info(message, { cancelledFrom: stored.cancelledFrom });
    return cancelledResponse(input.orderId);
  };
}

/** An `HttpError` as the answer to keep; any other error (given up on for now) is not kept. */
function refusalAsAnswer(error: unknown): APIGatewayProxyResult {
  if (error instanceof HttpError) return error.toResponse();
  throw error;
}
