import { createHash } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { v5 as uuidv5 } from 'uuid';
import { type EncodedRecord, formatPath, type Issue } from '../../events/codec.ts';
import { type LineItem, Money, type Order, OrderId, totalInCents } from '../../events/schemas/order.ts';
import {
  CancelRequest,
  MAX_REQUEST_DEPTH,
  OrderRequest,
  snakeToCamel,
} from '../../events/schemas/order-request.ts';
import type { HistoryEntry } from '../shared/orders/model.ts';
import type { CatalogLookup } from './catalog.ts';
import type { DeliveredNotification } from './notifications.ts';

/** Orders are small; anything bigger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Idempotency-Key: printable ASCII, as the IETF draft and common APIs have it. */
const IdempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;
/**
 * The largest OrderReceived order-api produces. The biggest order a valid request can make is far
 * below it; the limit keeps the record (and the order item, which DynamoDB caps at 400 KB) well inside
 * what the broker (1 MiB by default) and a dead letter holding a base64 copy of it can carry.
 */
export const MAX_ORDER_EVENT_BYTES = 128 * 1024;
/** The prefix of the order ids the system makes (from Idempotency-Keys, or random); clients may not use it. */
export const SYSTEM_ORDER_ID_PREFIX = 'ord-';
/** Keys that name a prototype in JavaScript: refused anywhere a client chooses a name. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** `String.prototype.isWellFormed` (ES2024, Node 20+): false for a lone surrogate. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

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

/** A JSON media type with no charset, or UTF-8 (RFC 8259: JSON between systems is UTF-8). */
function isUtf8Charset(contentType: string): boolean {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType)?.[1];
  return charset === undefined || /^utf-?8$/i.test(charset);
}

type Screened = Pick<
  APIGatewayProxyEvent,
  'path' | 'headers' | 'multiValueHeaders' | 'queryStringParameters' | 'multiValueQueryStringParameters'
>;

function screenNames(
  where: 'headers' | 'query',
  entries: [string, string | readonly (string | undefined)[] | undefined][],
  issues: Issue[],
): void {
  for (const [name, value] of entries) {
    if (!isWellFormed(name)) {
      issues.push({ path: where, message: 'a name is not well-formed Unicode (a lone surrogate)' });
      continue;
    }
    const key = where === 'headers' ? name.toLowerCase() : name;
    if (PROTOTYPE_KEYS.has(key)) {
      issues.push({ path: `${where}.${name}`, message: 'is a reserved name' });
      continue;
    }
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && !isWellFormed(v))) {
      issues.push({ path: `${where}.${name}`, message: 'is not well-formed Unicode (a lone surrogate)' });
    }
  }
}

/**
 * What every request must pass before anything reads it: a well-formed path, and header and query
 * names and values that are well-formed Unicode and name no prototype. Answers 400 with the reasons.
 */
export function screenRequest(event: Screened): APIGatewayProxyResult | undefined {
  const issues: Issue[] = [];
  if (typeof event.path === 'string' && !isWellFormed(event.path)) {
    issues.push({ path: 'path', message: 'is not well-formed Unicode (a lone surrogate)' });
  }
  const list = <V>(record: Record<string, V> | null | undefined) => Object.entries(record ?? {});
  screenNames('headers', [...list(event.headers), ...list(event.multiValueHeaders)], issues);
  screenNames(
    'query',
    [...list(event.queryStringParameters), ...list(event.multiValueQueryStringParameters)],
    issues,
  );
  if (issues.length === 0) return undefined;
  const unique = [...new Map(issues.map((issue) => [`${issue.path}|${issue.message}`, issue])).values()];
  return errorResponse(400, 'The request is invalid', unique);
}

/**
 * Walks a parsed body once, bounded by {@link MAX_REQUEST_DEPTH} (so it never recurses deeper than
 * that, whatever the body), and reports what no schema check should ever meet: excessive nesting,
 * non-finite numbers, lone surrogates in keys or strings, prototype-like keys, and two spellings of
 * one key (`customer_id` and `customerId`).
 */
