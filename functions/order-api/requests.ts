/**
 * The requests of order-api's routes, parsed at the edge: the body through its zod schema (400 with
 * one reason per field), the caller and their scoped Idempotency-Key, and what that key is checked
 * against (the request's fingerprint). Pure.
 */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { formatPath, type Issue } from '../../events/codec.ts';
import { OrderId } from '../../events/schemas/order.ts';
import { CancelRequest, OrderRequest } from '../../events/schemas/order-request.ts';
import { readJsonBody } from './http-edge.ts';
import { BadRequestError, type HttpError } from './http-errors.ts';
import { SYSTEM_ORDER_ID_PREFIX } from './logic.ts';

/** Idempotency-Key: printable ASCII, as the IETF draft and common APIs have it. */
const IdempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/** Who calls: the IAM principal on AWS, else the Cognito identity; scopes Idempotency-Keys. */
export function callerOf(event: Pick<APIGatewayProxyEvent, 'requestContext'>): string {
  const identity = event.requestContext?.identity;
  return identity?.userArn || identity?.caller || identity?.cognitoIdentityId || 'anonymous';
}

/** The Idempotency-Key as stored: scoped by the caller, so two callers' equal keys never meet. */
export const scopedIdempotencyKey = (caller: string, key: string): string =>
  `key:${JSON.stringify([caller, key])}`;

/**
 * What an Idempotency-Key is checked against, besides its caller (who scopes the key itself): the
 * route, what it acts on (its path parameters) and the body. The key's first request is kept with its
 * fingerprint; the same key with another fingerprint (another order to cancel, another route, another
 * body) is refused (409), never answered with the first request's answer.
 */
export interface RequestFingerprint {
  route: string;
  target: Readonly<Record<string, string>>;
  body: unknown;
}

export const requestFingerprint = (
  route: string,
  target: Readonly<Record<string, string>>,
  body: unknown,
): RequestFingerprint => ({ route, target, body });

export type ParsedOrderRequest =
  | { ok: true; request: OrderRequest; idempotencyKey: string | undefined }
  | { ok: false; error: HttpError };

const invalid = (errors: Issue[]): ParsedOrderRequest => ({
  ok: false,
  error: new BadRequestError('The order is invalid', { errors }),
});

/** The caller's Idempotency-Key, scoped; a malformed one is an issue. */
function idempotencyKeyOf(
  headers: Readonly<Record<string, string>>,
  caller: string,
): { key: string | undefined; issues: Issue[] } {
  const headerKey = headers['idempotency-key'];
  if (headerKey === undefined) return { key: undefined, issues: [] };
  if (!IdempotencyKeyPattern.test(headerKey)) {
    return {
      key: undefined,
      issues: [{ path: 'headers.Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters' }],
    };
  }
  return { key: scopedIdempotencyKey(caller, headerKey), issues: [] };
}

/**
 * Everything about `POST /orders` that needs no I/O: the JSON body (see `readJsonBody`) and the order
 * itself (400 with one reason per field). The seed's snake_case body is accepted as camelCase. The
 * idempotency key is the caller's `Idempotency-Key` header, else the client's order id.
 */
export function parseOrderRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  headers: Readonly<Record<string, string>>,
  caller = 'anonymous',
): ParsedOrderRequest {
  const read = readJsonBody(event, headers, { invalid: 'The order is invalid' });
  if (!read.ok) return read;
  const { body } = read;
  const headerKey = headers['idempotency-key'];
  const errors: Issue[] = [];
  errors.push(...idempotencyKeyOf(headers, caller).issues);
  const parsed = OrderRequest.safeParse(body);
  if (!parsed.success) {
    errors.push(
      ...parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
    );
  }
  const orderId = parsed.success ? parsed.data.orderId : undefined;
  if (orderId?.toLowerCase().startsWith(SYSTEM_ORDER_ID_PREFIX)) {
    errors.push({
      path: 'orderId',
      message: `must not start with "${SYSTEM_ORDER_ID_PREFIX}": the system's own order ids use that prefix`,
    });
  }
  if (errors.length > 0 || !parsed.success) return invalid(errors);
  const request = parsed.data;
  return {
    ok: true,
    request,
    idempotencyKey:
      headerKey !== undefined
        ? scopedIdempotencyKey(caller, headerKey)
        : request.orderId
          ? `order:${request.orderId}`
          : undefined,
  };
}

/** The order id of a route's path (`/orders/{id}`), or a 400 with the reasons. */
export function orderIdParam(orderId: string): string {
  const parsed = OrderId.safeParse(orderId);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({ path: 'orderId', message: issue.message }));
  throw new BadRequestError('The order id is invalid', { errors });
}

/** The request's id: API Gateway's, else the invocation's, else a new one (a test's bare event). */
export const requestIdOf = (
  event: Pick<APIGatewayProxyEvent, 'requestContext'>,
  context: Context | undefined,
  newId: () => string,
): string => event.requestContext?.requestId || context?.awsRequestId || newId();

export type ParsedCancelRequest =
  | { ok: true; request: CancelRequest; idempotencyKey: string | undefined }
  | { ok: false; error: HttpError };

/** `POST /orders/{id}/cancel`: an optional `{reason}` body, small, and the caller's Idempotency-Key. */
export function parseCancelRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  headers: Readonly<Record<string, string>>,
  caller = 'anonymous',
): ParsedCancelRequest {
  const read = readJsonBody(event, headers, {
    optional: true,
    maxBytes: 4 * 1024,
    invalid: 'The cancellation is invalid',
  });
  if (!read.ok) return read;
  const key = idempotencyKeyOf(headers, caller);
  // Only an empty body means "no reason"; a JSON `null` is not an object, and is refused like one.
  const parsed = CancelRequest.safeParse(read.body === undefined ? {} : read.body);
  const errors = [
    ...key.issues,
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }))),
  ];
  if (errors.length > 0 || !parsed.success) {
    return { ok: false, error: new BadRequestError('The cancellation is invalid', { errors }) };
  }
  return { ok: true, request: parsed.data, idempotencyKey: key.key };
}
