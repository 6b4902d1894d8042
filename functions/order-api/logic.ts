import { createHash } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { v5 as uuidv5 } from 'uuid';
import { formatPath, type Issue } from '../../events/codec.ts';
import { type Order, OrderId, totalInCents } from '../../events/schemas/order.ts';
import { OrderRequest } from '../../events/schemas/order-request.ts';

/** Orders are small; anything bigger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Idempotency-Key: printable ASCII, as the IETF draft and common APIs have it. */
const IdempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

export interface ErrorBody {
  message: string;
  errors?: Issue[];
}

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

export const errorResponse = (
  statusCode: number,
  message: string,
  errors?: Issue[],
  headers?: Record<string, string>,
): APIGatewayProxyResult =>
  json(statusCode, { message, ...(errors ? { errors } : {}) } satisfies ErrorBody, headers);

/** Header names are case-insensitive: one lower-cased map, single values winning over multi-values. */
export function normalizeHeaders(
  event: Pick<APIGatewayProxyEvent, 'headers' | 'multiValueHeaders'>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (values && values.length > 0) headers[name.toLowerCase()] = values.join(', ');
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  return headers;
}

/** `application/json`, with or without parameters, and the `application/*+json` family. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

export type ParsedOrderRequest =
  | { ok: true; request: OrderRequest; idempotencyKey: string | undefined }
  | { ok: false; response: APIGatewayProxyResult };

const invalid = (errors: Issue[]): ParsedOrderRequest => ({
  ok: false,
  response: errorResponse(400, 'The order is invalid', errors),
});

/**
 * Everything about `POST /orders` that needs no I/O: content type (415), size (413), JSON (400) and the
 * order itself (400 with one reason per field). The seed's snake_case body is accepted as camelCase.
 * The idempotency key is the `Idempotency-Key` header, else the client's order id.
 */
export function parseOrderRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  headers: Readonly<Record<string, string>>,
): ParsedOrderRequest {
  if (!isJsonContentType(headers['content-type'])) {
    return {
      ok: false,
      response: errorResponse(415, 'Content-Type must be application/json', undefined, {
        'accept-post': 'application/json',
      }),
    };
  }
  const bytes =
    event.body === null
      ? Buffer.alloc(0)
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    return {
      ok: false,
      response: errorResponse(413, `The request body is larger than ${MAX_BODY_BYTES} bytes`),
    };
  }
  if (bytes.length === 0) return invalid([{ path: '', message: 'the request body is empty' }]);
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, response: errorResponse(400, 'The request body is not valid JSON') };
  }
  const headerKey = headers['idempotency-key'];
  const errors: Issue[] = [];
  if (headerKey !== undefined && !IdempotencyKeyPattern.test(headerKey)) {
    errors.push({ path: 'headers.Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters' });
  }
  const parsed = OrderRequest.safeParse(body);
  if (!parsed.success) {
    errors.push(
      ...parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
    );
  }
  if (errors.length > 0 || !parsed.success) return invalid(errors);
  const request = parsed.data;
  return {
    ok: true,
    request,
    idempotencyKey:
      headerKey !== undefined ? `key:${headerKey}` : request.orderId ? `order:${request.orderId}` : undefined,
  };
}

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
  return `ord-${idempotencyKey ? uuidv5(idempotencyKey, ORDER_ID_NAMESPACE) : newId()}`;
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

export const requestHash = (request: OrderRequest): string =>
  createHash('sha256').update(canonicalJson(request)).digest('hex');

export function orderFromRequest(request: OrderRequest, orderId: string, placedAt: Date): Order {
  return {
    orderId,
    customerId: request.customerId,
    items: request.items,
    total: request.total ?? totalInCents(request.items) / 100,
    currency: request.currency,
    shippingAddress: request.shippingAddress,
    placedAt: placedAt.toISOString(),
  };
}

export interface Accepted {
  orderId: string;
  status: 'RECEIVED';
  statusUrl: string;
}

export function acceptedResponse(orderId: string): APIGatewayProxyResult {
  const statusUrl = `/orders/${encodeURIComponent(orderId)}`;
  return json(202, { orderId, status: 'RECEIVED', statusUrl } satisfies Accepted, { location: statusUrl });
}

export type RouteMatch =
  | { kind: 'health' }
  | { kind: 'create-order' }
  | { kind: 'get-order'; orderId: string }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string[] };

/** The API's routes: few enough for a table, and a router that tells 404 from 405. */
const routes: { pattern: RegExp; methods: Record<string, (match: RegExpExecArray) => RouteMatch> }[] = [
  { pattern: /^\/health$/, methods: { GET: () => ({ kind: 'health' }) } },
  { pattern: /^\/orders$/, methods: { POST: () => ({ kind: 'create-order' }) } },
  {
    pattern: /^\/orders\/([^/]+)$/,
    methods: { GET: (match) => ({ kind: 'get-order', orderId: safeDecode(match[1] ?? '') }) },
  },
];

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function route(method: string, path: string): RouteMatch {
  const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
  for (const candidate of routes) {
    const match = candidate.pattern.exec(normalized);
    if (!match) continue;
    const handler = candidate.methods[method.toUpperCase()];
    return handler ? handler(match) : { kind: 'method-not-allowed', allow: Object.keys(candidate.methods) };
  }
  return { kind: 'not-found' };
}

export function validOrderId(orderId: string): Issue[] {
  const parsed = OrderId.safeParse(orderId);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ path: 'orderId', message: issue.message }));
}