export function inspectBody(value: unknown): Issue[] {
  const issues: Issue[] = [];
  const walk = (node: unknown, path: PropertyKey[], depth: number) => {
    if (typeof node === 'string') {
      if (!isWellFormed(node)) {
        issues.push({ path: formatPath(path), message: 'is not well-formed Unicode (a lone surrogate)' });
      }
      return;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) issues.push({ path: formatPath(path), message: 'is not a finite number' });
      return;
    }
    if (node === null || typeof node !== 'object') return;
    if (depth >= MAX_REQUEST_DEPTH) {
      issues.push({ path: formatPath(path), message: `is nested deeper than ${MAX_REQUEST_DEPTH} levels` });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, index) => {
        walk(item, [...path, index], depth + 1);
      });
      return;
    }
    const spellings = new Map<string, string>();
    for (const [key, child] of Object.entries(node)) {
      if (!isWellFormed(key)) {
        issues.push({ path: formatPath(path), message: 'has a key that is not well-formed Unicode' });
        continue;
      }
      if (PROTOTYPE_KEYS.has(key)) {
        issues.push({ path: formatPath([...path, key]), message: 'is a reserved name' });
        continue;
      }
      const canonical = snakeToCamel(key);
      const other = spellings.get(canonical);
      if (other !== undefined) {
        issues.push({ path: formatPath([...path, key]), message: `is given twice (also as "${other}")` });
      }
      spellings.set(canonical, key);
      walk(child, [...path, key], depth + 1);
    }
  };
  walk(value, [], 0);
  return issues;
}

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
  | { ok: false; response: APIGatewayProxyResult };

const invalid = (errors: Issue[]): ParsedOrderRequest => ({
  ok: false,
  response: errorResponse(400, 'The order is invalid', errors),
});

const utf8 = new TextDecoder('utf-8', { fatal: true });

type JsonBody = { ok: true; body: unknown } | { ok: false; response: APIGatewayProxyResult };

/**
 * A request's JSON body, or the 4xx that says why not: content type (415), size (413), UTF-8 and JSON
 * (400), and the body's shape (depth, numbers, Unicode, prototype-like keys) before anything recursive
 * sees it. An empty body is `undefined` when `optional`, else a 400.
 */
export function readJsonBody(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  headers: Readonly<Record<string, string>>,
  options: { optional?: boolean; maxBytes?: number; invalid?: string } = {},
): JsonBody {
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const invalidMessage = options.invalid ?? 'The request is invalid';
  const empty = event.body === null || event.body.length === 0;
  if (empty && options.optional) return { ok: true, body: undefined };
  const contentType = headers['content-type'];
  if (!isJsonContentType(contentType) || !isUtf8Charset(contentType ?? '')) {
    return {
      ok: false,
      response: errorResponse(415, 'Content-Type must be application/json, in UTF-8', undefined, {
        'accept-post': 'application/json',
      }),
    };
  }
  if (event.body !== null && !event.isBase64Encoded && !isWellFormed(event.body)) {
    return { ok: false, response: errorResponse(400, 'The request body is not well-formed Unicode') };
  }
  const bytes =
    event.body === null
      ? Buffer.alloc(0)
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes.length > maxBytes) {
    return { ok: false, response: errorResponse(413, `The request body is larger than ${maxBytes} bytes`) };
  }
  if (bytes.length === 0) {
    return {
      ok: false,
      response: errorResponse(400, invalidMessage, [{ path: '', message: 'the request body is empty' }]),
    };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, response: errorResponse(400, 'The request body is not valid UTF-8') };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, response: errorResponse(400, 'The request body is not valid JSON') };
  }
  // The walk is bounded; schemas (which recurse) only see bodies that passed it.
  const shape = inspectBody(body);
  if (shape.length > 0) return { ok: false, response: errorResponse(400, invalidMessage, shape) };
  return { ok: true, body };
}

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
  return `${SYSTEM_ORDER_ID_PREFIX}${idempotencyKey ? uuidv5(idempotencyKey, ORDER_ID_NAMESPACE) : newId()}`;
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

/** 128 bits of SHA-256: enough to tell two requests apart, and small in an item every step rewrites. */
export const requestHash = (request: OrderRequest): string =>
  createHash('sha256').update(canonicalJson(request)).digest('base64url').slice(0, 22);

const cents = (amount: number): number => Math.round(amount * 100);
const formatMoney = (amountInCents: number): string => (amountInCents / 100).toFixed(2);

export type PricedOrder =
  | { ok: true; items: LineItem[]; total: number }
  | {
      ok: false;
      /** 422 when the only reason is the catalog's (entries that cannot be sold now), else 400. */
      status: 400 | 422;
      errors: Issue[];
      /** A client's price or total differs from the catalog's: a fresher read may agree with it. */
      priceMismatch: boolean;
    };

/**
 * Prices the request from the catalog: every SKU must exist and be sellable (its entry valid), a
 * client's unit price (optional) must be the catalog's, and so must a client's total (optional). The
 * total is computed in cents, and must fit the events' Money.
 */
export function priceOrder(
  request: Pick<OrderRequest, 'items' | 'total'>,
  catalog: ReadonlyMap<string, CatalogLookup>,
): PricedOrder {
  const errors: Issue[] = [];
  let unsellable = 0;
  let priceMismatch = false;
  const items: LineItem[] = [];
  request.items.forEach((line, index) => {
    const lookup = catalog.get(line.sku);
    if (!lookup) {
      errors.push({ path: `items[${index}].sku`, message: `${line.sku} is not in the catalog` });
      return;
    }
    if (!lookup.sellable) {
      unsellable += 1;
      errors.push({
        path: `items[${index}].sku`,
        message: `${line.sku} cannot be sold now: its catalog entry is invalid (the operator is alerted)`,
      });
      return;
    }
    const { entry } = lookup;
    if (line.unitPrice !== undefined && cents(line.unitPrice) !== cents(entry.unitPrice)) {
      priceMismatch = true;
      errors.push({
        path: `items[${index}].unitPrice`,
        message: `is not the current catalog price ${formatMoney(cents(entry.unitPrice))}; omit it or send that`,
      });
    }
    items.push({ sku: entry.sku, name: entry.name, quantity: line.quantity, unitPrice: entry.unitPrice });
  });
  if (errors.length > 0) {
    return { ok: false, status: unsellable === errors.length ? 422 : 400, errors, priceMismatch };
  }
  const totalCents = totalInCents(items);
  const max = Money.maxValue ?? Number.POSITIVE_INFINITY;
  if (!Money.safeParse(totalCents / 100).success) {
    const message = `add up to ${formatMoney(totalCents)}, more than the ${formatMoney(cents(max))} an order may total`;
    return { ok: false, status: 400, errors: [{ path: 'items', message }], priceMismatch: false };
  }
  if (request.total !== undefined && cents(request.total) !== totalCents) {
    const message = `does not match the current catalog prices: expected ${formatMoney(totalCents)}`;
    return { ok: false, status: 400, errors: [{ path: 'total', message }], priceMismatch: true };
  }
  return { ok: true, items, total: totalCents / 100 };
}

export function orderFromRequest(
  request: OrderRequest,
  priced: { items: LineItem[]; total: number },
  orderId: string,
  placedAt: Date,
): Order {
  return {
    orderId,
    customerId: request.customerId,
    items: priced.items,
    total: priced.total,
    currency: request.currency,
    shippingAddress: request.shippingAddress,
    placedAt: placedAt.toISOString(),
  };
}

/** An encoded OrderReceived over {@link MAX_ORDER_EVENT_BYTES} is refused, with its size. */
export function eventSizeIssues(record: EncodedRecord, limit = MAX_ORDER_EVENT_BYTES): Issue[] {
  return record.value.length > limit
    ? [
        {
          path: '',
          message: `the order's event would be ${record.value.length} bytes, over the ${limit} allowed`,
        },
      ]
    : [];
}

/**
 * The history `GET /orders/{id}` shows: the order's own entries plus one `NOTIFIED` entry per delivered
 * notification (the notifications table is their source), in time order. An order written before the
 * entries moved out of it may hold one already; it is not shown twice.
 */
export function historyWithNotifications(
  history: readonly HistoryEntry[],
  delivered: readonly DeliveredNotification[],
): HistoryEntry[] {
  const shown = new Set(history.filter((e) => e.status === 'NOTIFIED').map((e) => e.detail));
  const notified = delivered
    .map((n): HistoryEntry => ({ status: 'NOTIFIED', at: n.deliveredAt, detail: `notified:${n.kind}` }))
    .filter((entry) => !shown.has(entry.detail));
  return [...history, ...notified].sort((a, b) => a.at.localeCompare(b.at));
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

export function cancelledResponse(orderId: string): APIGatewayProxyResult {
  const statusUrl = `/orders/${encodeURIComponent(orderId)}`;
  return json(202, { orderId, status: 'CANCELLED', statusUrl }, { location: statusUrl });
}

export function validOrderId(orderId: string): Issue[] {
  const parsed = OrderId.safeParse(orderId);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ path: 'orderId', message: issue.message }));
}

export type ParsedCancelRequest =
  | { ok: true; request: CancelRequest; idempotencyKey: string | undefined }
  | { ok: false; response: APIGatewayProxyResult };

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
    return { ok: false, response: errorResponse(400, 'The cancellation is invalid', errors) };
  }
  return { ok: true, request: parsed.data, idempotencyKey: key.key };
}
